"""``audiollm eval``: score a model on a manifest, or compare two reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_model_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--manifest", type=Path, help="JSONL manifest of rows to answer and score")
    parser.add_argument("--out", type=Path, help="the report JSON; its .md, .rows.jsonl and .png are written beside "
                                                 "it (with --compare: the PNG of the deltas)")
    parser.add_argument("--batch-size", type=int, default=8, help="conversations per generate call (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest answer in tokens (default: the model config's max_new_tokens)")
    parser.add_argument("--num-beams", type=int, default=1,
                        help="beam search with this many beams (default 1: greedy)")
    parser.add_argument("--per-task", type=int, default=None, metavar="N",
                        help="score only the first N usable rows of each task, and of each source family's task in the "
                             "starter corpus (a quick, repeatable sample; default: every row)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                        help="print and plot the per-task changes from report A to report B")


def run(args: argparse.Namespace) -> int:
    if args.compare:
        return _compare(args.compare[0], args.compare[1], args.out)
    if args.manifest is None or args.out is None:
        raise ValueError("--manifest and --out are required (or --compare A.json B.json)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.num_beams < 1:
        raise ValueError(f"--num-beams must be at least 1, got {args.num_beams}")
    if args.per_task is not None and args.per_task < 1:
        raise ValueError(f"--per-task must be at least 1, got {args.per_task}")

    from ..data.manifest import read_manifest
    from ..eval.report import markdown, summarize, write_report
    from ..eval.runner import Evaluation, answer_rows, check_rows, first_per_task
    from ..model import load_model

    # Rows are read and checked before the model loads, so bad input fails fast.
    good, bad = check_rows(read_manifest(args.manifest))
    if not good:
        reasons = "; ".join(f"line {b.line}: {b.reason}" for b in bad[:3])
        raise ValueError(f"{args.manifest}: none of its {len(bad)} rows can be evaluated ({reasons})")
    if args.per_task is not None:
        good = first_per_task(good, args.per_task)
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    evaluation = Evaluation(answer_rows(model, good, args.batch_size, args.max_new_tokens, args.num_beams), bad)
    decoding = "greedy" if args.num_beams == 1 else f"beam search, {args.num_beams} beams"
    settings = {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens or model.config.max_new_tokens,
                "decoding": decoding, **({"per_task": args.per_task} if args.per_task else {})}
    report = summarize(evaluation, str(args.model), str(args.manifest), settings)
    paths = write_report(report, evaluation.rows, args.out)
    print(markdown(report))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _compare(before: Path, after: Path, out: Path | None) -> int:
    from ..cache import atomic_file
    from ..eval.report import compare, comparison_chart, format_comparison, read_report

    deltas = compare(read_report(before), read_report(after))
    print(format_comparison(deltas, str(before), str(after)))
    chart = out or after.with_suffix(".compare.png")
    with atomic_file(chart) as scratch:
        comparison_chart(deltas, f"{after.stem} vs {before.stem}", scratch)
    print(f"wrote {chart}")
    return 0
