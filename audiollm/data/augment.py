"""Speed perturbation (Ko et al. 2015, Kaldi's 0.9 / 1.0 / 1.1): a clip played slower or faster changes tempo and
pitch together, so a few voices sound like more; the classic remedy for transcription of speakers never heard."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

# Tasks whose answer a speed change would falsify: the tempo in BPM and the key both move with it.
SPEED_SENSITIVE_TASKS = ("tempo", "key")


def change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """``clip`` played ``factor`` times as fast (1.1: 10 % shorter and higher), at the same sample rate."""
    if factor <= 0:
        raise ValueError(f"a speed factor must be positive, got {factor}")
    if factor == 1.0:
        return clip
    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(clip, ratio.denominator, ratio.numerator).astype(np.float32)


class SpeedPerturbation:
    """Each time a row of ``tasks`` is drawn, all its clips play at one of ``factors``, picked at random."""

    def __init__(self, factors: Sequence[float], tasks: Sequence[str], seed: int):
        self.factors = list(factors)
        self.tasks = frozenset(tasks)
        self.rng = np.random.default_rng(seed)

    def __call__(self, task: str | None, clips: list[np.ndarray]) -> list[np.ndarray]:
        if task not in self.tasks:
            return clips
        factor = self.factors[int(self.rng.integers(len(self.factors)))]
        return [change_speed(c, factor) for c in clips]
