"""Frozen-encoder outputs on disk, keyed by (audio content, encoder identity, feature settings).

The encoder never changes during training, so each clip is encoded once; later epochs, and later stages with the
same encoder, read the frames back. Entries are safetensors files written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import numpy as np
import torch

from ..cache import atomic_file
from ..model import AudioLLM


def encoder_identity(model: AudioLLM) -> str:
    """A digest of the encoder's config, the feature settings and a fingerprint of its weights."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict()["encoder"], sort_keys=True).encode())
    for name, param in sorted(model.encoder.named_parameters()):
        # A slice of each tensor tells different checkpoints of the same architecture apart cheaply.
        digest.update(name.encode())
        digest.update(param.detach().flatten()[:256].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


class FeatureCache:
    def __init__(self, root: Path, identity: str):
        self.root = root / identity
        self.hits = 0
        self.misses = 0

    def _path(self, clip: np.ndarray) -> Path:
        key = hashlib.sha256(np.ascontiguousarray(clip, dtype=np.float32).tobytes()).hexdigest()
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, clip: np.ndarray) -> torch.Tensor | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(clip)
        try:
            frames = load_file(path)["frames"]
        except (FileNotFoundError, SafetensorError):
            self.misses += 1
            return None
        self.hits += 1
        return frames

    def put(self, clip: np.ndarray, frames: torch.Tensor) -> None:
        from safetensors.torch import save_file

        with atomic_file(self._path(clip)) as tmp:
            save_file({"frames": frames.detach().float().cpu().contiguous()}, tmp)


class CachedEncoder:
    """Encode clips with the model's frozen encoder, through the feature cache when there is one.

    ``gather`` wraps the encoder call (ZeRO-3 must gather the partitioned encoder weights first).
    """

    def __init__(
        self,
        model: AudioLLM,
        cache: FeatureCache | None,
        gather: Callable[[], ContextManager[object]] = contextlib.nullcontext,
    ):
        self.model = model
        self.cache = cache
        self.gather = gather

    def __call__(self, clips: list[np.ndarray]) -> list[torch.Tensor]:
        found = [self.cache.get(c) if self.cache else None for c in clips]
        missing = [i for i, f in enumerate(found) if f is None]
        # Entered even with nothing to encode: under ZeRO-3 gathering is collective, every rank must join.
        with self.gather():
            encoded = self.model.encode_clips([clips[i] for i in missing])
            for i, frames in zip(missing, encoded):
                found[i] = frames
                if self.cache:
                    self.cache.put(clips[i], frames)
        return [f for f in found if f is not None]
