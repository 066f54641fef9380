"""Training batches: tokenised samples right-padded (labels -100 on padding), clips kept for the encoder."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..processor import AudioBatch, AudioProcessor
from .dataset import Sample


@dataclasses.dataclass
class TrainBatch:
    tokens: AudioBatch
    # Every clip of the batch in placeholder order; encoded (or read from the feature cache) by the trainer.
    clips: list[np.ndarray]
    rows: list[str]
    answers: list[str]


def collate(samples: Sequence[Sample], processor: AudioProcessor) -> TrainBatch:
    if not samples:
        raise ValueError("cannot collate an empty batch")
    tokens = processor.pad([(s.ids, s.labels) for s in samples], [], padding_side="right")
    return TrainBatch(tokens, [clip for s in samples for clip in s.clips], [s.where for s in samples],
                      [s.answer for s in samples])
