"""Whisper-base's own decoder on a manifest's transcription rows: the WER a released model is held against.

Takes the first N rows of ``--task`` (``asr``: sentences; ``word``: the recorded words) in manifest order, the rows
``audiollm eval --per-task N`` scores, and prints the WER per voice (or real speaker) and overall (Whisper English
normaliser; greedy decoding, or beam search with ``--num-beams``, to set beside ``audiollm eval --num-beams``).
``--source`` keeps the rows of the named sources only, e.g. the starter corpus's real speech (warzone2100-data,
trigger-rally-data, pocketsphinx-testdata).

``--answers MODEL`` also scores that model's own answers to each row's prompt (what ``audiollm eval`` scores), so a
release is held against Whisper on the same clips in one run. ``--decoding MODEL`` also scores ``AudioLLM.transcribe`` of that model (its frozen Whisper) on the same rows, with
each window padded to 30 s and at the clip's own length, and the seconds per clip of each:

    python bench/asr_baseline.py data/starter/test.jsonl [--task asr] [--per-task 64] [--model whisper-base]
        [--num-beams 5] [--decoding configs/models/base.yaml] [--answers default]
    python bench/asr_baseline.py data/starter/test.jsonl --per-task 1000 --source warzone2100-data \
        --source trigger-rally-data --source pocketsphinx-testdata
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.data.manifest import Example, read_manifest
from audiollm.eval.intelligibility import VoiceScore, format_scores, whisper_wer
from audiollm.eval.metrics import word_errors
from audiollm.model import AudioLLM, load_model


def speaker(example: Example) -> str:
    return str(example.meta.get("voice") or example.meta.get("speaker") or example.meta.get("source") or "?")


def add_errors(scores: dict[str, VoiceScore], example: Example, text: str) -> None:
    tally = word_errors(text, example.answer)
    score = scores.setdefault(speaker(example), VoiceScore(speaker(example), 0, 0, 0))
    score.errors += int(tally.value)
    score.words += int(tally.count)
    score.clips += 1


def transcribe_wer(rows: list[Example], model: AudioLLM, pad_to_30s: bool) -> tuple[list[VoiceScore], float]:
    """WER per voice of ``AudioLLM.transcribe`` and the mean seconds per clip (after one untimed warm-up)."""
    model.transcribe(rows[0].audio[0], pad_to_30s=pad_to_30s)
    scores: dict[str, VoiceScore] = {}
    start = time.perf_counter()
    for example in rows:
        text = model.transcribe(example.audio[0], pad_to_30s=pad_to_30s)
        assert isinstance(text, str)
        add_errors(scores, example, text)
    return sorted(scores.values(), key=lambda s: s.voice), (time.perf_counter() - start) / len(rows)


def answer_wer(rows: list[Example], model: AudioLLM) -> list[VoiceScore]:
    """WER per voice of the model's greedy answer to each row's own prompt."""
    scores: dict[str, VoiceScore] = {}
    for example in rows:
        text = model.chat(example.prompt_messages)
        add_errors(scores, example, text)
    return sorted(scores.values(), key=lambda s: s.voice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--task", default="asr", help="rows scored: asr (sentences) or word (recorded words)")
    parser.add_argument("--per-task", type=int, default=64, help="transcription rows scored (the first N)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--num-beams", type=int, default=1, help="beams of Whisper's decoder (default 1: greedy)")
    parser.add_argument("--source", action="append", default=[],
                        help="score only rows whose meta source is this (repeatable; default: every row of the task)")
    parser.add_argument("--decoding", metavar="MODEL", default=None,
                        help="also score AudioLLM.transcribe of this model, padded and unpadded")
    parser.add_argument("--answers", metavar="MODEL", default=None,
                        help="also score this model's answers to each row's prompt")
    args = parser.parse_args()

    rows = [e for e in read_manifest(args.manifest)
            if e.task == args.task and (not args.source or e.meta.get("source") in args.source)][:args.per_task]
    if not rows:
        raise SystemExit(f"{args.manifest} has no {args.task} rows"
                         + (f" from {', '.join(args.source)}" if args.source else ""))
    sample = [(speaker(e), e.audio[0], e.answer) for e in rows]
    scores = whisper_wer(sample, args.model, num_beams=args.num_beams, progress=False)
    decoding = "greedy" if args.num_beams == 1 else f"{args.num_beams} beams"
    print(f"{args.model} ({decoding}) on the first {len(rows)} {args.task} rows of {args.manifest}")
    print(format_scores(scores))
    if args.answers:
        print(f"\nanswers of {args.answers} to each row's prompt")
        print(format_scores(answer_wer(rows, load_model(args.answers))))
    if args.decoding:
        model = load_model(args.decoding)
        for pad in (True, False):
            scores, seconds = transcribe_wer(rows, model, pad)
            print(f"\nAudioLLM.transcribe of {args.decoding}, windows {'padded to 30 s' if pad else 'unpadded'}: "
                  f"{seconds:.3f} s per clip")
            print(format_scores(scores))


if __name__ == "__main__":
    main()
