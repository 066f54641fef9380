"""DeepSpeed on CPU (gloo): two processes under the deepspeed launcher, ZeRO-2 and ZeRO-3, on the tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiollm.ports import free_port
from audiollm.training.deepspeed_backend import SHARED_MEMORY
from tests.conftest import ROOT
from tests.train_helpers import TINY_TRAIN, losses, overrides, write_manifest

pytest.importorskip("deepspeed")


def _launch(manifest: Path, out: Path, zero: int, *more: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port",
               str(free_port()), "train/finetune.py", str(TINY_TRAIN),
               *overrides(manifest, out, f"deepspeed=configs/deepspeed/zero{zero}.json", *more)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _shared_buffers() -> set[str]:
    return {p.name for p in SHARED_MEMORY.glob("deepspeed_allreduce_buffer_*")}


def test_two_process_zero2_and_zero3_runs_lower_the_loss_agree_and_resume(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    buffers_before = _shared_buffers()
    for zero in (2, 3):
        out = tmp_path / f"zero{zero}"
        done = _launch(manifest, out, zero, "max_steps=8")
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        curve = losses(out)
        assert len(curve) == 8 and curve[-1] < curve[0] - 0.5
        assert (out / "checkpoints" / "step-00000008" / "rng-1.pt").is_file()  # both ranks wrote their state

    # ZeRO-3 shards parameters across the two ranks; gathered on save, they equal ZeRO-2's replicated result.
    for name in ("projector.safetensors", "lora/adapter_model.safetensors"):
        two, three = load_file(tmp_path / "zero2" / name), load_file(tmp_path / "zero3" / name)
        assert two.keys() == three.keys()
        for key in two:
            assert two[key].shape == three[key].shape
            assert torch.allclose(two[key], three[key], atol=1e-5), f"{name}:{key}"

    # Stopped after 4 steps (at an epoch's end) and resumed to 8: the same weights as the run that went straight on.
    parted = tmp_path / "parted"
    for more in (["max_steps=4"], ["max_steps=8", "--resume"]):
        done = _launch(manifest, parted, 2, *more)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "resuming from" in done.stdout
    for name in ("projector.safetensors", "lora/adapter_model.safetensors"):
        straight, resumed = load_file(tmp_path / "zero2" / name), load_file(parted / name)
        for key in straight:
            assert torch.allclose(straight[key], resumed[key], atol=1e-6), f"{name}:{key} differs after resume"

    from audiollm import AudioLLM

    answer = AudioLLM.from_pretrained(tmp_path / "zero3").generate(
        audio=str(tmp_path / "data" / "tone1.wav"), prompt="Is the pitch high or low?", max_new_tokens=4)
    assert isinstance(answer, str)
    # Each rank's 64 MiB all-reduce buffer in shared memory is gone once its run ends: repeated runs keep no RAM.
    assert _shared_buffers() <= buffers_before


def test_zero3_align_stage_lowers_the_ctc_loss(tmp_path: Path):
    # ZeRO-3 shards the LLM's embedding matrix too; the align stage's CTC scores against all of it.
    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "align"
    done = _launch(manifest, out, 3, "mode=align", "max_steps=8")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    curve = losses(out)
    assert len(curve) == 8 and curve[-1] < curve[0] - 0.5
