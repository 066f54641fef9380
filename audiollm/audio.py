"""Audio input: load any supported source as 16 kHz mono float32, Whisper log-mel, 30 s windows."""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import soxr
import torch

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLE_RATE
# Whisper's two convolutions halve the mel frame rate once: 2 mel frames (20 ms, 320 samples) per encoder frame.
SAMPLES_PER_ENCODER_FRAME = 2 * HOP_LENGTH
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000

AudioInput = Union[str, Path, bytes, np.ndarray, tuple[np.ndarray, int]]


class AudioError(ValueError):
    """An audio input that cannot be used; the message names the input and the reason."""


def describe(source: object) -> str:
    """A short name for an audio input, for error messages."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, tuple):
        return f"<array {getattr(source[0], 'shape', '?')} @ {source[1]} Hz>" if len(source) == 2 else "<tuple>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape}>"
    return f"<{type(source).__name__}>"


def load_audio(source: AudioInput, name: str | None = None, max_seconds: float | None = None) -> np.ndarray:
    """Return ``source`` as a 1-D float32 array at 16 kHz.

    ``source`` is a path (wav, flac, ogg, mp3), encoded file bytes, a 1-D array already at 16 kHz, or
    ``(array, sample_rate)``. Multi-channel audio is mixed down; other rates are resampled with soxr.

    With ``max_seconds`` a longer clip is refused (AudioError with both lengths) from its file header before any
    decoding, or, for a stream whose header does not say (FLAC piped out of ffmpeg), as soon as decoding passes it.
    """
    label = name or describe(source)
    if isinstance(source, (str, Path)):
        samples, rate = _decode(_existing(Path(source), label), label, max_seconds)
    elif isinstance(source, bytes):
        if not source:
            raise AudioError(f"{label}: empty data")
        samples, rate = _decode(io.BytesIO(source), label, max_seconds)
    elif isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError(f"{label}: expected (array, sample_rate)")
        samples, rate = source
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)) or rate != int(rate):
            raise AudioError(f"{label}: sample rate {rate!r} is not an integer")
        samples, rate = _as_array(samples, label), int(rate)
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        samples, rate = _as_array(source, label), SAMPLE_RATE
    else:
        raise AudioError(f"{label}: unsupported audio input type {type(source).__name__}; "
                         "give a path, bytes, a 16 kHz array, or (array, sample_rate)")
    samples = _normalise(samples, rate, label)
    if max_seconds is not None:
        check_seconds(len(samples) / SAMPLE_RATE, max_seconds, label)
    return samples


def check_seconds(seconds: float, max_seconds: float, label: str) -> None:
    if seconds > max_seconds:
        raise AudioError(f"{label}: the audio lasts {seconds:.1f} s; the limit is {max_seconds:g} s")


def audio_seconds(source: AudioInput) -> float | None:
    """How long a clip lasts without decoding it: from a file's header, or an array's length; None when the header
    does not say (a streamed FLAC) or the input is not readable (:func:`load_audio` names that problem)."""
    if isinstance(source, (str, Path, bytes)):
        try:
            info = sf.info(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        except (sf.LibsndfileError, RuntimeError, TypeError, EOFError, OSError):
            return None
        return None if info.frames >= _UNKNOWN_LENGTH or info.samplerate <= 0 else info.frames / info.samplerate
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], (int, float)) and source[1] > 0:
        return len(source[0]) / source[1] if hasattr(source[0], "__len__") else None
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return source.shape[-1] / SAMPLE_RATE if source.ndim else None
    return None


def _existing(path: Path, label: str) -> Path:
    if not path.exists():
        raise AudioError(f"{label}: file not found")
    if not path.is_file():
        raise AudioError(f"{label}: not a file")
    return path


# libsndfile's frame count for a stream whose header leaves the length out (SF_COUNT_MAX).
_UNKNOWN_LENGTH = 2**63 - 1
_BLOCK_FRAMES = 1 << 16


def _decode(file: Path | io.BytesIO, label: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(file) as f:
            if max_seconds is not None and f.frames < _UNKNOWN_LENGTH and f.samplerate > 0:
                check_seconds(f.frames / f.samplerate, max_seconds, label)
            samples = f.read(dtype="float32", always_2d=True) if f.frames < _UNKNOWN_LENGTH else \
                _read_unknown_length(f, label, max_seconds)
            rate = f.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, EOFError) as exc:
        raise AudioError(f"{label}: not a readable audio file ({exc})") from exc
    return samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0], rate


def _read_unknown_length(f: sf.SoundFile, label: str, max_seconds: float | None) -> np.ndarray:
    """Block by block to the stream's end. soundfile's own reads seek past each block, which such a stream
    refuses, so libsndfile's read is called directly."""
    limit = None if max_seconds is None else int(max_seconds * f.samplerate)
    blocks: list[np.ndarray] = []
    total = 0
    while True:
        block = np.empty((_BLOCK_FRAMES, f.channels), dtype=np.float32)
        got = sf._snd.sf_readf_float(f._file, sf._ffi.cast("float *", block.ctypes.data), _BLOCK_FRAMES)
        if got <= 0:
            break
        blocks.append(block[:got])
        total += got
        if limit is not None and total > limit:
            raise AudioError(f"{label}: the audio lasts over {max_seconds:g} s (its header does not say how long; "
                             f"decoding stopped there); the limit is {max_seconds:g} s")
    return np.concatenate(blocks) if blocks else np.empty((0, f.channels), dtype=np.float32)


