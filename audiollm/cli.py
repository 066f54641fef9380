"""The ``audiollm`` command. Each subcommand lives in the module that implements it.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; it imports heavy libraries inside
``run`` so that ``audiollm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .commands import HelpFormatter
from .quiet import VERBOSE_FLAGS, quiet_unless_verbose

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ask": ("audiollm.commands.ask", "answer a question about an audio clip"),
    "chat": ("audiollm.commands.chat", "interactive multi-turn chat; /audio PATH attaches a clip"),
    "train": ("audiollm.commands.train", "fine-tune on JSONL manifests (stages, DeepSpeed, resume)"),
    "eval": ("audiollm.commands.eval", "score a model on a manifest, or compare two reports"),
    "models": ("audiollm.commands.models", "base weights: list, fetch (hub, local or offline packs), path"),
    "demo": ("audiollm.commands.demo", "Gradio demo: microphone or upload, streamed text and spoken answers"),
    "data": ("audiollm.commands.data", "build the offline starter corpus, or import a data set as a manifest"),
    "serve": ("audiollm.commands.serve", "OpenAI-compatible HTTP API: chat with audio, transcriptions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiollm", description="Audio-understanding LLM: ask, chat, train, evaluate.",
                                     formatter_class=HelpFormatter)
    add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = importlib.import_module(module)
        child = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        command.add_arguments(child)
        child.set_defaults(_run=command.run)
    with_global_flags(parser)
    return parser


def add_global_flags(parser: argparse.ArgumentParser, top: bool) -> None:
    parser.add_argument("--version", action="version", version=f"audiollm {__version__}")
    # Below the top, SUPPRESS keeps a -v given further up the command line.
    parser.add_argument(*VERBOSE_FLAGS, action="store_true", default=False if top else argparse.SUPPRESS,
                        help="also show the warnings, logs and loading bars of the libraries underneath"
                        if top else "as audiollm -v")


def with_global_flags(parser: argparse.ArgumentParser) -> None:
    """The global flags after every command and action as well (``audiollm models list -v``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # An alias names the same parser twice.
            for child in {id(c): c for c in action.choices.values()}.values():
                add_global_flags(child, top=False)
                with_global_flags(child)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Before the parser imports anything: some libraries read their verbosity once, when first imported.
    quiet_unless_verbose(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow a flag (`train CONFIG --resume max_steps=900`), which argparse leaves over.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args._run(args) or 0)
    except (ValueError, OSError) as exc:
        # Bad input (audio, config, missing weights or files): one line, no traceback, unless debugging.
        if os.environ.get("AUDIOLLM_DEBUG"):
            raise
        print(f"audiollm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
