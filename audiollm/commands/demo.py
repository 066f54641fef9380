"""``audiollm demo``: the Gradio demo in the browser (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse

from .options import add_model_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..demo import DEFAULT_MAX_SECONDS
    from ..speech import BACKENDS, DEFAULT_BACKEND

    add_model_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--speech-backend", default=DEFAULT_BACKEND, choices=[*sorted(BACKENDS), "none"],
                        help=f"speak the answers with this backend (default {DEFAULT_BACKEND}); 'none' for text only")
    parser.add_argument("--voice", default=None, help="backend voice, see audiollm ask --help (default: the backend's own)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="longest clip accepted, in seconds")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest answer in tokens (default: the model config's max_new_tokens)")


def run(args: argparse.Namespace) -> int:
    from ..demo import build_demo, describe_model, launch
    from ..model import load_model
    from ..speech import load_speech

    speech = None if args.speech_backend == "none" else load_speech(args.speech_backend, args.voice)
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    demo = build_demo(model, speech, args.max_seconds, args.max_new_tokens, info=describe_model(args.model))
    launch(demo, args.host, args.port)
    return 0
