"""Starter corpus: build it (timed, counts per task and split), then check the synthetic speech is intelligible by
transcribing a sample per voice with the converted Whisper-base and printing the WER per voice.

    python bench/starter.py --out /tmp/starter [--size small|full] [--per-voice 6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.data.starter import build_starter, format_counts
from audiollm.eval.intelligibility import format_scores, transcription_sample, whisper_wer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", choices=["small", "full"], default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-voice", type=int, default=6, help="clips transcribed per voice")
    args = parser.parse_args()

    result = build_starter(args.out, args.size, args.seed)
    print(format_counts(result))
    scores = whisper_wer(transcription_sample(args.out, args.per_voice))
    print(f"\nWhisper-base WER per voice ({args.per_voice} clips per voice at most, Whisper English normaliser)")
    print(format_scores(scores))


if __name__ == "__main__":
    main()
