"""``audiollm ask AUDIO "PROMPT"``: one question about one clip."""

from __future__ import annotations

import argparse
import sys

DEFAULT_MODEL = "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file (wav, flac, ogg, mp3)")
    parser.add_argument("prompt", help="the question or instruction")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="'default', a saved model directory, a hub id, or a model config YAML")
    parser.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    parser.add_argument("--max-new-tokens", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from ..audio import load_audio
    from ..model import load_model

    audio = load_audio(args.audio)  # bad input fails here, before the model loads
    model = load_model(args.model)
    if args.stream:
        for piece in model.stream(audio=audio, prompt=args.prompt, max_new_tokens=args.max_new_tokens):
            print(piece, end="", flush=True)
        print()
    else:
        print(model.generate(audio=audio, prompt=args.prompt, max_new_tokens=args.max_new_tokens))
    sys.stdout.flush()
    return 0
