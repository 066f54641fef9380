"""The sound tagger: a linear classifier on a clip's pooled encoder frames, whose best labels the prompt names
beside the clip's audio tokens (``Sounds: rain (71%); thunder (12%)``), as the transcript path names its words, and
with ``encoder.named_tags`` also how likely it finds each of its labels that the question names (``Sounds named:
goose (1%); chop (0%)``).

The frozen encoder's pooled frames already tell held-out recordings' sound classes apart linearly (a linear probe
on them scores far above what the adapter learns from the same few hundred clips), so the tagger hands the LLM
that reading in words, with its confidence, and the audio tokens still carry everything else. Fitted once, on the
training corpus's labelled clips, by ``audiollm train``; frozen after.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

TAGGER_FILE = "tagger.safetensors"


def pool_frames(frames: torch.Tensor) -> torch.Tensor:
    """A clip's encoder frames ``(frames, d)`` or ``(frames, layers, d)`` -> ``(layers, 2 * d)``: their mean and
    their max over time, per layer."""
    frames = frames.float()
    if frames.dim() == 2:
        frames = frames.unsqueeze(1)
    return torch.cat([frames.mean(0), frames.max(0).values], dim=-1)


def fit_temperature(held_out: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The temperature that makes held-out predictions' probabilities honest: the one minimising the negative
    log-likelihood of each ``(logits, targets)`` pair (one per fold; the folds' label sets may differ); 1, no
    change, when no pair holds a clip."""
    held_out = [(logits, targets) for logits, targets in held_out if len(targets)]
    if not held_out:
        return 1.0
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        total = sum(nn.functional.cross_entropy(logits.float() / log_t.exp(), targets, reduction="sum")
                    for logits, targets in held_out)
        assert isinstance(total, torch.Tensor)
        total.backward()
        return total

    with torch.enable_grad():
        optimizer.step(loss)
    return float(log_t.detach().exp())


def named_labels(labels: Sequence[str], text: str) -> list[str]:
    """The labels ``text`` names as whole words (case aside), each once, in the order they appear; where two
    overlap the longer one counts ("church bell" is not also "bell")."""
    lowered = text.lower()
    taken = [False] * len(lowered)
    found: list[tuple[int, str]] = []
    for label in sorted(labels, key=lambda name: (-len(name), name)):
        for match in re.finditer(rf"(?<!\w){re.escape(label.lower())}(?!\w)", lowered):
            if not any(taken[match.start():match.end()]):
                taken[match.start():match.end()] = [True] * (match.end() - match.start())
                found.append((match.start(), label))
                break
    return [label for _, label in sorted(found)]


def _listed(pairs: Sequence[tuple[str, float]], decimals: int) -> str:
    # Labels may hold commas ("walk, footsteps"), so semicolons part them.
    return "; ".join(f"{label} ({p:.{decimals}%})" for label, p in pairs)


@dataclasses.dataclass(frozen=True)
class SoundReading:
    """One clip's probability for each of the tagger's labels, and what the prompt says of them."""

    probabilities: dict[str, float]

    def best(self, top: int, decimals: int = 0) -> str:
        """The ``top`` likeliest labels, best first: ``rain (71%); thunder (12%)`` (percentages with ``decimals``)."""
        ranked = sorted(self.probabilities.items(), key=lambda item: -item[1])
        return _listed(ranked[:top], decimals)

    def named(self, text: str, decimals: int = 0) -> str:
        """Each label ``text`` names with its probability, likeliest first (``goose (1%); chop (0%)``); "" when it
        names none. A question's options are scored as the tagger heard them, whether or not they are among its
        best."""
        names = named_labels(list(self.probabilities), text)
        return _listed(sorted(((n, self.probabilities[n]) for n in names), key=lambda item: -item[1]), decimals)


@dataclasses.dataclass(frozen=True)
class TagLines:
    """What a model's config has the prompt say of a clip's reading: its ``top`` best labels, and with ``named``
    the labels the prompt's own text names, their percentages with ``decimals``."""

    top: int
    named: bool
    decimals: int = 0

    def of(self, reading: SoundReading, text: str) -> tuple[str, str]:
        return (reading.best(self.top, self.decimals),
                reading.named(text, self.decimals) if self.named else "")


