"""A training config's input paths resolve beside the config file (then above it, then the working directory) and
DeepSpeed configs ship with the package by name, so `audiollm train` runs from any directory and quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiollm.config import ConfigError
from audiollm.training.config import DEEPSPEED_DIR, load_train_config
from tests.conftest import ROOT
from tests.train_helpers import TINY_TRAIN, losses, write_manifest


def test_paths_beside_the_config_win_and_packaged_deepspeed_is_found_by_name(tmp_path: Path, monkeypatch):
    recipe = tmp_path / "recipes"
    write_manifest(recipe / "data")
    (recipe / "run.yaml").write_text(
        "model: ../models/tiny.yaml\ndata:\n  train: [data/train.jsonl]\neval:\n  manifest: data/train.jsonl\n"
        "deepspeed: zero3\noutput_dir: runs/out\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text((ROOT / "configs" / "models" / "tiny.yaml").read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_train_config(recipe / "run.yaml")
    assert cfg.model == str(recipe / "../models/tiny.yaml")
    assert cfg.data.train == [str(recipe / "data/train.jsonl")] and cfg.eval.manifest == cfg.data.train[0]
    assert cfg.deepspeed == str(DEEPSPEED_DIR / "zero3.json")
    assert cfg.output_dir == "runs/out", "outputs go under the working directory"


def test_repository_paths_and_hub_ids_still_work_from_elsewhere(tmp_path: Path, monkeypatch):
    """configs/train/*.yaml name configs/models/... from the repository root: found in a folder above the config."""
    manifest = write_manifest(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    cfg = load_train_config(TINY_TRAIN, [f"data.train=[{manifest}]", "deepspeed=configs/deepspeed/zero2.json"])
    assert Path(cfg.model) == ROOT / "configs" / "models" / "tiny.yaml"
    assert Path(cfg.deepspeed).read_text() == (DEEPSPEED_DIR / "zero2.json").read_text()
    hub = load_train_config(TINY_TRAIN, [f"data.train=[{manifest}]", "model=someone/audio-model"])
    assert hub.model == "someone/audio-model"
    (tmp_path / "default").mkdir()  # a folder of that name does not hide the released model
    assert load_train_config(TINY_TRAIN, [f"data.train=[{manifest}]", "model=default"]).model == "default"


@pytest.mark.parametrize("value, message", [
    ("zero9", "'zero9' is not a packaged config (zero0, zero2, zero3)"),
    ("missing/ds.json", "deepspeed config missing/ds.json not found"),
])
def test_a_deepspeed_config_that_is_not_there_fails_before_the_model_loads(value: str, message: str, tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    with pytest.raises(ConfigError) as caught:
        load_train_config(TINY_TRAIN, [f"data.train=[{manifest}]", f"deepspeed={value}"])
    assert message in str(caught.value)


def test_audiollm_train_from_another_directory_with_packaged_zero2_is_quiet(tmp_path: Path):
    write_manifest(tmp_path / "data")
    command = [sys.executable, "-m", "audiollm.cli", "train", str(TINY_TRAIN), "data.train=[data/train.jsonl]",
               "output_dir=out", "data.cache_dir=features", "deepspeed=zero2", "max_steps=4"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "projector.safetensors").is_file()
    assert len(losses(tmp_path / "out")) == 4
    # Only our own lines on stdout (DeepSpeed prints its accelerator guess and each op it builds there).
    assert all(line.startswith(("checkpoint step-", "trained 4 steps")) for line in run.stdout.splitlines()), run.stdout
    # Only our own progress bar on stderr: no DeepSpeed, weight-loading bars or warnings.
    lines = [line for line in run.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("train:") for line in lines), lines[:5]
