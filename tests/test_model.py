"""The model core on tiny random models: it learns, batches exactly, saves, merges, and rejects bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from audiollm import AudioLLM, AudioLLMConfig
from audiollm.audio import SAMPLE_RATE
from audiollm.processor import IGNORE_INDEX, AudioProcessor

from .conftest import tone

# Four clips of different pitch and length, each with its own answer: the model must learn to tell them apart.
PAIRS = [
    (tone(1.0, 220), "Transcribe the clip.", "low hum"),
    (tone(1.6, 880), "Transcribe the clip.", "high beep"),
    (tone(0.7, 440), "What sound is this?", "a bell"),
    (tone(2.3, 1760), "What sound is this?", "a whistle"),
]


def conversations(pairs=PAIRS) -> list[list[dict]]:
    return [
        [
            {"role": "user", "content": [{"type": "audio", "audio": audio}, {"type": "text", "text": prompt}]},
            {"role": "assistant", "content": answer},
        ]
        for audio, prompt, answer in pairs
    ]


def training_batch(model: AudioLLM, pairs=PAIRS):
    convs = [model.processor.conversation(turns) for turns in conversations(pairs)]
    return model.processor(convs, add_generation_prompt=False, padding_side="right")


def train(model: AudioLLM, steps: int, lr: float = 1e-2, batch=None) -> list[float]:
    torch.manual_seed(0)
    batch = batch if batch is not None else training_batch(model)
    # The encoder is frozen: encode once, as the feature cache does during real training.
    encoded = model.encode_clips(batch.clips)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(batch.input_ids, batch.attention_mask, batch.labels, audio_encoded=encoded).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def tiny(projector: str, **changes) -> AudioLLMConfig:
    cfg = AudioLLMConfig.from_yaml(Path(__file__).parents[1] / "configs/models/tiny.yaml")
    cfg.projector.type = projector  # type: ignore[assignment]
    return dataclasses.replace(cfg, **changes)


@pytest.fixture(scope="module")
def trained() -> AudioLLM:
    model = AudioLLM.from_config(tiny("mlp"))
    train(model, 60)
    return model


@pytest.mark.parametrize("projector", ["linear", "mlp", "qformer"])
def test_training_drives_loss_down_and_generate_returns_trained_answers(projector: str):
    model = AudioLLM.from_config(tiny(projector))
    losses = train(model, 60)
    assert losses[-1] < losses[0] / 10, f"{projector}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    answers = [model.generate(audio=audio, prompt=prompt) for audio, prompt, _ in PAIRS]
    assert answers == [answer for _, _, answer in PAIRS]


def test_only_the_encoder_stays_frozen(trained: AudioLLM):
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    assert trainable, "nothing to train"
    assert all(n.startswith("projector.") or "lora_" in n for n in trainable)
    assert not any(n.startswith("encoder.") for n in trainable)


def test_generating_mid_training_answers_as_in_eval_mode_and_leaves_training_on(trained: AudioLLM):
    audio, prompt, _ = PAIRS[0]
    evaluating = trained.generate(audio=audio, prompt=prompt)
    trained.train()  # the frozen encoder stays in eval mode, the projector and LLM train
    training = [module.training for module in trained.modules()]
    try:
        assert trained.generate(audio=audio, prompt=prompt) == evaluating
        assert [module.training for module in trained.modules()] == training
    finally:
        trained.eval()
    assert trained.generate(audio=audio, prompt=prompt) == evaluating
    assert not any(module.training for module in trained.modules())


def test_batched_generation_equals_one_at_a_time(trained: AudioLLM):
    audios = [audio for audio, _, _ in PAIRS]
    prompts = [prompt for _, prompt, _ in PAIRS]
    singles = [trained.generate(audio=a, prompt=p) for a, p in zip(audios, prompts)]
    batched = trained.generate(audio=audios, prompt=prompts)
    assert batched == singles
    # Also on the untrained random model, whose answers are long and arbitrary: a stricter check of the padding.
    random_model = AudioLLM.from_config(tiny("mlp"))
    singles = [random_model.generate(audio=a, prompt=p, max_new_tokens=24) for a, p in zip(audios, prompts)]
    assert random_model.generate(audio=audios, prompt=prompts, max_new_tokens=24) == singles


def test_beam_search_finds_the_trained_answers_batched_or_one_at_a_time(trained: AudioLLM):
    audios = [audio for audio, _, _ in PAIRS]
    prompts = [prompt for _, prompt, _ in PAIRS]
    assert trained.generate(audio=audios, prompt=prompts, num_beams=3) == [answer for _, _, answer in PAIRS]
    random_model = AudioLLM.from_config(tiny("mlp"))
    singles = [random_model.generate(audio=a, prompt=p, max_new_tokens=16, num_beams=3)
               for a, p in zip(audios, prompts)]
    assert random_model.generate(audio=audios, prompt=prompts, max_new_tokens=16, num_beams=3) == singles


def test_batched_text_only_and_mismatched_batches(trained: AudioLLM):
    answers = trained.generate(prompt=["Hello", "Hi there"], max_new_tokens=4)
    assert isinstance(answers, list) and len(answers) == 2
    with pytest.raises(ValueError, match="one audio per prompt: got 2 prompts and 3 audios"):
        trained.generate(audio=[PAIRS[0][0]] * 3, prompt=["a", "b"])


def test_stream_yields_the_same_answer_in_pieces(trained: AudioLLM):
    audio, prompt, answer = PAIRS[1]
    pieces = list(trained.stream(audio=audio, prompt=prompt))
    assert "".join(pieces).strip() == answer


def test_save_and_load_give_identical_logits(trained: AudioLLM, tmp_path: Path):
    trained.save_pretrained(tmp_path / "saved")
    files = sorted(str(p.relative_to(tmp_path / "saved")) for p in (tmp_path / "saved").rglob("*") if p.is_file())
    assert all(f.endswith((".safetensors", ".json", ".yaml", ".jinja", ".md")) for f in files), files
    loaded = AudioLLM.from_pretrained(tmp_path / "saved", merge_lora=False).eval()
    batch = training_batch(trained)
    with torch.no_grad():
        expected = trained(batch.input_ids, batch.attention_mask, audio_clips=batch.clips).logits
        actual = loaded(batch.input_ids, batch.attention_mask, audio_clips=batch.clips).logits
    assert torch.equal(expected, actual)
    assert loaded.generate(audio=PAIRS[0][0], prompt=PAIRS[0][1]) == PAIRS[0][2]


def test_processor_saved_beside_the_config_loads_alone(trained: AudioLLM, tmp_path: Path):
    """The processor a saved model carries (tokenizer, chat template, audio settings) tokenizes as the model's own."""
    trained.save_pretrained(tmp_path / "saved")
    assert {"processor.yaml", "tokenizer.json", "chat_template.jinja"} <= {p.name for p in (tmp_path / "saved").iterdir()}
    alone = AudioProcessor.from_pretrained(tmp_path / "saved")
    alone.save_pretrained(tmp_path / "again")
    again = AudioProcessor.from_pretrained(tmp_path / "again")
    expected = training_batch(trained)
    for processor in (alone, again):
        batch = processor([processor.conversation(turns) for turns in conversations()], add_generation_prompt=False,
                          padding_side="right")
        assert torch.equal(batch.input_ids, expected.input_ids) and torch.equal(batch.labels, expected.labels)
        assert processor.num_audio_tokens(3 * SAMPLE_RATE) == trained.processor.num_audio_tokens(3 * SAMPLE_RATE)
    with pytest.raises(ValueError, match="no processor.yaml; not a directory written by AudioProcessor"):
        AudioProcessor.from_pretrained(tmp_path)


