"""Speech detection with silero-vad (from PyPI; it ships its model): a doorbell or a dog gets no transcript.

Chosen by measurement over the small starter corpus's 202 single clips (``python bench/speech_detection.py``):
silero-vad gives 2 of 48 non-speech clips a transcript and misses 2 of 154 speech clips; Whisper's own no-speech
probability does no better than 9 and 3 (threshold 0.4) or 14 and 0 (0.6). silero-vad needs only torch (its
torchaudio is an optional extra this project does not install).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import numpy as np
import torch

from .audio import SAMPLE_RATE

INSTALL = "pip install --no-deps silero-vad==6.2.3"
# The model carries its recurrent state between chunks: one clip at a time.
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _silero() -> tuple[torch.nn.Module, Callable[..., list[dict[str, float]]]]:
    """The model and its span finder. Importing silero_vad sets torch to one thread for the whole process; the
    caller's thread count is put back."""
    threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad
    except ImportError as exc:
        raise ImportError(f"speech detection (encoder.speech_detector: silero-vad) needs silero-vad: {INSTALL}") from exc
    finally:
        torch.set_num_threads(threads)
    return load_silero_vad(onnx=False), get_speech_timestamps


def speech_spans(samples: np.ndarray) -> list[tuple[float, float]]:
    """Where a 16 kHz clip holds speech: ``(start_s, end_s)`` spans, none for a clip without speech."""
    model, find_spans = _silero()
    with _LOCK, torch.no_grad():
        stamps = find_spans(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), model,
                            sampling_rate=SAMPLE_RATE, return_seconds=True)
    return [(float(s["start"]), float(s["end"])) for s in stamps]
