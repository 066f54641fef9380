"""Frozen-Whisper outputs on disk, keyed by (audio content, encoder identity, feature settings).

The encoder never changes during training, so each clip is encoded once; later epochs, and later stages with the
same encoder, read the frames back. Entries are safetensors files written atomically. Only the encoder layers the
projector reads are stored, and the key names them. Beside the frames, Whisper's transcripts of the training clips
(the transcript path) are kept the same way, one JSON file per clip, so an epoch never decodes twice.
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

from ..audio import AudioError, load_audio
from ..cache import atomic_file
from ..model import AudioLLM


# Encoder settings that change no frame, only the prompt's text after the audio tokens: the transcript's (which has
# its own key) and the tag lines'.
PROMPT_SETTINGS = ("transcript", "speech_detector", "no_speech_threshold", "tags", "named_tags", "tag_decimals")


def encoder_identity(model: AudioLLM) -> str:
    """A digest of the encoder's config, the feature settings and a fingerprint of its weights, then the stored
    layers (``-layers6`` for the last of six, ``-layers1.2.3.4.5.6`` for all)."""
    settings = {k: v for k, v in model.config.to_dict()["encoder"].items() if k not in PROMPT_SETTINGS}
    digest = _weights_digest(json.dumps(settings, sort_keys=True), model.encoder.whisper)
    return f"{digest}-layers{'.'.join(map(str, model.encoder.layers))}"


def transcript_identity(model: AudioLLM) -> str:
    """The key of Whisper's transcripts: encoder and decoder weights, mel settings and the speech detection."""
    cfg = model.config.encoder
    settings = json.dumps({"name": cfg.name, "n_mels": cfg.n_mels, "detector": cfg.speech_detector,
                           "no_speech": cfg.no_speech_threshold})
    return f"{_weights_digest(settings, model.encoder)}-transcripts"


def _weights_digest(settings: str, module: torch.nn.Module) -> str:
    digest = hashlib.sha256(settings.encode())
    for name, param in sorted(module.named_parameters()):
        # A slice of each tensor tells different checkpoints of the same architecture apart cheaply.
        digest.update(name.encode())
        digest.update(param.detach().flatten()[:256].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


def _clip_key(clip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(clip, dtype=np.float32).tobytes()).hexdigest()


class FeatureCache:
    def __init__(self, root: Path, identity: str):
        self.root = root / identity
        self.hits = 0
        self.misses = 0

    def _path(self, clip: np.ndarray) -> Path:
        key = _clip_key(clip)
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


class TranscriptCache:
    """Whisper's transcript of each clip ("" for a clip without speech), one small JSON file per clip."""

    def __init__(self, root: Path, identity: str):
        self.root = root / identity

    def _path(self, clip: np.ndarray) -> Path:
        key = _clip_key(clip)
        return self.root / key[:2] / f"{key}.json"

    def get(self, clip: np.ndarray) -> str | None:
        try:
            return str(json.loads(self._path(clip).read_text())["text"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return None

    def put(self, clip: np.ndarray, text: str) -> None:
        with atomic_file(self._path(clip)) as tmp:
            tmp.write_text(json.dumps({"text": text}))


def training_transcripts(
    model: AudioLLM,
    paths: list[str],
    cache: TranscriptCache | None,
    gather: Callable[[], ContextManager[object]] = contextlib.nullcontext,
) -> dict[str, str]:
    """Whisper's transcript of each audio file, decoded once (read back from ``cache`` when it holds it).

    Unreadable files are left out: their rows are skipped, and reported, when the dataset loads them.
    """
    out: dict[str, str] = {}
    with gather():  # once for every file: under ZeRO-3 gathering is collective
        for path in dict.fromkeys(paths):
            try:
                clip = load_audio(path)
            except AudioError:
                continue
            text = cache.get(clip) if cache else None
            if text is None:
                text = model.speech_transcript(clip)
                if cache:
                    cache.put(clip, text)
            out[path] = text
    return out
