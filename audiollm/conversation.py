"""The typed conversation every front end builds: messages of text and audio parts, checked once, here.

``parse_messages`` turns the chat-message dicts users write (``{"role": "user", "content": [{"type": "audio",
"audio": "a.wav"}, {"type": "text", "text": "..."}]}``, or a string content) into :class:`Message` objects; the
dataclasses refuse a bad role or part themselves, so a ``Message`` that exists is a valid one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from .audio import AudioInput

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclasses.dataclass(frozen=True)
class TextPart:
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError(f"a text part's text must be a string, got {type(self.text).__name__}")
        surrogate = _LONE_SURROGATE.search(self.text)
        if surrogate:
            # Such a string has no UTF-8 form: the tokenizer would fail on it with a TypeError.
            raise ValueError(f"a text part's text holds a lone UTF-16 surrogate U+{ord(surrogate.group()):04X} at "
                             f"character {surrogate.start()}; it is not valid Unicode text")


@dataclasses.dataclass(frozen=True)
class AudioPart:
    """A clip: a path, 16 kHz samples, or ``(samples, sample_rate)``; it is decoded when the model reads it."""

    audio: AudioInput

    def __post_init__(self) -> None:
        if self.audio is None:
            raise ValueError("an audio part's audio is None; give a path, bytes, samples or (samples, sample_rate)")


Part = TextPart | AudioPart
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[Part, ...]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be system, user or assistant, got {self.role!r}")
        object.__setattr__(self, "content", tuple(self.content))
        for j, part in enumerate(self.content):
            if not isinstance(part, (TextPart, AudioPart)):
                raise ValueError(f"part {j}: expected a TextPart or an AudioPart, got {type(part).__name__}")

    @classmethod
    def text_only(cls, role: Role, text: str) -> Message:
        return cls(role, (TextPart(text),))

    @property
    def text(self) -> str:
        """The text parts joined by newlines (audio left out)."""
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def clips(self) -> list[AudioInput]:
        return [part.audio for part in self.content if isinstance(part, AudioPart)]


def conversation_clips(messages: Sequence[Message]) -> list[AudioInput]:
    """Every clip of a conversation, in order."""
    return [clip for message in messages for clip in message.clips]


def user_prompt(audio: AudioInput | Sequence[AudioInput] | None, prompt: str) -> list[Message]:
    """A single user turn: the audio clip(s) first, then the prompt text."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string (or, batched, a list of strings), got {type(prompt).__name__}")
    clips = [] if audio is None else list(audio) if isinstance(audio, list) else [audio]
    return [Message("user", (*(AudioPart(clip) for clip in clips), TextPart(prompt)))]


def _audio_of(part: dict[str, Any], where: str) -> AudioInput:
    if "audio" not in part:
        raise ValueError(f"{where}: an audio part needs 'audio' (a path or samples)")
    return part["audio"]


def parse_messages(
    messages: Sequence[Any], audio: Callable[[dict[str, Any], str], AudioInput] = _audio_of
) -> list[Message]:
    """Chat-message dicts (or ``Message`` objects, kept as they are) as a valid conversation.

    ``audio(part, where)`` gives an audio part's clip: by default its ``"audio"`` value; the manifest reader
    resolves paths and takes clips from the row's ``audio`` list instead. Errors name the message and part.
    """
    if not messages:
        raise ValueError("the conversation has no messages")
    out: list[Message] = []
    for i, message in enumerate(messages):
        if isinstance(message, Message):
            out.append(message)
            continue
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise ValueError(f"message {i}: expected {{'role', 'content'}}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"message {i}: role must be system, user or assistant, got {role!r}")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list) or not content:
            raise ValueError(f"message {i}: content must be a string or a non-empty list of parts")
        parts = [_part(part, f"message {i} part {j}", audio) for j, part in enumerate(content)]
        out.append(Message(role, tuple(parts)))
    return out


def _part(part: Any, where: str, audio: Callable[[dict[str, Any], str], AudioInput]) -> Part:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and not isinstance(part.get("text"), str):
        raise ValueError(f"{where}: a text part needs 'text', a string; got {type(part.get('text')).__name__}")
    if kind not in ("text", "audio"):
        raise ValueError(f"{where}: expected a text part (type 'text' with 'text') or an audio part (type 'audio' "
                         f"with 'audio'), got {part!r:.80}")
    clip = audio(part, where) if kind == "audio" else None
    try:
        return TextPart(part["text"]) if kind == "text" else AudioPart(clip)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
