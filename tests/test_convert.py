"""Converters on tiny synthetic models: openai-whisper .pt and CTranslate2 -> transformers, and bad files named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from audiollm.weights.convert import ctranslate2_whisper, gguf_llm, openai_whisper
from audiollm.weights import WeightsError, resolve_model

whisper_model = pytest.importorskip("whisper.model")
ctranslate2 = pytest.importorskip("ctranslate2")

# Tiny widths, but Whisper's real vocabulary and 30 s context, so that the tokenizer and CTranslate2 apply as is.
DIMS = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 2,
        "n_vocab": 51865, "n_text_ctx": 32, "n_text_state": 16, "n_text_head": 2, "n_text_layer": 2}


@pytest.fixture(scope="module")
def openai_model(tmp_path_factory: pytest.TempPathFactory):
    """A random openai-whisper model and its checkpoint file."""
    torch.manual_seed(0)
    model = whisper_model.Whisper(whisper_model.ModelDimensions(**DIMS)).eval()
    for param in model.parameters():  # spread the weights so that a wrong mapping shows in the outputs
        torch.nn.init.normal_(param, std=0.2)
    path = tmp_path_factory.mktemp("openai") / "tiny.pt"
    torch.save({"dims": DIMS, "model_state_dict": model.state_dict()}, path)
    return model, path


@pytest.fixture(scope="module")
def converted(openai_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hf")
    openai_whisper.convert(openai_model[1], out)
    return out


@pytest.fixture(scope="module")
def ct2_dir(converted: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted model turned into CTranslate2 (float16, like the offline packs) by CTranslate2's own converter."""
    out = tmp_path_factory.mktemp("ct2") / "model"
    ctranslate2.converters.TransformersConverter(str(converted), copy_files=["tokenizer.json"]).convert(
        str(out), quantization="float16")
    return out


def test_openai_checkpoint_gives_the_same_model_and_tokenizer(openai_model, converted: Path):
    model, _ = openai_model
    hf = WhisperForConditionalGeneration.from_pretrained(converted).eval()
    mel = torch.randn(1, 80, 3000)
    tokens = torch.tensor([[50258, 50259, 50359, 50363, 1000, 2000]])
    with torch.no_grad():
        expected_audio = model.encoder(mel)
        expected_logits = model.decoder(tokens, expected_audio)
        audio = hf.model.encoder(mel).last_hidden_state
        logits = hf(input_features=mel, decoder_input_ids=tokens).logits
    torch.testing.assert_close(audio, expected_audio, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-4, atol=1e-4)

    from whisper.tokenizer import get_tokenizer

    reference = get_tokenizer(multilingual=True, num_languages=99)
    processor = WhisperProcessor.from_pretrained(converted)
    text = " Hello world, it's 2024! Ça va? 日本語"
    assert processor.tokenizer.encode(text, add_special_tokens=False) == reference.encode(text)
    assert processor.tokenizer.convert_tokens_to_ids("<|notimestamps|>") == reference.no_timestamps
    assert hf.generation_config.lang_to_id["<|de|>"] == reference.to_language_token("de")
    assert hf.generation_config.no_timestamps_token_id == reference.no_timestamps


def test_english_only_checkpoint_decodes_like_openai_whisper(tmp_path: Path):
    from whisper.decoding import DecodingOptions, decode

    dims = {**DIMS, "n_vocab": 51864}  # the English-only vocabulary: no language or task token in the prompt
    torch.manual_seed(1)
    model = whisper_model.Whisper(whisper_model.ModelDimensions(**dims)).eval()
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.2)
    torch.save({"dims": dims, "model_state_dict": model.state_dict()}, tmp_path / "tiny.en.pt")
    openai_whisper.convert(tmp_path / "tiny.en.pt", tmp_path / "hf")
    hf = WhisperForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
    assert not hf.generation_config.is_multilingual and not hasattr(hf.generation_config, "lang_to_id")

    mel = torch.randn(1, 80, 3000)
    expected = decode(model, mel, DecodingOptions(language="en", without_timestamps=True, fp16=False, sample_len=2))
    with torch.no_grad():
        out = hf.generate(mel, max_new_tokens=2, return_dict_in_generate=True)
    # openai's prompt for an English-only model: <|startoftranscript|><|notimestamps|>, then the same first word.
    # (Later tokens of a random model may be timestamps, which the two libraries suppress differently.)
    assert out.sequences[0, :3].tolist() == [50257, 50362, expected[0].tokens[0]]


