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
from ..tagger import SoundTagger, pool_frames


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
def pooled_features(model: AudioLLM, clips: Sequence[Path], progress: bool = True,
                    layers: Sequence[int] | None = None) -> torch.Tensor:
    """``(clips, 2 * d_model)``: the mean and the max over time of each clip's encoder frames, encoded as the model
    encodes its own input (:meth:`AudioLLM.encode_clips`: its processor's mel settings, its frozen encoder, its
    ``encoder.layers``). With ``layers`` (numbers from 1), those layers' states instead, pooled each:
    ``(clips, len(layers), 2 * d_model)``."""
    rows = []
    for clip in tqdm(clips, desc="encoding", unit="clip", disable=not progress):
        samples = load_audio(clip)
        if layers is None:
            frames = model.encode_clips([samples])[0]
        else:
            windows = model.processor.features(samples)
            frames = torch.cat([model.encoder.states(w.unsqueeze(0), list(layers))[0] for w in windows])
        rows.append(pool_frames(frames))
    # One layer read (the model's own ``encoder.layers: last``) keeps the plain ``(clips, 2 * d_model)`` shape.
    return torch.stack(rows)[:, 0] if layers is None and rows[0].shape[0] == 1 else torch.stack(rows)


@dataclass(frozen=True)
class ChoiceRow:
    """A multiple-choice row about one probed clip: its options and which of them is right."""

    clip: Path
    options: list[str]
    right: str


def choice_rows(manifest: str | Path, clips: Sequence[Path]) -> list[ChoiceRow]:
    """The manifest's single-clip multiple-choice rows about ``clips`` (answers name the option, with or without
    its letter after it)."""
    wanted = set(clips)
    rows = []
    for example in read_manifest(manifest):
        if example.choices and len(example.audio) == 1 and example.audio[0] in wanted:
            right = [o for o in example.choices if example.answer == o or example.answer.startswith(o + " (")]
            if len(right) == 1:
                rows.append(ChoiceRow(example.audio[0], list(example.choices), right[0]))
    return rows


def choice_accuracy(probe: LinearProbe, features: torch.Tensor, clips: Sequence[Path],
                    rows: Sequence[ChoiceRow]) -> tuple[int, int]:
    """(right, total) when the probe answers each row by the option it scores highest, as a model does that hears
    the options: ``features`` are ``clips``' pooled features."""
    index = {clip: i for i, clip in enumerate(clips)}
    picks = probe.choose(features[[index[r.clip] for r in rows]], [r.options for r in rows]) if rows else []
    return sum(pick == row.right for pick, row in zip(picks, rows)), len(rows)


def calibration_error(probabilities: torch.Tensor, right: torch.Tensor, bins: int = 10) -> float:
    """Expected calibration error: the clip-weighted mean gap between the top probability and the accuracy, over
    equal-width bins of the top probability."""
    top = probabilities.max(-1).values
    edges = torch.linspace(0, 1, bins + 1)
    gap = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (top > low) & (top <= high)
        if inside.any():
            gap += inside.float().mean().item() * abs(top[inside].mean().item() - right[inside].float().mean().item())
    return gap


def tagger_scores(tagger: SoundTagger, features: torch.Tensor, labels: Sequence[str], top: int) -> dict[str, float]:
    """A tagger on held-out clips: how many (and how many with a label it knows), its top-1 accuracy on those, how
    often the label is among its ``top`` tags, its mean top probability, NLL and expected calibration error."""
    known = [i for i, label in enumerate(labels) if label in tagger.labels]
    targets = torch.tensor([tagger.labels.index(labels[i]) for i in known])
    with torch.no_grad():
        logits = tagger.logits(features[known])
    probabilities = logits.softmax(-1)
    right = probabilities.argmax(-1) == targets
    shown = (probabilities.topk(min(top, len(tagger.labels)), -1).indices == targets[:, None]).any(-1)
    return {"clips": len(labels), "known": len(known), "top-1": right.float().mean().item(),
            f"in top {top}": shown.float().mean().item(), "mean top p": probabilities.max(-1).values.mean().item(),
            "NLL": torch.nn.functional.cross_entropy(logits, targets).item(),
            "ECE": calibration_error(probabilities, right)}


