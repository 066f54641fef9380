"""Small manifests of tones for the training tests, and reading back what a run wrote."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import soundfile as sf

from tests.conftest import ROOT, tone

TINY_TRAIN = ROOT / "configs" / "train" / "tiny.yaml"

# Low tones are "low", high tones "high": a pattern the tiny model can start to learn in a few steps.
TONES = [(220, "low"), (880, "high"), (300, "low"), (1000, "high"), (250, "low"), (950, "high")]


def write_manifest(root: Path, name: str = "train.jsonl", extra: list[dict] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (freq, answer) in enumerate(TONES):
        clip = root / f"tone{i}.wav"
        sf.write(clip, tone(0.4 + 0.1 * i, freq), 16_000)
        rows.append({"audio": clip.name, "prompt": "Is the pitch high or low?", "answer": answer, "task": "word"})
    rows += extra or []
    path = root / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def overrides(manifest: Path, out: Path, *more: str) -> list[str]:
    return [f"data.train=[{manifest}]", f"output_dir={out}", f"data.cache_dir={out.parent / 'features'}", *more]


def losses(out: Path) -> list[float]:
    with (out / "metrics.csv").open() as handle:
        return [float(r["value"]) for r in csv.DictReader(handle) if r["name"] == "train/loss"]