def test_loading_uses_the_saved_chat_template(trained: AudioLLM, tmp_path: Path):
    trained.save_pretrained(tmp_path / "saved")
    template = tmp_path / "saved" / "chat_template.jinja"
    template.write_text("{{ '<|im_start|>system\nAnswer briefly.<|im_end|>\n' }}" + template.read_text())
    loaded = AudioLLM.from_pretrained(tmp_path / "saved")
    conv = loaded.processor.conversation([{"role": "user", "content": "Hello"}])
    prompt = loaded.tokenizer.decode(loaded.processor.tokenize(conv, add_generation_prompt=True)[0])
    assert prompt.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nHello")


def test_push_to_hub_uploads_what_from_pretrained_loads(trained: AudioLLM, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """push_to_hub through huggingface_hub's HfApi (recorded here, no network): the repository is created, every
    saved file is committed, and the uploaded folder loads to the same answers."""
    import shutil

    import huggingface_hub

    calls: list[tuple[str, str]] = []

    class RecordingApi:
        def __init__(self, token: str | None = None):
            calls.append(("token", str(token)))

        def create_repo(self, repo_id: str, repo_type: str, private: bool, exist_ok: bool) -> None:
            calls.append(("create", f"{repo_id} {repo_type} private={private}"))

        def upload_folder(self, repo_id: str, repo_type: str, folder_path: Path, commit_message: str):
            shutil.copytree(folder_path, tmp_path / "hub" / repo_id)
            calls.append(("upload", f"{repo_id} {commit_message}"))
            return huggingface_hub.CommitInfo(f"https://huggingface.co/{repo_id}/commit/abc", "", "", "abc")

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    url = trained.push_to_hub("someone/tiny-audio", private=True, token="secret", commit_message="First model")
    assert url == "https://huggingface.co/someone/tiny-audio/commit/abc"
    assert calls == [("token", "secret"), ("create", "someone/tiny-audio model private=True"),
                     ("upload", "someone/tiny-audio First model")]
    uploaded = tmp_path / "hub" / "someone" / "tiny-audio"
    names = {str(p.relative_to(uploaded)) for p in uploaded.rglob("*") if p.is_file()}
    assert {"config.yaml", "processor.yaml", "projector.safetensors", "lora/adapter_model.safetensors"} <= names
    loaded = AudioLLM.from_pretrained(uploaded)
    assert [loaded.generate(audio=a, prompt=p) for a, p, _ in PAIRS] == [answer for _, _, answer in PAIRS]
    with pytest.raises(ValueError, match="'a/b/c' is not a Hugging Face repository id"):
        trained.push_to_hub("a/b/c")


def test_merged_lora_matches_unmerged(trained: AudioLLM):
    merged = trained.merge_lora().eval()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    ids = torch.tensor([[5, 17, 99, 200, 33, 7]])
    with torch.no_grad():
        expected = trained.llm(input_ids=ids).logits
        actual = merged(input_ids=ids).logits
        with trained.llm.disable_adapter():
            base = trained.llm(input_ids=ids).logits
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert (expected - base).abs().max() > 1e-3, "LoRA had no effect"


def test_placeholder_count_mismatch_raises(trained: AudioLLM):
    batch = training_batch(trained)
    encoded = trained.encode_clips(batch.clips)
    with pytest.raises(ValueError, match="audio placeholder tokens but the audio gives"):
        trained(batch.input_ids, batch.attention_mask, audio_encoded=encoded[:-1])
    with pytest.raises(ValueError, match="placeholder"):
        trained(batch.input_ids, batch.attention_mask)


def test_long_clip_yields_tokens_for_all_of_it(tiny_model: AudioLLM):
    def tokens(seconds: float) -> int:
        samples = tone(seconds, 330)
        encoded = tiny_model.encode_clips([samples])
        projected = tiny_model.project_frames(encoded)
        assert projected.shape[0] == tiny_model.processor.num_audio_tokens(len(samples))
        return projected.shape[0]

    assert tokens(75) / tokens(30) == pytest.approx(2.5, rel=0.01)
    assert tokens(2) < tokens(30) / 10  # short clips are encoded at their own length


def test_pad_to_30s_switch_encodes_full_windows():
    model = AudioLLM.from_config(tiny("linear"))
    model.config.encoder.pad_to_30s = True
    samples = tone(2.0)
    encoded = model.encode_clips([samples])
    assert encoded[0].shape[0] == 1500
    assert model.processor.num_audio_tokens(len(samples)) == 1500 // model.config.projector.stack


def test_labels_cover_only_assistant_turns_in_multi_turn_multi_audio_chat(tiny_model: AudioLLM):
    processor = tiny_model.processor
    conv = processor.conversation(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "audio", "audio": tone(1.0)}, {"type": "text", "text": "Compare with"},
                                         {"type": "audio", "audio": tone(2.0, 880)}]},
            {"role": "assistant", "content": "The second is higher."},
            {"role": "user", "content": "And louder?"},
            {"role": "assistant", "content": "No."},
        ]
    )
    ids, labels = processor.tokenize(conv, add_generation_prompt=False)
    assert len(ids) == len(labels)
    learned = processor.tokenizer.decode([t for t in labels if t != IGNORE_INDEX])
    assert learned.replace("\n", "") == "The second is higher.<|im_end|>No.<|im_end|>"
    expected_audio = processor.num_audio_tokens(SAMPLE_RATE) + processor.num_audio_tokens(2 * SAMPLE_RATE)
    assert ids.count(processor.audio_token_id) == expected_audio
    with pytest.raises(ValueError, match="must end with an assistant turn"):
        processor.tokenize(processor.conversation([{"role": "user", "content": "hi"}]), add_generation_prompt=False)