class LinearProbe:
    """The sound tagger's classifier (:class:`audiollm.tagger.SoundTagger`: standardised features -> softmax
    regression, with a learned softmax mix over layers for features ``(clips, layers, dim)``, as the projector's
    layer mix is; :attr:`layer_weights` says where it settled), fitted on one set of clips."""

    def __init__(self, features: torch.Tensor, labels: Sequence[str], steps: int = 500, lr: float = 1e-2,
                 weight_decay: float = 1e-2, seed: int = 0):
        self.tagger = SoundTagger.fit(features, labels, steps, lr, weight_decay, seed)
        self.labels = self.tagger.labels

    @property
    def layer_weights(self) -> list[float]:
        return self.tagger.layer_weights if self.tagger.mix.numel() > 1 else []

    @torch.no_grad()
    def predict(self, features: torch.Tensor) -> list[str]:
        return [self.labels[i] for i in self.tagger.logits(features).argmax(1).tolist()]

    @torch.no_grad()
    def choose(self, features: torch.Tensor, options: Sequence[Sequence[str]]) -> list[str]:
        """For each clip, the one of its options the probe scores highest; an option no train clip had scores
        below every known one."""
        logits = self.tagger.logits(features)
        picks = []
        for row, choices in zip(logits.tolist(), options):
            scores = [row[self.labels.index(o)] if o in self.labels else float("-inf") for o in choices]
            picks.append(choices[scores.index(max(scores))])
        return picks


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
        scores.extend(_scores(probe, count, held_out))
    return scores


def format_curve(scores: Sequence[ProbeScore]) -> str:
    lines = [f"{'train clips':>11}  {'split':<6} {'accuracy':>9}  {'correct':>9}  unseen labels"]
    for s in scores:
        lines.append(f"{s.train_clips:>11}  {s.split:<6} {s.accuracy:>8.1%}  {s.correct:>4}/{s.total:<4}  {s.unseen}")
    return "\n".join(lines)


def probe_layers(train: tuple[torch.Tensor, Sequence[str]], held_out: dict[str, tuple[torch.Tensor, Sequence[str]]],
                 layers: Sequence[int], seed: int = 0) -> list[tuple[str, list[ProbeScore], list[float]]]:
    """A probe on every train clip for each layer alone (features ``(clips, layers, dim)``), then one on their
    learned mix: ``(name, scores per held-out split, mix weights)`` rows."""
    features, labels = train
    rows = []
    for index, number in enumerate(layers):
        probe = LinearProbe(features[:, index], labels, seed=seed)
        split_single = {split: (f[:, index], y) for split, (f, y) in held_out.items()}
        rows.append((f"layer {number}", _scores(probe, len(labels), split_single), []))
    probe = LinearProbe(features, labels, seed=seed)
    rows.append(("mix of all", _scores(probe, len(labels), held_out), probe.layer_weights))
    return rows


def _scores(probe: LinearProbe, train_clips: int, held_out: dict[str, tuple[torch.Tensor, Sequence[str]]]
            ) -> list[ProbeScore]:
    known = set(probe.labels)
    scores = []
    for split, (split_features, split_labels) in held_out.items():
        predicted = probe.predict(split_features)
        correct = sum(p == t for p, t in zip(predicted, split_labels))
        scores.append(ProbeScore(train_clips, split, correct, len(split_labels),
                                 sum(t not in known for t in split_labels)))
    return scores


def format_layers(rows: Sequence[tuple[str, list[ProbeScore], list[float]]]) -> str:
    """One line per layer and the mix: accuracy on each held-out split, then the splits' unseen labels."""
    scores = rows[0][1]
    lines = [f"{'features':<12}" + "".join(f"{s.split + ' accuracy':>16}" for s in scores)
             + "   unseen labels " + ", ".join(f"{s.split} {s.unseen}/{s.total}" for s in scores)]
    for name, split_scores, weights in rows:
        cells = "".join(f"{s.accuracy:>8.1%} {s.correct:>3}/{s.total:<3}" for s in split_scores)
        mix = f"   weights {' '.join(f'{w:.2f}' for w in weights)}" if weights else ""
        lines.append(f"{name:<12}{cells}{mix}")
    return "\n".join(lines)
