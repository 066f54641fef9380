"""JSONL manifests: one conversation per line, validated before use, errors listed by line number.

Two forms of row:

- short: ``{"audio": "a.wav" | ["a.wav", "b.wav"], "prompt": "...", "answer": "...", "task": "asr"}``
- long: ``{"audio": ..., "messages": [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text":
  "..."}]}, {"role": "assistant", "content": "..."}], "task": ...}``; each ``{"type": "audio"}`` part takes the next
  clip of ``audio`` (or names its own with ``"audio": "path"``). A row whose messages have no audio part gets its
  clips before the text of the first user turn.

Optional keys: ``id``, ``task``, ``choices`` (multiple-choice options), ``meta`` (free-form mapping). Relative audio
paths are relative to the manifest's directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..cache import atomic_file
from ..conversation import AudioPart, Message, TextPart, conversation_clips, parse_messages

SHORT_KEYS = {"audio", "prompt", "answer"}
OPTIONAL_KEYS = {"id", "task", "choices", "meta"}
MAX_LISTED_ERRORS = 20


class ManifestError(ValueError):
    """A manifest with rows that do not fit the schema; the message lists them by line number."""

    def __init__(self, path: Path, errors: list[str]):
        self.path = path
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:MAX_LISTED_ERRORS])
        more = f"\n  ... and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        super().__init__(f"{path}: {len(errors)} invalid row(s):\n{shown}{more}")


@dataclasses.dataclass
class Example:
    """One validated manifest row, with audio parts resolved to absolute paths in the messages."""

    line: int
    messages: list[Message]
    task: str | None = None
    id: str | None = None
    choices: list[str] | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def audio(self) -> list[Path]:
        """Every clip of the conversation, in order (the row's ``audio`` list and clips named inline alike)."""
        return [Path(str(clip)) for clip in conversation_clips(self.messages)]

    @property
    def answer(self) -> str:
        """The reference: the last assistant turn."""
        return self.messages[-1].text

    @property
    def prompt_messages(self) -> list[Message]:
        """The conversation up to (not including) the final assistant turn: what a model is asked."""
        return self.messages[:-1]


def read_manifest(path: str | Path) -> list[Example]:
    """Parse and validate every row; raise :class:`ManifestError` listing all bad rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    examples: list[Example] = []
    errors: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append(f"line {number}: not valid JSON ({exc.msg})")
                continue
            try:
                examples.append(parse_row(row, number, path.parent))
            except ValueError as exc:
                errors.append(f"line {number}: {exc}")
    if errors:
        raise ManifestError(path, errors)
    if not examples:
        raise ManifestError(path, ["the manifest has no rows"])
    return examples


def parse_row(row: Any, line: int, root: Path) -> Example:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    long_form = "messages" in row
    allowed = OPTIONAL_KEYS | ({"audio", "messages"} if long_form else SHORT_KEYS)
    unknown = sorted(set(row) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}")
    clips = _audio_list(row.get("audio"), root)
    if long_form:
        messages = _long_messages(row["messages"], clips, root)
    else:
        missing = sorted(k for k in ("prompt", "answer") if not isinstance(row.get(k), str) or not row[k].strip())
        if missing:
            raise ValueError(f"short-form row needs non-empty string(s) {', '.join(missing)} (or use 'messages')")
        parts = (*(AudioPart(str(c)) for c in clips), TextPart(row["prompt"]))
        messages = [Message("user", parts), Message.text_only("assistant", row["answer"])]
    choices = row.get("choices")
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        raise ValueError("'choices' must be a list of strings")
    meta = row.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("'meta' must be an object")
    task = row.get("task")
    if task is not None and not isinstance(task, str):
        raise ValueError("'task' must be a string")
    ident = row.get("id")
    return Example(line, messages, task, None if ident is None else str(ident), choices, meta)


def _audio_list(value: Any, root: Path) -> list[Path]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in items):
        raise ValueError("'audio' must be a path or a list of paths")
    return [(root / v).resolve() for v in items]


def _long_messages(messages: Any, clips: list[Path], root: Path) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    pending = list(clips)
    explicit = 0

    def clip(part: dict[str, Any], where: str) -> str:
        # An audio part names its own clip, or takes the next one of the row's 'audio' list.
        nonlocal explicit
        explicit += 1
        if "audio" in part:
            return str(_audio_list(part["audio"], root)[0])
        if not pending:
            raise ValueError(f"{where}: audio part but the row's 'audio' has no clip left")
        return str(pending.pop(0))

    out = parse_messages(messages, audio=clip)
    if explicit and pending:
        raise ValueError(f"'audio' lists {len(pending)} clip(s) that no audio part uses")
    if pending:
        first = next((i for i, m in enumerate(out) if m.role == "user"), None)
        if first is None:
            raise ValueError("a row with audio needs a user turn to attach it to")
        out[first] = Message("user", (*(AudioPart(str(c)) for c in pending), *out[first].content))
    last = messages[-1]
    if out[-1].role != "assistant" or not isinstance(last, dict) or not isinstance(last.get("content"), str):
        raise ValueError("the last message must be the assistant's answer, as a string")
    return out


def example_row(
    audio: str | list[str],
    prompt: str,
    answer: str,
    task: str,
    **optional: Any,
) -> dict[str, Any]:
    """A short-form row (``optional`` holds ``id``, ``choices`` or ``meta``)."""
    unknown = set(optional) - OPTIONAL_KEYS
    if unknown:
        raise ValueError(f"unknown manifest key(s) {', '.join(sorted(unknown))}")
    return {"audio": audio, "prompt": prompt, "answer": answer, "task": task, **optional}


def write_manifest(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write rows as JSONL atomically; returns the number written."""
    count = 0
    with atomic_file(Path(path)) as scratch, scratch.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
