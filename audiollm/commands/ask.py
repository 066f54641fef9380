"""``audiollm ask AUDIO "PROMPT"``: one question about one clip, optionally spoken into a wav file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file (wav, flac, ogg, mp3)")
    parser.add_argument("prompt", help="the question or instruction")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="'default', a saved model directory, a hub id, or a model config YAML")
    parser.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest answer in tokens (default: the model config's max_new_tokens)")
    parser.add_argument("--num-beams", type=int, default=1,
                        help="beam search with this many beams (default 1: greedy; not with --stream or --speak)")
    add_speech_arguments(parser)


def add_speech_arguments(parser: argparse.ArgumentParser) -> None:
    from ..speech import BACKENDS, DEFAULT_BACKEND

    parser.add_argument("--speak", metavar="OUT.wav", default=None, help="also speak the answer into this wav file")
    parser.add_argument("--speech-backend", default=DEFAULT_BACKEND, choices=sorted(BACKENDS),
                        help=f"text-to-speech backend for --speak (default {DEFAULT_BACKEND})")
    parser.add_argument("--voice", default=None,
                        help="backend voice: a hibari voice name, a piper .onnx file, or an espeak voice such as en-us "
                             "(default: the backend's own)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from ..audio import load_audio
    from ..model import load_model
    from ..speech import load_speech

    if args.num_beams < 1:
        raise ValueError(f"--num-beams must be at least 1, got {args.num_beams}")
    if args.num_beams > 1 and (args.stream or args.speak):
        # A beam's text is only final when the search ends, so there is nothing to stream or speak early.
        raise ValueError("--num-beams above 1 answers in one piece: it cannot be used with --stream or --speak")
    audio = load_audio(args.audio)  # bad input fails here, before the model loads
    if args.speak and not Path(args.speak).resolve().parent.is_dir():
        raise FileNotFoundError(f"--speak {args.speak}: the folder does not exist")
    head = load_speech(args.speech_backend, args.voice) if args.speak else None
    model = load_model(args.model)
    if head is None and not args.stream:
        print(model.generate(audio=audio, prompt=args.prompt, max_new_tokens=args.max_new_tokens,
                             num_beams=args.num_beams))
        return 0
    pieces = model.stream(audio=audio, prompt=args.prompt, max_new_tokens=args.max_new_tokens)
    text: list[str] = []
    speech: list[np.ndarray] = []
    for item in head.narrate(pieces) if head else pieces:
        if isinstance(item, str):
            text.append(item)
            if args.stream:
                print(item, end="", flush=True)
        else:
            speech.append(item[0])
    print("" if args.stream else "".join(text).strip())
    if head is not None:
        samples = np.concatenate(speech) if speech else np.zeros(0, np.float32)
        sf.write(args.speak, samples, head.sample_rate, subtype="PCM_16")
        print(f"spoke {samples.size / head.sample_rate:.1f} s into {args.speak}", file=sys.stderr)
    sys.stdout.flush()
    return 0