class SoundTagger(nn.Module):
    """Standardised pooled features, mixed over encoder layers with learned softmax weights, -> softmax regression
    over ``labels``. Build with :meth:`fit` (full-batch AdamW; weight decay regularises) or :meth:`load`."""

    def __init__(self, labels: Sequence[str], layers: int, dim: int):
        super().__init__()
        if not labels:
            raise ValueError("a sound tagger needs at least one label")
        self.labels = list(labels)
        self.register_buffer("mean", torch.zeros(layers, dim))
        self.register_buffer("std", torch.ones(layers, dim))
        # Divides the logits: fitted on predictions for clips the classifier never saw (calibrate), since on its
        # own training clips a softmax regression is sure of everything, and a held-out clip's "100%" is often
        # wrong.
        self.register_buffer("temperature", torch.ones(()))
        self.mix = nn.Parameter(torch.zeros(layers))
        self.linear = nn.Linear(dim, len(self.labels))

    @classmethod
    def fit(cls, pooled: torch.Tensor, labels: Sequence[str], steps: int = 500, lr: float = 1e-2,
            weight_decay: float = 1e-2, seed: int = 0) -> SoundTagger:
        """Fit on ``pooled`` ``(clips, layers, 2 * d)`` (or ``(clips, 2 * d)``, one layer) and each clip's label."""
        if pooled.dim() == 2:
            pooled = pooled.unsqueeze(1)
        if len(pooled) != len(labels):
            raise ValueError(f"{len(pooled)} clips but {len(labels)} labels")
        names = sorted(set(labels))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tagger = cls(names, pooled.shape[1], pooled.shape[2])
        tagger.mean.copy_(pooled.mean(0))
        tagger.std.copy_(pooled.std(0, unbiased=False) + 1e-6)
        targets = torch.tensor([names.index(label) for label in labels])
        inputs = tagger._standardise(pooled)  # once: the statistics are fixed, only the mix and classifier learn
        optimizer = torch.optim.AdamW(tagger.parameters(), lr=lr, weight_decay=weight_decay)
        with torch.enable_grad():
            for _ in range(steps):
                optimizer.zero_grad()
                nn.functional.cross_entropy(tagger._classify(inputs), targets).backward()
                optimizer.step()
        return tagger.requires_grad_(False)

    @property
    def layer_weights(self) -> list[float]:
        return self.mix.detach().softmax(0).tolist()

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(clips, labels)`` for ``pooled`` ``(clips, layers, 2 * d)`` (or ``(clips, 2 * d)``), divided by the
        temperature."""
        return self._classify(self._standardise(pooled)) / self.temperature

    def calibrate(self, temperature: float) -> SoundTagger:
        if not temperature > 0:
            raise ValueError(f"a tagger's temperature must be positive, not {temperature}")
        self.temperature.fill_(temperature)
        return self

    def _standardise(self, pooled: torch.Tensor) -> torch.Tensor:
        if pooled.dim() == 2:
            pooled = pooled.unsqueeze(1)
        return (pooled.to(self.mean) - self.mean) / self.std

    def _classify(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.einsum("cld,l->cd", inputs, self.mix.softmax(0)))

    @torch.no_grad()
    def read(self, pooled: torch.Tensor) -> list[SoundReading]:
        """Each clip's probability for every label."""
        return [SoundReading(dict(zip(self.labels, row))) for row in self.logits(pooled).softmax(-1).tolist()]

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, path, metadata={"labels": json.dumps(self.labels)})

    @classmethod
    def load(cls, path: Path) -> SoundTagger:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            labels = json.loads(f.metadata()["labels"])
            state = {k: f.get_tensor(k) for k in f.keys()}
        layers, dim = state["mean"].shape
        tagger = cls(labels, layers, dim)
        tagger.load_state_dict(state)
        return tagger.requires_grad_(False)
