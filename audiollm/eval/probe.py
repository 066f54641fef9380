"""A linear probe on the frozen encoder: how well a task's labels can be read from the features the LLM is given.

Each clip's encoder frames are pooled (mean and max over time) and a linear classifier is fitted on the train
split's clips. Its accuracy on held-out clips is a reference point for the model's own accuracy on the same
labels: when the model matches the probe, better answers need more or better data (the probe's learning curve
says which), not more training of the adapter.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..audio import load_audio
from ..data.manifest import read_manifest
from ..model import AudioLLM


@dataclass(frozen=True)
class LabelledClips:
    """One entry per distinct clip of a task (rows that ask about the same clip in other words count once)."""

    clips: list[Path]
    labels: list[str]


@dataclass(frozen=True)
class ProbeScore:
    train_clips: int
    split: str
    correct: int
    total: int
    unseen: int  # held-out clips whose label no train clip has: no probe can name them

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def labelled_clips(manifest: str | Path, task: str) -> LabelledClips:
    """The distinct single-clip rows of ``task`` in a manifest, with their answers as labels."""
    clips: list[Path] = []
    labels: list[str] = []
    seen: set[Path] = set()
    for example in read_manifest(manifest):
        if example.task != task or len(example.audio) != 1 or example.audio[0] in seen:
            continue
        seen.add(example.audio[0])
        clips.append(example.audio[0])
        labels.append(example.answer)
    if not clips:
        raise ValueError(f"{manifest} has no single-clip rows of task {task!r}")
    return LabelledClips(clips, labels)


@torch.no_grad()
def pooled_features(model: AudioLLM, clips: Sequence[Path], progress: bool = True) -> torch.Tensor:
    """``(clips, 2 * d_model)``: the mean and the max over time of each clip's encoder frames, encoded as the model
    encodes its own input (:meth:`AudioLLM.encode_clips`)."""
    rows = []
    for clip in tqdm(clips, desc="encoding", unit="clip", disable=not progress):
        frames = model.encode_clips([load_audio(clip)])[0].float()
        rows.append(torch.cat([frames.mean(0), frames.max(0).values]))
    return torch.stack(rows)


class LinearProbe:
    """Standardised features -> softmax regression, fitted full-batch with AdamW (weight decay regularises)."""

    def __init__(self, features: torch.Tensor, labels: Sequence[str], steps: int = 500, lr: float = 1e-2,
                 weight_decay: float = 1e-2, seed: int = 0):
        self.labels = sorted(set(labels))
        self.mean = features.mean(0)
        self.std = features.std(0, unbiased=False) + 1e-6
        targets = torch.tensor([self.labels.index(label) for label in labels])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.linear = torch.nn.Linear(features.shape[1], len(self.labels))
        optimizer = torch.optim.AdamW(self.linear.parameters(), lr=lr, weight_decay=weight_decay)
        inputs = self._standardise(features)
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(self.linear(inputs), targets).backward()
            optimizer.step()

    def _standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    @torch.no_grad()
    def predict(self, features: torch.Tensor) -> list[str]:
        return [self.labels[i] for i in self.linear(self._standardise(features)).argmax(1).tolist()]


def probe_curve(train: tuple[torch.Tensor, Sequence[str]], held_out: dict[str, tuple[torch.Tensor, Sequence[str]]],
                fractions: Sequence[float] = (0.25, 0.5, 1.0), seed: int = 0) -> list[ProbeScore]:
    """Fit a probe on each fraction of the train clips (a seeded subset) and score it on each held-out split."""
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ValueError(f"train fractions must be in (0, 1], got {bad[0]}")
    features, labels = train
    scores = []
    for fraction in fractions:
        count = max(1, round(len(labels) * fraction))
        subset = sorted(random.Random(seed).sample(range(len(labels)), count))
        probe = LinearProbe(features[subset], [labels[i] for i in subset], seed=seed)
        known = set(probe.labels)
        for split, (split_features, split_labels) in held_out.items():
            predicted = probe.predict(split_features)
            correct = sum(p == t for p, t in zip(predicted, split_labels))
            unseen = sum(t not in known for t in split_labels)
            scores.append(ProbeScore(count, split, correct, len(split_labels), unseen))
    return scores


def format_curve(scores: Sequence[ProbeScore]) -> str:
    lines = [f"{'train clips':>11}  {'split':<6} {'accuracy':>9}  {'correct':>9}  unseen labels"]
    for s in scores:
        lines.append(f"{s.train_clips:>11}  {s.split:<6} {s.accuracy:>8.1%}  {s.correct:>4}/{s.total:<4}  {s.unseen}")
    return "\n".join(lines)
