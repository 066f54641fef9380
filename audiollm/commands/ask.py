"""``audiollm ask AUDIO "PROMPT"``: one question about one clip, optionally spoken into a wav file; or, with
``--transcribe``, Whisper's own transcript of the clip (``PROMPT`` is then not needed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..transcribe import Segment

from .options import add_model_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file (wav, flac, ogg, mp3)")
    parser.add_argument("prompt", nargs="?", default=None, help="the question or instruction")
    parser.add_argument("--transcribe", action="store_true",
                        help="print Whisper's own transcript of the clip instead of asking (any length)")
    parser.add_argument("--timestamps", action="store_true",
                        help="with --transcribe: one line per segment, 'start --> end  text' in seconds")
    add_model_argument(parser)
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

    if args.transcribe and (args.prompt or args.stream or args.speak or args.num_beams > 1):
        raise ValueError("--transcribe prints Whisper's transcript: it takes no prompt, --stream, --speak or "
                         "--num-beams")
    if not args.transcribe and args.prompt is None:
        raise ValueError("give a PROMPT (the question), or --transcribe")
    if args.timestamps and not args.transcribe:
        raise ValueError("--timestamps goes with --transcribe")
    if args.num_beams < 1:
        raise ValueError(f"--num-beams must be at least 1, got {args.num_beams}")
    if args.num_beams > 1 and (args.stream or args.speak):
        # A beam's text is only final when the search ends, so there is nothing to stream or speak early.
        raise ValueError("--num-beams above 1 answers in one piece: it cannot be used with --stream or --speak")
    audio = load_audio(args.audio)  # bad input fails here, before the model loads
    if args.speak and not Path(args.speak).resolve().parent.is_dir():
        raise FileNotFoundError(f"--speak {args.speak}: the folder does not exist")
    head = load_speech(args.speech_backend, args.voice) if args.speak else None
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    if args.transcribe:
        print(transcript_lines(model.transcribe(audio, timestamps=args.timestamps)))
        return 0
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


def transcript_lines(result: str | list[Segment]) -> str:
    if isinstance(result, str):
        return result
    return "\n".join(f"{s.start_s:7.2f} --> {s.end_s:7.2f}  {s.text}" for s in result)