def test_ctranslate2_model_converts_back_and_matches_the_peer(converted: Path, ct2_dir: Path, tmp_path: Path):
    ctranslate2_whisper.convert([ct2_dir / "model.bin"], ct2_dir, tmp_path)
    original = WhisperForConditionalGeneration.from_pretrained(converted).state_dict()
    model = WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    state = model.state_dict()
    assert set(state) == set(original)
    for name, tensor in original.items():  # CTranslate2 stored float16
        torch.testing.assert_close(state[name], tensor.half().float(), rtol=0, atol=0, msg=name)

    peer = ctranslate2.models.Whisper(str(ct2_dir), compute_type="float32")
    features = np.random.default_rng(0).standard_normal((1, 80, 3000), dtype=np.float32)
    storage = ctranslate2.StorageView.from_array(features)
    expected = np.array(peer.encode(storage, to_cpu=True))
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
    assert np.abs(encoded - expected).max() <= 1e-4 * np.abs(expected).max()

    prompt = [50258, 50259, 50359, 50363]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
    peer_tokens = peer.generate(storage, [prompt], beam_size=1, max_length=12)[0].sequences_ids[0]
    with torch.no_grad():
        ours = model.generate(torch.from_numpy(features), language="en", task="transcribe", max_new_tokens=8)
    ours_tokens = [t for t in ours[0].tolist() if t not in prompt]
    common = min(len(peer_tokens), len(ours_tokens))
    assert common >= 4 and ours_tokens[:common] == peer_tokens[:common]


def test_truncated_ctranslate2_model_is_named_and_leaves_nothing_cached(ct2_dir: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken"
    shutil.copytree(ct2_dir, broken)
    data = (broken / "model.bin").read_bytes()
    (broken / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"broken/model\.bin: truncated or corrupt CTranslate2"):
        resolve_model(str(broken), kind="whisper")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_ctranslate2_directory_converts_once(ct2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path))
    first = resolve_model(str(ct2_dir), kind="whisper")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert resolve_model(str(ct2_dir), kind="whisper") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert WhisperProcessor.from_pretrained(first).tokenizer.decode([50258]) == "<|startoftranscript|>"


CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def write_tiny_gguf(path: Path, hidden: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                    ffn: int = 64) -> None:
    """A random float32 Llama in GGUF with a byte-level BPE tokenizer (two merges) and a ChatML template."""
    import gguf
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    tokens = [*bytes_to_unicode().values(), "he", "ll", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 3) + [3] * 3)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_merges(["h e", "l l"])
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_chat_template(CHATML)
    rng = np.random.default_rng(0)
    head_dim = hidden // heads
    shapes = {"token_embd.weight": (len(tokens), hidden)}
    for i in range(layers):
        kv = kv_heads * head_dim
        shapes |= {f"blk.{i}.attn_q.weight": (hidden, hidden), f"blk.{i}.attn_k.weight": (kv, hidden),
                   f"blk.{i}.attn_v.weight": (kv, hidden), f"blk.{i}.attn_output.weight": (hidden, hidden),
                   f"blk.{i}.ffn_gate.weight": (ffn, hidden), f"blk.{i}.ffn_up.weight": (ffn, hidden),
                   f"blk.{i}.ffn_down.weight": (hidden, ffn), f"blk.{i}.attn_norm.weight": (hidden,),
                   f"blk.{i}.ffn_norm.weight": (hidden,)}
    shapes["output_norm.weight"] = (hidden,)
    for name, shape in shapes.items():
        writer.add_tensor(name, (1.0 + 0.2 * rng.standard_normal(shape) if len(shape) == 1
                                 else 0.2 * rng.standard_normal(shape)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_model_converts_with_its_chat_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source)
    capfd.readouterr()
    path = resolve_model(str(source), kind="llm")
    assert "de-quantizing" not in capfd.readouterr().err  # transformers' bar stays hidden unless -v
    assert resolve_model(str(source), kind="llm") == path  # cached
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == CHATML
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.convert_ids_to_tokens(tokenizer("hello").input_ids) == ["he", "ll", "o"]

    peer = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=source.name).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "hello"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    with torch.no_grad():
        torch.testing.assert_close(model(**ids).logits, peer(**ids).logits, rtol=1e-5, atol=1e-5)

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(source.read_bytes()[:-5000])
    with pytest.raises(WeightsError, match="truncated.gguf: truncated or corrupt GGUF"):
        resolve_model(str(truncated), kind="llm")


def test_bad_files_are_named(tmp_path: Path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="garbage.pt: truncated or corrupt openai-whisper checkpoint"):
        openai_whisper.convert(garbage, tmp_path / "out")

    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(WeightsError, match="model.gguf: not a GGUF file"):
        gguf_llm.convert(not_gguf, tmp_path / "out")

    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x05" * 20)
    with pytest.raises(WeightsError, match="short.gguf: truncated or corrupt GGUF"):
        gguf_llm.convert(short, tmp_path / "out")

    not_ct2 = tmp_path / "ct2"
    not_ct2.mkdir()
    (not_ct2 / "model.bin").write_bytes(b"\x07\x00\x00\x00rest")
    (not_ct2 / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="binary version 7"):
        ctranslate2_whisper.convert([not_ct2 / "model.bin"], not_ct2, tmp_path / "out")

    with pytest.raises(WeightsError, match="not a whisper model this loader knows"):
        resolve_model(str(tmp_path), kind="whisper")
