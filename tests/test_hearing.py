"""Hearing with all of Whisper: the layer mix the projector reads, Whisper's own transcript in the prompt, and
``AudioLLM.transcribe`` - on tiny random models, and (marked ``weights``) on Whisper-base and the starter corpus."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiollm import AudioLLM, AudioLLMConfig
from audiollm.audio import SAMPLE_RATE, WINDOW_SAMPLES, audio_features, load_audio
from audiollm.data.dataset import ManifestDataset, read_rows
from audiollm.training.feature_cache import TranscriptCache, encoder_identity, training_transcripts
from audiollm.processor import IGNORE_INDEX, TRANSCRIPT_LINE, ClipNotes

from .conftest import ROOT, TINY_CONFIG, tone
from .test_model import train, training_batch

PROMPT = "What is said?"


def tiny(**encoder: object) -> AudioLLMConfig:
    cfg = AudioLLMConfig.from_yaml(TINY_CONFIG)
    return dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, **encoder))


def conversation(model: AudioLLM, clip: np.ndarray, answer: str | None = None):
    messages = [{"role": "user", "content": [{"type": "audio", "audio": clip}, {"type": "text", "text": PROMPT}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return model.processor.conversation(messages)


# ---- layer mix ------------------------------------------------------------------------------------------------


def test_layers_last_gives_the_encoders_own_output_and_a_projector_without_new_weights():
    model = AudioLLM.from_config(tiny(pad_to_30s=True))
    window = audio_features(tone(2.0, 300), pad_to_30s=True)[0]
    frames = model.encoder.encode([window])
    # transformers' own WhisperEncoder.forward (it takes only 30 s windows): the final layer after its layer norm.
    reference = model.encoder.whisper(window.unsqueeze(0)).last_hidden_state[0]
    assert torch.equal(frames, reference)
    assert "layer_weights" not in dict(model.projector.named_parameters())
    assert torch.equal(model.projector(frames), model.projector.project(frames))
    explicit = AudioLLM.from_config(tiny(pad_to_30s=True, layers=[2]))  # the tiny encoder has 2 layers
    explicit.projector.load_state_dict(model.projector.state_dict())
    assert torch.equal(explicit.project_frames([explicit.encoder.encode([window])]), model.project_frames([frames]))


def test_layer_mix_trains_and_its_weights_are_saved_and_loaded(tmp_path: Path):
    model = AudioLLM.from_config(tiny(layers="all"))
    assert model.encoder.layers == [1, 2]
    batch = training_batch(model)
    encoded = model.encode_clips(batch.clips)
    assert encoded[0].shape[1:] == (2, model.encoder.hidden_size)  # (frames, layers, d_model)
    losses = train(model, 30)
    assert losses[-1] < losses[0] / 3, losses
    weights = model.projector.layer_weights
    assert weights is not None and not torch.equal(weights, torch.zeros(2))  # the mix moved off equal weights

    model.save_pretrained(tmp_path / "mixed")
    loaded = AudioLLM.from_pretrained(tmp_path / "mixed", merge_lora=False)  # LoRA folded in moves logits ~1e-4
    assert torch.equal(loaded.projector.layer_weights, weights)
    with torch.no_grad():
        before = model(batch.input_ids, batch.attention_mask, audio_encoded=encoded).logits
        after = loaded(batch.input_ids, batch.attention_mask, audio_clips=batch.clips).logits
    assert torch.allclose(before, after, atol=1e-5)


def test_feature_cache_key_names_the_stored_layers():
    last, mixed = AudioLLM.from_config(tiny()), AudioLLM.from_config(tiny(layers="all"))
    assert encoder_identity(last).endswith("-layers2") and encoder_identity(mixed).endswith("-layers1.2")
    # The transcript and tag lines change the prompt, not the frames: a stage that turns them on reuses the cache.
    tagged = AudioLLM.from_config(tiny(transcript="whisper", tags=5, named_tags=True, tag_decimals=1))
    assert encoder_identity(tagged) == encoder_identity(last)


@pytest.mark.parametrize("layers,words", [([3], "between 1 and 2"), ([1, 1], "distinct"), ("some", "fits none")])
def test_bad_layer_choices_are_refused_by_name(layers: object, words: str):
    with pytest.raises(ValueError, match=words):
        AudioLLM.from_config(AudioLLMConfig.from_yaml(TINY_CONFIG, [f"encoder.layers={json.dumps(layers)}"]))


# ---- the transcript in the prompt -----------------------------------------------------------------------------


SPEECH = ROOT / "examples" / "speech.flac"


@pytest.fixture(scope="module")
def heard() -> AudioLLM:
    # Whisper's no-speech probability decides here: the random decoder's is near 0, so every clip (tones too) is
    # speech to it, and its transcripts are a few random bytes.
    return AudioLLM.from_config(tiny(transcript="whisper", speech_detector="whisper"))


def test_transcript_follows_the_placeholders_and_is_never_learned(heard: AudioLLM):
    clip = tone(1.2, 440)
    conv = conversation(heard, clip, "turn off the lights")
    ids, labels = heard.processor.tokenize(conv, add_generation_prompt=False, notes=[ClipNotes("turn of the lights")])
    plain_ids, plain_labels = heard.processor.tokenize(conv, add_generation_prompt=False)
    line = heard.tokenizer(TRANSCRIPT_LINE.format("turn of the lights"), add_special_tokens=False).input_ids
    last_placeholder = max(i for i, t in enumerate(ids) if t == heard.processor.audio_token_id)
    assert ids[last_placeholder + 1 : last_placeholder + 1 + len(line)] == line
    assert ids.count(heard.processor.audio_token_id) == heard.processor.num_audio_tokens(len(clip))
    assert all(label == IGNORE_INDEX for label in labels[: last_placeholder + 1 + len(line)])
    # The target stays the reference, not Whisper's words: exactly the labels without a transcript.
    assert [x for x in labels if x != IGNORE_INDEX] == [x for x in plain_labels if x != IGNORE_INDEX]
    assert len(ids) == len(plain_ids) + len(line)
    # An empty transcript adds nothing.
    assert heard.processor.tokenize(conv, add_generation_prompt=False, notes=[ClipNotes()]) == (plain_ids, plain_labels)


def test_generation_reads_whisper_transcript_unless_told_not_to(heard: AudioLLM):
    clip = tone(1.5, 330)
    words = heard.speech_transcript(clip)
    assert words  # the random decoder always writes something: its clips count as speech
    captured: list[torch.Tensor] = []
    real = heard.embed

    def spy(input_ids: torch.Tensor, audio_embeds: torch.Tensor | None) -> torch.Tensor:
        captured.append(input_ids[0].tolist())
        return real(input_ids, audio_embeds)

    heard.embed = spy  # type: ignore[method-assign]
    try:
        heard.generate(audio=clip, prompt=PROMPT, max_new_tokens=2)
        heard.generate(audio=clip, prompt=PROMPT, max_new_tokens=2, transcript=False)
    finally:
        del heard.embed
    with_words, without = captured
    conv = conversation(heard, clip)
    assert with_words == heard.processor.tokenize(conv, True, [ClipNotes(words)])[0]
    assert without == heard.processor.tokenize(conv, True)[0]


def test_a_clip_without_speech_adds_no_transcript():
    model = AudioLLM.from_config(tiny(transcript="whisper"))  # silero-vad decides, a real model even here
    doorbell, chord = load_audio(ROOT / "examples" / "doorbell.flac"), load_audio(ROOT / "examples" / "chord.flac")
    threads = torch.get_num_threads()
    assert model.speech_transcript(doorbell) == "" and model.speech_transcript(chord) == ""
    assert torch.get_num_threads() == threads  # silero-vad's import would set the whole process to one thread
    assert model.transcribe(doorbell, timestamps=True) == []
    assert model.speech_transcript(SPEECH)  # the random decoder's bytes, but speech gets them
    conv = conversation(model, doorbell)
    assert model.processor.tokenize(conv, True, [ClipNotes()]) == model.processor.tokenize(conv, True)
    # Whisper's no-speech probability as the judge: at threshold 0 no window is speech.
    deaf = AudioLLM.from_config(tiny(transcript="whisper", speech_detector="whisper", no_speech_threshold=0.0))
    assert deaf.speech_transcript(SPEECH) == ""


def test_a_long_clips_transcript_covers_every_window(heard: AudioLLM):
    windows = [tone(30.0, 300), tone(30.0, 700), tone(5.0, 1200)]
    clip = np.concatenate(windows)
    parts = [heard.transcribe(w) for w in windows]
    assert all(parts) and heard.transcribe(clip) == " ".join(parts)
    segments = heard.transcribe(clip, timestamps=True)
    assert {int(s.start_s // 30) for s in segments} == {0, 1, 2}
    assert all(0 <= s.start_s <= s.end_s <= 65.0 for s in segments)
    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)


def training_manifest(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, freq in enumerate((220, 660, 990)):
        sf.write(root / f"clip{i}.wav", tone(0.6 + 0.2 * i, freq), SAMPLE_RATE)
        rows.append({"audio": f"clip{i}.wav", "prompt": PROMPT, "answer": f"word {i}", "task": "asr"})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_training_transcripts_are_decoded_once_and_dropout_one_gives_todays_ids(heard: AudioLLM, tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    rows = read_rows([training_manifest(tmp_path / "data")])
    plain = ManifestDataset(rows, heard.processor, 30.0, 1e-4)
    paths = plain.audio_paths()
    cache = TranscriptCache(tmp_path / "features", "tiny-transcripts")
    transcripts = training_transcripts(heard, paths, cache)
    assert set(transcripts) == set(paths) and all(transcripts.values())
    assert len(list((tmp_path / "features").rglob("*.json"))) == len(paths)

    def no_decoding(audio: object) -> str:
        raise AssertionError("a cached transcript was decoded again")

    monkeypatch.setattr(heard, "speech_transcript", no_decoding)
    assert training_transcripts(heard, paths, cache) == transcripts

    hidden = ManifestDataset(rows, heard.processor, 30.0, 1e-4, transcripts=transcripts, transcript_dropout=1.0)
    shown = ManifestDataset(rows, heard.processor, 30.0, 1e-4, transcripts=transcripts, transcript_dropout=0.0)
    for i in range(len(rows)):
        assert hidden[i].ids == plain[i].ids and hidden[i].labels == plain[i].labels
        line = heard.tokenizer(TRANSCRIPT_LINE.format(transcripts[paths[i]]), add_special_tokens=False).input_ids
        assert len(shown[i].ids) == len(plain[i].ids) + len(line)
        assert [x for x in shown[i].labels if x != IGNORE_INDEX] == [x for x in plain[i].labels if x != IGNORE_INDEX]


def test_transcript_dropout_must_be_a_probability(tmp_path: Path):
    from audiollm.config import ConfigError
    from audiollm.training.config import load_train_config

    with pytest.raises(ConfigError, match="transcript_dropout"):
        load_train_config(ROOT / "configs/train/tiny.yaml", ["data.train=[x.jsonl]", "data.transcript_dropout=1.5"])


# ---- on Whisper-base and the starter corpus -------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> AudioLLM:
    return AudioLLM.from_config(AudioLLMConfig.from_yaml(ROOT / "configs/models/base.yaml"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audiollm.data.starter import build_starter, discover

    sources = discover()
    needed = ("fortunes", "espeak-ng", "ktuberling")
    missing = [sources[n].install for n in needed if not sources[n].available]
    if missing:
        pytest.skip("starter sources not installed: " + "; ".join(missing))
    out = tmp_path_factory.mktemp("starter")
    build_starter(out, "small", seed=0, progress=False)
    return out


@pytest.mark.weights
def test_transcribe_matches_whispers_own_decoding_on_the_corpus(base: AudioLLM, corpus: Path):
    from audiollm.data.manifest import read_manifest
    from audiollm.eval.intelligibility import whisper_wer
    from audiollm.eval.metrics import word_errors

    # The synthetic sentences and the recorded words together (the words alone are 8: one word is 12 %).
    rows = [e for e in read_manifest(corpus / "test.jsonl") if e.task in ("asr", "word")]
    assert {e.task for e in rows} == {"asr", "word"}
    baseline = whisper_wer([("all", e.audio[0], e.answer) for e in rows], progress=False)[0]
    errors = sum(word_errors(str(base.transcribe(e.audio[0])), e.answer).value for e in rows)
    assert abs(errors / baseline.words - baseline.wer) <= 0.02, (errors, baseline)


@pytest.mark.weights
def test_timestamps_are_ordered_inside_the_clip_and_cover_its_speech(base: AudioLLM):
    speech = load_audio(ROOT / "examples" / "speech.flac")
    silence = np.zeros(SAMPLE_RATE * 2, np.float32)
    clip = np.concatenate([silence, speech, silence, speech])
    duration = len(clip) / SAMPLE_RATE
    segments = base.transcribe(clip, timestamps=True)
    assert segments and all(0 <= s.start_s < s.end_s <= duration for s in segments)
    assert all(a.end_s <= b.start_s for a, b in zip(segments, segments[1:]))
    words = " ".join(s.text for s in segments).lower()
    assert words.count("lights") == 2, segments
    starts = (2.0, 4.0 + len(speech) / SAMPLE_RATE)  # where each sentence begins
    for start in starts:
        assert any(s.start_s <= start + 0.5 and s.end_s >= start + 1.0 for s in segments), (start, segments)


@pytest.mark.weights
def test_a_doorbell_gets_no_transcript_and_speech_does(base: AudioLLM):
    assert base.speech_transcript(ROOT / "examples" / "doorbell.flac") == ""
    assert base.speech_transcript(ROOT / "examples" / "chord.flac") == ""
    assert "lights" in base.speech_transcript(ROOT / "examples" / "speech.flac").lower()


@pytest.mark.weights
def test_a_long_recording_is_transcribed_window_by_window(base: AudioLLM):
    speech = load_audio(ROOT / "examples" / "speech.flac")
    gap = np.zeros(WINDOW_SAMPLES - len(speech) - SAMPLE_RATE, np.float32)
    # The sentence once in each of three windows (the last a short one): none may be cut.
    clip = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), speech, gap] * 2 + [speech])
    text = str(base.transcribe(clip)).lower()
    assert text.count("lights") == 3, text


def test_whispers_lean_step_gives_transformers_hidden_states_bit_for_bit(heard: AudioLLM):
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    from audiollm.audio import log_mel
    from audiollm.lean_whisper import LeanWhisperDecoder

    decoder = heard.encoder.decoder
    memory = heard.encoder.final(log_mel(tone(2.0, 440), heard.config.encoder.n_mels, True)).unsqueeze(0)
    prompt = torch.tensor([decoder.vocab.prompt("en", False, "transcribe")])
    caches = [EncoderDecoderCache(DynamicCache(), DynamicCache()) for _ in range(2)]
    with torch.inference_mode():
        for cache in caches:
            decoder.decoder(input_ids=prompt, encoder_hidden_states=memory, cache=cache, use_cache=True)
        # With transformers' own products, the lean step's arithmetic is transformers' op for op.
        lean = LeanWhisperDecoder(decoder.decoder, torch.nn.functional.linear).start(caches[1], 16)
        for token in (11, 200, 7, 7, 90):
            reference = decoder.decoder(input_ids=torch.tensor([[token]]), encoder_hidden_states=memory,
                                        cache=caches[0], use_cache=True).last_hidden_state[0]
            assert torch.equal(lean(token), reference)


@pytest.mark.weights
def test_whisper_writes_the_same_words_and_times_with_the_lean_step_as_without(base: AudioLLM,
                                                                               monkeypatch: pytest.MonkeyPatch):
    import audiollm.transcribe

    speech = load_audio(ROOT / "examples" / "speech.flac")
    clip = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), speech, speech])
    lean = [base.transcribe(clip), base.transcribe(clip, timestamps=True)]
    monkeypatch.setattr(audiollm.transcribe.LeanWhisperDecoder, "of", classmethod(lambda cls, decoder: None))
    assert [base.transcribe(clip), base.transcribe(clip, timestamps=True)] == lean
    assert "lights" in str(lean[0]).lower() and sum("lights" in s.text.lower() for s in lean[1]) == 2, lean


def test_ask_transcribe_prints_whispers_transcript(heard: AudioLLM, capsys: pytest.CaptureFixture[str]):
    from audiollm.cli import main

    clip = SPEECH  # silero-vad (tiny.yaml's detector) hears speech in it, as the heard model's Whisper does
    assert main(["ask", str(clip), "--transcribe", "--model", str(TINY_CONFIG)]) == 0
    assert capsys.readouterr().out.rstrip("\n") == heard.transcribe(str(clip))
    assert main(["ask", str(clip), "--transcribe", "--timestamps", "--model", str(TINY_CONFIG)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(heard.transcribe(str(clip), timestamps=True)) and " --> " in lines[0]
    assert main(["ask", str(clip), "Hi", "--transcribe", "--model", str(TINY_CONFIG)]) == 2
    assert "--transcribe" in capsys.readouterr().err


def test_probe_reads_each_layer_and_their_mix(heard: AudioLLM, wav_file):
    from audiollm.eval.probe import format_layers, pooled_features, probe_layers

    def clips(freqs: list[int], seconds: float) -> tuple[torch.Tensor, list[str]]:
        paths = [wav_file(seconds, f) for f in freqs]
        return pooled_features(heard, paths, progress=False, layers=[1, 2]), ["low" if f < 1000 else "high"
                                                                               for f in freqs]

    train = clips([200, 250, 300, 350, 3000, 3500, 4000, 4500], 0.5)
    test = clips([220, 330, 3300, 4200], 0.5)
    assert train[0].shape == (8, 2, 2 * heard.encoder.hidden_size)
    rows = probe_layers(train, {"test": test}, [1, 2])
    assert [name for name, _, _ in rows] == ["layer 1", "layer 2", "mix of all"]
    assert all(scores[0].accuracy == 1.0 for _, scores, _ in rows)  # pitch is plain in every layer
    assert abs(sum(rows[-1][2]) - 1.0) < 1e-6 and "mix of all" in format_layers(rows)


def test_training_with_transcripts_decodes_each_clip_once_and_learns(tmp_path: Path):
    from audiollm.training.config import load_train_config
    from audiollm.training.trainer import train as run_training

    from .train_helpers import TINY_TRAIN, losses, overrides, write_manifest

    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "run"
    model = "model_overrides=[encoder.transcript=whisper, encoder.speech_detector=whisper, encoder.layers=all]"
    result = run_training(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=6", model,
                                                                  "data.transcript_dropout=0.5")))
    curve = losses(out)
    assert result.steps == 6 and curve[-1] < curve[0] - 0.5, curve
    # One transcript per clip on disk, beside the frames (which store both layers and say so).
    assert len(list((tmp_path / "features").glob("*-transcripts/*/*.json"))) == 6
    assert [p.name.split("-")[-1] for p in (tmp_path / "features").iterdir() if "layers" in p.name] == ["layers1.2"]
    saved = AudioLLM.from_pretrained(out)
    assert saved.config.encoder.transcript == "whisper" and saved.projector.layer_weights is not None


def test_reference_transcripts_are_the_words_the_manifest_gives(tmp_path: Path):
    from audiollm.data.dataset import read_rows, reference_transcripts

    from .train_helpers import write_manifest

    data = tmp_path / "data"
    data.mkdir()
    for name in ("said", "asked", "dog"):
        sf.write(data / f"{name}.wav", tone(0.5), 16_000)
    extra = [{"audio": "said.wav", "prompt": "Transcribe.", "answer": "turn off the lights", "task": "asr"},
             {"audio": "asked.wav", "prompt": "Is it said?", "answer": "yes", "task": "yesno",
              "meta": {"sentence": "the lights are off"}},
             {"audio": "dog.wav", "prompt": "What is it?", "answer": "a dog", "task": "sound_event"},
             {"audio": ["said.wav", "dog.wav"], "prompt": "Which is louder?", "answer": "the first", "task": "compare",
              "meta": {"sentence": "not the words of either clip alone"}}]
    words = reference_transcripts(read_rows([write_manifest(data, extra=extra)]))
    assert words[str(data / "said.wav")] == "turn off the lights"
    assert words[str(data / "asked.wav")] == "the lights are off"
    assert words[str(data / "tone0.wav")] == "low"  # a word row's answer is the word spoken
    assert str(data / "dog.wav") not in words


def test_training_on_reference_transcripts_decodes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from audiollm.training.config import load_train_config
    from audiollm.training.trainer import train as run_training

    from .train_helpers import TINY_TRAIN, losses, overrides, write_manifest

    def no_decoding(self: AudioLLM, audio: object) -> str:
        raise AssertionError("a reference transcript needs no decoding")

    monkeypatch.setattr(AudioLLM, "speech_transcript", no_decoding)
    extra = [{"audio": "tone0.wav", "prompt": "Transcribe.", "answer": "low", "task": "asr"}]
    manifest = write_manifest(tmp_path / "data", extra=extra)
    out = tmp_path / "run"
    model = "model_overrides=[encoder.transcript=whisper]"
    result = run_training(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=6", model,
                                                                  "data.transcript_source=reference")))
    curve = losses(out)
    assert result.steps == 6 and curve[-1] < curve[0] - 0.5, curve
    assert not list((tmp_path / "features").glob("*-transcripts"))


def test_a_single_layer_projector_fine_tunes_with_a_layer_mix_starting_equal(tmp_path: Path):
    model = AudioLLM.from_config(tiny())
    model.save_pretrained(tmp_path / "last")
    mixed = AudioLLM.from_pretrained(tmp_path / "last", ["encoder.layers=all"])
    assert mixed.projector.layer_weights is not None and torch.equal(mixed.projector.layer_weights, torch.zeros(2))
    saved = dict(model.projector.state_dict())
    assert all(torch.equal(saved[k], v) for k, v in mixed.projector.state_dict().items() if k != "layer_weights")
