"""Request pieces the server tests share: a tone as WAV bytes, and an OpenAI ``input_audio`` content part."""

from __future__ import annotations

import base64
import io
from typing import Any

import soundfile as sf

from tests.conftest import tone


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, freq, rate), rate, format="WAV")
    return buf.getvalue()


def audio_part(data: bytes, fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}
