"""Speech over a background sound or music at a chosen signal-to-noise ratio."""

from __future__ import annotations

import numpy as np

SNRS_DB = (0, 5, 10, 15, 20)


def mix(speech: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``background`` (looped or cut to the speech's length) scaled to ``snr_db``, peak <= 0.99."""
    if speech.size == 0 or background.size == 0:
        raise ValueError("cannot mix an empty clip")
    repeats = -(-speech.size // background.size)
    bed = np.tile(background, repeats)[: speech.size]
    speech_power = float(np.mean(speech.astype(np.float64) ** 2))
    bed_power = float(np.mean(bed.astype(np.float64) ** 2))
    if speech_power == 0 or bed_power == 0:
        raise ValueError("cannot mix a silent clip")
    gain = np.sqrt(speech_power / (bed_power * 10 ** (snr_db / 10)))
    mixed = speech + gain * bed
    peak = float(np.max(np.abs(mixed)))
    return (mixed * (0.99 / peak) if peak > 0.99 else mixed).astype(np.float32)
