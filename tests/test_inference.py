"""Loading for inference: LoRA merged with the same greedy answers, a merged checkpoint that needs no peft, and the
device and dtype a user picks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiollm import AudioLLM

from .test_model import PAIRS, tiny

ROOT = Path(__file__).resolve().parents[1]
# Greedy answers of the untrained tiny model (seeded random weights) as generation gave them before inference
# loading, encoding and decoding were made faster: long and arbitrary, so any change in the numbers on the path shows.
PINNED_RANDOM_ANSWERS = [
    'Ȁ���I��\x0cn�Z\x0enm*�KK�b�',
    '9�Rf�#qUS��x�U��r?�B��8',
    'WV�6���6',
    '�W}OOOO�UUU�O�\x02ǆ������',
]
# Questions the tiny model was not trained on: answers of some length, from the trained LoRA.
UNSEEN = [(PAIRS[0][0], "Describe the clip at length."), (PAIRS[3][0], "What is it?")]


@pytest.fixture(scope="module")
def saved(trained: AudioLLM, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved")
    trained.save_pretrained(path)
    return path


def answers(model: AudioLLM) -> list[str]:
    trained_rows = [model.generate(audio=a, prompt=p) for a, p, _ in PAIRS]
    unseen = model.generate(audio=[a for a, _ in UNSEEN], prompt=[p for _, p in UNSEEN], max_new_tokens=24)
    assert isinstance(unseen, list)
    return trained_rows + unseen


def test_greedy_answers_are_the_pinned_ones():
    torch.manual_seed(0)  # the projector's initial weights
    model = AudioLLM.from_config(tiny("mlp"))
    audios = [audio for audio, _, _ in PAIRS]
    prompts = [prompt for _, prompt, _ in PAIRS]
    assert model.generate(audio=audios, prompt=prompts, max_new_tokens=24) == PINNED_RANDOM_ANSWERS


def test_inference_loads_lora_merged_with_the_same_answers(trained: AudioLLM, saved: Path):
    merged = AudioLLM.from_pretrained(saved)
    assert merged.lora_merged and not any("lora_" in n for n, _ in merged.llm.named_parameters())
    separate = AudioLLM.from_pretrained(saved, merge_lora=False)
    assert any("lora_" in n for n, _ in separate.llm.named_parameters())
    expected = answers(trained)
    assert expected[:len(PAIRS)] == [answer for _, _, answer in PAIRS]
    assert answers(merged) == expected
    assert answers(separate) == expected


def test_save_merged_loads_without_peft(trained: AudioLLM, tmp_path: Path):
    trained.save_merged(tmp_path / "merged")
    assert (tmp_path / "merged" / "llm" / "model.safetensors").is_file()
    assert not (tmp_path / "merged" / "lora").exists()
    script = f"""
import json, sys
sys.modules["peft"] = None  # any "import peft" now fails
from tests.test_inference import UNSEEN
from tests.test_model import PAIRS
from audiollm import AudioLLM
model = AudioLLM.from_pretrained({str(tmp_path / "merged")!r})
print(json.dumps([model.generate(audio=a, prompt=p) for a, p, _ in PAIRS]
                 + model.generate(audio=[a for a, _ in UNSEEN], prompt=[p for _, p in UNSEEN], max_new_tokens=24)))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == answers(trained)


def test_device_and_dtype_are_chosen_at_load(saved: Path):
    model = AudioLLM.from_pretrained(saved, device="cpu", dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert isinstance(model.generate(audio=PAIRS[0][0], prompt=PAIRS[0][1]), str)
    with pytest.raises(ValueError, match="dtype 'float64': choose one of auto, float32, bfloat16, float16"):
        AudioLLM.from_pretrained(saved, dtype="float64")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda': this machine has no CUDA GPU"):
            AudioLLM.from_pretrained(saved, device="cuda")


def test_the_encoder_runs_clips_of_different_lengths_in_one_forward(tiny_model: AudioLLM):
    from .conftest import tone

    clips = [tone(0.7), tone(2.3, 880), tone(31.0, 330)]  # the last is two windows, 30 s and 1 s
    features = [tiny_model.processor.features(c) for c in clips]
    one_by_one = [tiny_model.encoder.encode(f) for f in features]
    calls: list[int] = []
    hook = tiny_model.encoder.whisper.conv1.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    together = tiny_model.encoder.encode_together(features)
    hook.remove()
    assert calls == [4], "one forward over all four windows"
    for alone, batched in zip(one_by_one, together):
        assert alone.shape == batched.shape
        torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_a_merged_model_refuses_to_save_an_adapter_it_no_longer_has(saved: Path, tmp_path: Path):
    merged = AudioLLM.from_pretrained(saved)
    with pytest.raises(ValueError, match="save_merged"):
        merged.save_pretrained(tmp_path / "again")
    assert not (tmp_path / "again").exists()
    AudioLLM.from_pretrained(saved, merge_lora=False).save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "lora").is_dir()
