"""Request content to model input: base64 audio parts decoded and checked, OpenAI roles mapped to ours."""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE, AudioError, load_audio
from ..conversation import AudioPart, Message, Part, TextPart
from .errors import APIError
from .schemas import AudioPart as WireAudioPart
from .schemas import ChatMessage


def decode_audio(data: bytes, param: str, max_seconds: float) -> np.ndarray:
    """16 kHz samples of an uploaded file; too long is refused before decoding, so a small file can't blow up."""
    if not data:
        raise APIError(400, f"{param}: the audio is empty", param, "invalid_audio")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, EOFError):
        info = None  # load_audio below names the problem
    if info is not None and info.samplerate > 0:
        _check_duration(info.frames / info.samplerate, param, max_seconds)
    try:
        samples = load_audio(data, name=param)
    except AudioError as exc:
        # libsndfile names the in-memory file by its repr, which tells the client nothing.
        message = re.sub(r"Error opening <[^>]*>: ", "", str(exc))
        raise APIError(400, message, param, "invalid_audio") from exc
    _check_duration(len(samples) / SAMPLE_RATE, param, max_seconds)
    return samples


def _check_duration(seconds: float, param: str, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise APIError(400, f"{param}: the audio lasts {seconds:.1f} s; the limit is {max_seconds:g} s", param,
                       "audio_too_long")


def decode_base64(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError(400, f"{param}: not valid base64 ({exc})", param, "invalid_base64") from exc


def to_messages(messages: list[ChatMessage], max_seconds: float) -> list[Message]:
    """The conversation of a request (the wire format is checked by its schema), each audio part decoded."""
    out: list[Message] = []
    for i, message in enumerate(messages):
        role = "system" if message.role == "developer" else message.role
        if isinstance(message.content, str):
            out.append(Message.text_only(role, message.content))
            continue
        parts: list[Part] = []
        for j, part in enumerate(message.content):
            if isinstance(part, WireAudioPart):
                param = f"messages.{i}.content.{j}.input_audio.data"
                parts.append(AudioPart(decode_audio(decode_base64(part.input_audio.data, param), param, max_seconds)))
            else:
                parts.append(TextPart(part.text))
        out.append(Message(role, tuple(parts)))
    return out