def _as_array(samples: object, label: str) -> np.ndarray:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    if not isinstance(samples, np.ndarray):
        raise AudioError(f"{label}: expected a numpy array of samples, got {type(samples).__name__}")
    if samples.dtype.kind not in "fiu":
        raise AudioError(f"{label}: samples have non-numeric dtype {samples.dtype}")
    if samples.ndim == 2:
        # Channels are the short axis, whichever way round the array is.
        samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
    elif samples.ndim != 1:
        raise AudioError(f"{label}: expected 1-D (or channels x samples) audio, got shape {samples.shape}")
    if samples.dtype.kind in "iu":
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return samples.astype(np.float32) / scale
    return samples.astype(np.float32, copy=False)


def _normalise(samples: np.ndarray, rate: int, label: str) -> np.ndarray:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{label}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if samples.size == 0:
        raise AudioError(f"{label}: the clip is empty (zero samples)")
    if not np.isfinite(samples).all():
        raise AudioError(f"{label}: samples contain NaN or infinite values")
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
        if samples.size == 0:
            raise AudioError(f"{label}: the clip is shorter than one sample at {SAMPLE_RATE} Hz")
    return np.ascontiguousarray(samples, dtype=np.float32)


def split_windows(samples: np.ndarray) -> list[np.ndarray]:
    """Split into consecutive 30 s windows; the last one keeps its own (shorter) length."""
    return [samples[i : i + WINDOW_SAMPLES] for i in range(0, max(len(samples), 1), WINDOW_SAMPLES)]


def encoder_frames(num_samples: int, pad_to_30s: bool) -> int:
    """Whisper encoder frames for one window of ``num_samples`` (at most 30 s)."""
    if pad_to_30s:
        return WINDOW_SAMPLES // SAMPLES_PER_ENCODER_FRAME
    return max(1, math.ceil(num_samples / SAMPLES_PER_ENCODER_FRAME))


def window_lengths(num_samples: int) -> list[int]:
    """Sample counts of the 30 s windows a clip of ``num_samples`` is split into."""
    full, rest = divmod(num_samples, WINDOW_SAMPLES)
    return [WINDOW_SAMPLES] * full + ([rest] if rest or not full else [])


@functools.lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> torch.Tensor:
    """Slaney-normalised mel filterbank, as librosa (and so openai-whisper's mel_filters.npz) computes it."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(
        num_frequency_bins=1 + N_FFT // 2,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=SAMPLE_RATE / 2,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(bank.T.astype(np.float32))


def log_mel(window: np.ndarray, n_mels: int = 80, pad_to_30s: bool = False) -> torch.Tensor:
    """Whisper log-mel spectrogram ``(n_mels, frames)`` of one window of at most 30 s.

    The window is zero-padded to a whole number of encoder frames (or to 30 s), so its frame count is what
    :func:`encoder_frames` promises and even, as Whisper's stride-2 convolution needs.
    """
    target = WINDOW_SAMPLES if pad_to_30s else encoder_frames(len(window), False) * SAMPLES_PER_ENCODER_FRAME
    audio = torch.from_numpy(np.pad(window, (0, target - len(window))))
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT), return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel = mel_filters(n_mels) @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def audio_features(samples: np.ndarray, n_mels: int = 80, pad_to_30s: bool = False) -> list[torch.Tensor]:
    """Log-mel features of each 30 s window of a 16 kHz clip."""
    return [log_mel(w, n_mels, pad_to_30s) for w in split_windows(samples)]


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit little-endian PCM, clipped to [-1, 1] first (what players and OpenAI's pcm16 take)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
