"""Killed and resumed, a training run ends bitwise where the run that went straight on ends: with speed
perturbation drawing a speed per row, and when the batch after the checkpoint holds only skipped rows (the straight
run takes a zero-weight step there, so the resumed one must too)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiollm.training.config import load_train_config
from audiollm.training.trainer import train
from tests.conftest import ROOT
from tests.train_helpers import TINY_TRAIN, losses, overrides, write_manifest

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SAVED = ("projector.safetensors", "lora/adapter_model.safetensors")


def corrupt_rows(root: Path) -> list[dict]:
    """Two rows whose audio cannot be read: skipped when first drawn, and all of one batch (they are the shortest,
    so length grouping pairs them)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(2):
        (root / f"corrupt{i}.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
        rows.append({"audio": f"corrupt{i}.wav", "prompt": "Is the pitch high or low?", "answer": "low", "task": "word"})
    return rows


def kill_after_checkpoint(args: list[str], step: int) -> None:
    """Run ``audiollm train`` in a process of its own and SIGKILL it once checkpoint ``step`` is saved."""
    command = [sys.executable, "-m", "audiollm.cli", "train", str(TINY_TRAIN), *args]
    proc = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if f"checkpoint step-{step:08d} saved" in line:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait(timeout=300) == -signal.SIGKILL, f"the run ended before checkpoint {step}"


def assert_same_weights(straight: Path, resumed: Path) -> None:
    for name in SAVED:
        want, got = load_file(straight / name), load_file(resumed / name)
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), f"{name}:{key} differs after resume"


@pytest.mark.parametrize("case", ["speed_perturbation", "all_skipped_batch"])
def test_killed_and_resumed_run_ends_bitwise_equal_to_a_straight_run(case: str, tmp_path: Path):
    speed = ["data.speed_tasks=[word]", "data.speed_factors=[0.8,0.9,1.0,1.1,1.2]"] if case == "speed_perturbation" else []
    manifest = write_manifest(tmp_path / "data", extra=corrupt_rows(tmp_path / "data") if not speed else None)
    steps = ["max_steps=12", "optimizer.schedule=cosine", "optimizer.warmup_steps=2", *speed]
    straight = tmp_path / "straight"
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, straight, *steps, "checkpoint.every_steps=4")))
    if speed:
        stop = 4
    else:
        assert len(result.skipped) == 2
        # A step with no loss to log is the zero-weight one; resume from the checkpoint just before it.
        zero_weight = [i + 1 for i, loss in enumerate(losses(straight)) if math.isnan(loss)]
        stop = next(step - 1 for step in zero_weight if step > 1)

    crashed = tmp_path / "crashed"
    args = overrides(manifest, crashed, *steps, f"checkpoint.every_steps={stop}")
    kill_after_checkpoint(args, stop)
    assert not (crashed / SAVED[0]).exists()
    again = train(load_train_config(TINY_TRAIN, args), resume=True)
    assert again.steps == 12 and again.skipped == result.skipped
    if not speed:
        assert [math.isnan(x) for x in losses(crashed)[-(12 - stop):]] == [math.isnan(x) for x in losses(straight)[stop:]]
    assert_same_weights(straight, crashed)
