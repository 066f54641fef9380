"""Whisper-base's own decoder on a manifest's transcription rows: the WER a released model is held against.

Takes the first N ``asr`` rows in manifest order, the rows ``audiollm eval --per-task N`` scores, and prints the
WER per voice (or real speaker) and overall (Whisper English normaliser; greedy decoding, or beam search with
``--num-beams``, to set beside ``audiollm eval --num-beams``). ``--source`` keeps the rows of the named sources
only, e.g. the starter corpus's real speech (warzone2100-data, trigger-rally-data, pocketsphinx-testdata).

    python bench/asr_baseline.py data/starter/test.jsonl [--per-task 64] [--model whisper-base] [--num-beams 5]
    python bench/asr_baseline.py data/starter/test.jsonl --per-task 1000 --source warzone2100-data \
        --source trigger-rally-data --source pocketsphinx-testdata
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.data.manifest import read_manifest
from audiollm.data.starter.intelligibility import format_scores, whisper_wer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--per-task", type=int, default=64, help="transcription rows scored (the first N)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--num-beams", type=int, default=1, help="beams of Whisper's decoder (default 1: greedy)")
    parser.add_argument("--source", action="append", default=[],
                        help="score only rows whose meta source is this (repeatable; default: every asr row)")
    args = parser.parse_args()

    rows = [e for e in read_manifest(args.manifest)
            if e.task == "asr" and (not args.source or e.meta.get("source") in args.source)][:args.per_task]
    if not rows:
        raise SystemExit(f"{args.manifest} has no asr rows" + (f" from {', '.join(args.source)}" if args.source else ""))
    sample = [(str(e.meta.get("voice") or e.meta.get("speaker", "?")), e.audio[0], e.answer) for e in rows]
    scores = whisper_wer(sample, args.model, num_beams=args.num_beams)
    decoding = "greedy" if args.num_beams == 1 else f"{args.num_beams} beams"
    print(f"{args.model} ({decoding}) on the first {len(rows)} asr rows of {args.manifest}")
    print(format_scores(scores))


if __name__ == "__main__":
    main()
