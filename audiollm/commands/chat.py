"""``audiollm chat``: an interactive multi-turn conversation in the terminal; ``/audio PATH`` attaches a clip."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..cache import cache_root
from .options import add_model_argument

if TYPE_CHECKING:
    from ..conversation import Message, Part

HELP = """commands:
  /audio PATH   attach a clip to your next message (several may be attached)
  /clear        forget the conversation
  /help         this text
  /quit         leave (or end of input)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest answer in tokens (default: the model config's max_new_tokens)")
    parser.add_argument("--system", default=None, help="a system prompt for the whole conversation (default: none)")


def run(args: argparse.Namespace) -> int:
    from ..model import load_model

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    session = ChatSession(model, args.max_new_tokens, args.system)
    return session.loop(sys.stdin, sys.stdout)


def history_file() -> Path:
    return cache_root() / "chat_history"


def start_line_editing() -> None:
    """Line editing and a history kept across sessions, where Python has readline (not on Windows)."""
    try:
        import readline
    except ImportError:
        return
    path = history_file()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            readline.write_history_file(path)

    atexit.register(save)


class ChatSession:
    """The conversation so far plus the clips waiting for the next user message."""

    def __init__(self, model: Any, max_new_tokens: int | None = None, system: str | None = None):
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.system = system
        self.history: list[Message] = []
        self.pending: list[Part] = []

    def loop(self, stdin: TextIO, stdout: TextIO) -> int:
        interactive = stdin.isatty() and stdout.isatty()
        if interactive:
            print("audiollm chat: type a message; /audio PATH attaches a clip, /help for more.", file=stdout)
            start_line_editing()
        while True:
            if interactive:
                try:
                    line = input("> ")  # with readline loaded: arrow keys edit, up and down walk the history
                except EOFError:
                    return 0
            else:
                line = stdin.readline()
                if not line:
                    return 0
            line = line.strip()
            if line in ("/quit", "/exit"):
                return 0
            try:
                self.handle(line, stdout)
            except ValueError as exc:
                # A bad clip or a bad message: say so on one line and keep the conversation going.
                print(f"error: {exc}", file=stdout, flush=True)

    def handle(self, line: str, stdout: TextIO) -> None:
        if not line:
            return
        if line.startswith("/"):
            command, _, rest = line.partition(" ")
            if command == "/audio":
                self.attach(rest.strip(), stdout)
            elif command == "/clear":
                self.history, self.pending = [], []
                print("(conversation cleared)", file=stdout, flush=True)
            elif command == "/help":
                print(HELP, file=stdout, flush=True)
            else:
                raise ValueError(f"unknown command {command}; /help lists them")
            return
        self.answer(line, stdout)

    def attach(self, path: str, stdout: TextIO) -> None:
        from ..audio import SAMPLE_RATE, load_audio
        from ..conversation import AudioPart

        if not path:
            raise ValueError("/audio needs a file path")
        samples = load_audio(path)  # checked now, so a bad file never enters the history
        self.pending.append(AudioPart(samples))
        print(f"(attached {path}, {samples.size / SAMPLE_RATE:.1f} s)", file=stdout, flush=True)

    def answer(self, text: str, stdout: TextIO) -> None:
        from ..conversation import Message, TextPart

        turn = Message("user", (*self.pending, TextPart(text)))
        system = [Message.text_only("system", self.system)] if self.system else []
        messages = [*system, *self.history, turn]
        pieces: list[str] = []
        for piece in self.model.stream(messages=messages, max_new_tokens=self.max_new_tokens):
            pieces.append(piece)
            print(piece, end="", file=stdout, flush=True)
        print(file=stdout, flush=True)
        # Only a turn that was answered joins the history.
        self.history += [turn, Message.text_only("assistant", "".join(pieces))]
        self.pending = []