def two_clip_chat(first: int, second: int) -> list[dict]:
    """Two clips in one turn, a reply, then a question whose answer names both clips in order."""
    return [
        {"role": "user", "content": [{"type": "audio", "audio": PAIRS[first][0]}, {"type": "text", "text": "Compare with"},
                                     {"type": "audio", "audio": PAIRS[second][0]}]},
        {"role": "assistant", "content": "They differ."},
        {"role": "user", "content": "Name them."},
    ]


def test_chat_answers_multi_audio_conversations_naming_both_clips():
    model = AudioLLM.from_config(tiny("mlp"))
    orders = [(0, 1), (1, 0), (2, 3), (3, 2), (0, 3)]
    named = {order: f"{PAIRS[order[0]][2]} and {PAIRS[order[1]][2]}" for order in orders}
    convs = [model.processor.conversation([*two_clip_chat(*order), {"role": "assistant", "content": named[order]}])
             for order in orders]
    batch = model.processor(convs, add_generation_prompt=False, padding_side="right")
    losses = train(model, 80, batch=batch)
    assert losses[-1] < losses[0] / 10, f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    # The same two clips in the other order get the other answer: each clip is read where it stands.
    answers = {order: model.chat(two_clip_chat(*order), max_new_tokens=32) for order in orders}
    assert answers == named
    with pytest.raises(ValueError, match="role"):
        model.chat([{"role": "robot", "content": "hi"}])


