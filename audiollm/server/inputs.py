"""Request content to model input, every limit checked before anything costly: the number of clips and the prompt's
characters first, then each clip's length (and all of them together) from its file header, and only then the
clips decoded, each stopped at what the limits leave. OpenAI roles are mapped to ours."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, audio_seconds, check_seconds, load_audio
from ..conversation import AudioPart, Message, Part, TextPart
from .errors import APIError
from .fetch import fetch_audio
from .schemas import AudioPart as WireAudioPart
from .schemas import AudioURLPart, ChatMessage
from .settings import ServeConfig

_DATA_URI = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*),(?P<data>.*)", re.DOTALL)


@dataclasses.dataclass
class _Clip:
    param: str
    data: bytes
    seconds: float | None  # from the header; None when it does not say


def decode_audio(data: bytes, param: str, max_seconds: float) -> np.ndarray:
    """16 kHz samples of an uploaded file; too long is refused from its header before decoding, so a small file
    can't blow up, and a stream whose header does not say is decoded only up to the limit."""
    if not data:
        raise APIError(400, f"{param}: the audio is empty", param, "invalid_audio")
    try:
        return load_audio(data, name=param, max_seconds=max_seconds)
    except AudioError as exc:
        # libsndfile names the in-memory file by its repr, which tells the client nothing.
        message = re.sub(r"Error opening <[^>]*>: ", "", str(exc))
        code = "audio_too_long" if "the limit is" in message else "invalid_audio"
        raise APIError(400, message, param, code) from exc


def decode_base64(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError(400, f"{param}: not valid base64 ({exc})", param, "invalid_base64") from exc


def audio_url_bytes(url: str, param: str, config: ServeConfig) -> bytes:
    """A ``data:`` URI's bytes, or an http(s) URL's from a host the operator allowed; no other scheme."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        match = _DATA_URI.fullmatch(url)
        if match is None or ";base64" not in match["params"].lower():
            raise APIError(400, f"{param}: a data: URI must be base64, as data:audio/wav;base64,<data>", param,
                           "invalid_audio_url")
        return decode_base64(match["data"], param)
    if scheme in ("http", "https"):
        return fetch_audio(url, param, config.audio_url_hosts or (), int(config.max_body_mb * 1e6),
                           config.audio_url_timeout_s)
    raise APIError(400, f"{param}: audio URLs must be data: URIs (or http(s) from the hosts this server allows), "
                        f"got the scheme {scheme or 'none'!r}", param, "invalid_audio_url")


def to_messages(messages: list[ChatMessage], config: ServeConfig) -> list[Message]:
    """The conversation of a request (the wire format is checked by its schema), each audio part decoded."""
    wire_clips = [(i, j, part) for i, message in enumerate(messages) if not isinstance(message.content, str)
                  for j, part in enumerate(message.content) if isinstance(part, (WireAudioPart, AudioURLPart))]
    if len(wire_clips) > config.max_clips:
        raise APIError(400, f"messages: the request holds {len(wire_clips)} audio clips; the limit is "
                            f"{config.max_clips}", "messages", "too_many_clips")
    chars = sum(len(message.content) if isinstance(message.content, str) else
                sum(len(part.text) for part in message.content if not isinstance(part, (WireAudioPart, AudioURLPart)))
                for message in messages)
    if chars > config.max_prompt_chars:
        raise APIError(400, f"messages: the prompt text is {chars} characters; the limit is "
                            f"{config.max_prompt_chars}", "messages", "prompt_too_long")
    clips = [_encoded(i, j, part, config) for i, j, part in wire_clips]
    total = sum(clip.seconds or 0.0 for clip in clips)
    if total > config.max_total_audio_seconds:
        raise APIError(400, f"messages: the request's audio lasts {total:.1f} s in all; the limit is "
                            f"{config.max_total_audio_seconds:g} s", "messages", "audio_too_long")
    decoded: dict[tuple[int, int], np.ndarray] = {}
    left = config.max_total_audio_seconds
    for (i, j, _), clip in zip(wire_clips, clips):
        try:
            samples = decode_audio(clip.data, clip.param, min(config.max_audio_seconds, left))
        except APIError as exc:
            if exc.code != "audio_too_long" or left >= config.max_audio_seconds:
                raise
            raise APIError(400, f"messages: the request's audio lasts over {config.max_total_audio_seconds:g} s in "
                                f"all ({clip.param}: its header does not say how long; decoding stopped there); "
                                f"the limit is {config.max_total_audio_seconds:g} s", "messages",
                           "audio_too_long") from exc
        decoded[i, j] = samples
        left -= len(samples) / SAMPLE_RATE
    return [_message(i, message, decoded) for i, message in enumerate(messages)]


def _encoded(i: int, j: int, part: WireAudioPart | AudioURLPart, config: ServeConfig) -> _Clip:
    if isinstance(part, WireAudioPart):
        param = f"messages.{i}.content.{j}.input_audio.data"
        data = decode_base64(part.input_audio.data, param)
    else:
        param = f"messages.{i}.content.{j}.audio_url.url"
        data = audio_url_bytes(part.audio_url.url, param, config)
    if not data:
        raise APIError(400, f"{param}: the audio is empty", param, "invalid_audio")
    seconds = audio_seconds(data)
    if seconds is not None:
        try:
            check_seconds(seconds, config.max_audio_seconds, param)
        except AudioError as exc:
            raise APIError(400, str(exc), param, "audio_too_long") from exc
    return _Clip(param, data, seconds)


def _message(i: int, message: ChatMessage, decoded: dict[tuple[int, int], np.ndarray]) -> Message:
    role = "system" if message.role == "developer" else message.role
    content = [message.content] if isinstance(message.content, str) else message.content
    parts: list[Part] = []
    for j, part in enumerate(content):
        if isinstance(part, (WireAudioPart, AudioURLPart)):
            parts.append(AudioPart(decoded[i, j]))
            continue
        text = part if isinstance(part, str) else part.text
        try:
            parts.append(TextPart(text))
        except ValueError as exc:  # text that is not valid Unicode
            param = f"messages.{i}.content" + ("" if isinstance(part, str) else f".{j}.text")
            raise APIError(400, f"{param}: {exc}", param, "invalid_text") from exc
    return Message(role, tuple(parts))
