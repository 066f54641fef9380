"""Request pieces the server and audio tests share: a tone as WAV bytes, FLAC bytes (with or without their length in
the header), and an OpenAI ``input_audio`` content part."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import soundfile as sf

from tests.conftest import tone


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, freq, rate), rate, format="WAV")
    return buf.getvalue()


def audio_part(data: bytes, fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


def flac_bytes(samples: np.ndarray, rate: int = 16_000, length_in_header: bool = True) -> bytes:
    """A FLAC file; without ``length_in_header`` its STREAMINFO's sample count is 0 ("unknown"), as in a stream
    that ffmpeg writes to a pipe."""
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC")
    data = bytearray(buf.getvalue())
    if not length_in_header:
        # STREAMINFO starts at byte 8; its bytes 10-17 hold rate (20 bits), channels, depth and 36 bits of length.
        packed = int.from_bytes(data[18:26], "big") & ~(2**36 - 1)
        data[18:26] = packed.to_bytes(8, "big")
    return bytes(data)