def test_qlora_step_runs_and_loss_falls_on_cpu():
    pytest.importorskip("bitsandbytes")
    cfg = tiny("mlp")
    cfg.quantization.load_in_4bit = True
    model = AudioLLM.from_config(cfg)
    quantized = [m for m in model.llm.modules() if type(m).__name__ == "Linear4bit"]
    assert quantized, "the LLM was not quantized to 4-bit"
    losses = train(model, 25)
    assert losses[-1] < losses[0] / 2


def test_audio_error_reaches_the_caller(trained: AudioLLM, tmp_path: Path):
    from audiollm import AudioError

    with pytest.raises(AudioError, match="missing.wav: file not found"):
        trained.generate(audio=tmp_path / "missing.wav", prompt="hi")
    with pytest.raises(AudioError, match="NaN"):
        trained.generate(audio=np.full(1600, np.nan, dtype=np.float32), prompt="hi")


def test_an_answer_stuck_repeating_itself_stops_and_the_other_rows_run_on(tiny_model):
    loop_token = tiny_model.tokenizer("a", add_special_tokens=False)["input_ids"][0]

    def stuck_first_row(module, inputs, logits):
        logits = logits.clone()
        logits[0, :, loop_token] += 1e4  # the first conversation can only ever say "a"
        return logits

    hook = tiny_model.llm.get_output_embeddings().register_forward_hook(stuck_first_row)
    try:
        stuck, free = tiny_model.generate(audio=[tone(1.0, 300), tone(1.0, 800)], prompt=["Describe.", "Describe."],
                                          max_new_tokens=40)
    finally:
        hook.remove()
    assert stuck == "a" * 6
    assert len(tiny_model.tokenizer(free, add_special_tokens=False)["input_ids"]) > 6
