"""``audiollm data``: build the offline starter corpus or its text replay rows, or import a public data set into the
manifest format."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import HelpFormatter

IMPORT_KINDS = ("librispeech", "captions", "hf", "airbench", "mmau")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="build a corpus from installed packages", formatter_class=HelpFormatter,
                           description="Build the starter corpus (resumable; the same seed gives the same corpus).")
    build.add_argument("corpus", choices=["starter"])
    build.add_argument("--out", type=Path, required=True, help="output directory (audio/ and {train,dev,test}.jsonl)")
    build.add_argument("--size", choices=["small", "full"], default="small",
                       help="small: a few hundred rows in minutes; full: tens of thousands (default small)")
    build.add_argument("--seed", type=int, default=0, help="picks clips, voices and wordings")
    build.add_argument("--jobs", type=int, default=1, help="clips rendered at a time (one process each)")
    build.add_argument("--sources", action="store_true", help="only list the sources and how to install the missing")

    replay = sub.add_parser("text-replay", help="text-only rows answered by the base LLM itself",
                            formatter_class=HelpFormatter,
                            description="Write about 500 text-only rows (arithmetic, facts, short instructions; none "
                                        "of them the text-skills test prompts) whose answers are the base LLM's own "
                                        "greedy ones: mixed into training, they keep its text skills.")
    replay.add_argument("out", type=Path, help="the manifest to write (JSONL)")
    replay.add_argument("--llm", default="smollm2-135m-instruct", help="the base LLM that answers (a weights name)")
    replay.add_argument("--seed", type=int, default=0, help="picks the arithmetic operands and the row order")
    replay.add_argument("--batch-size", type=int, default=16, help="prompts decoded together")
    replay.add_argument("--max-new-tokens", type=int, default=64,
                        help="longest answer; a prompt whose answer does not stop by then is left out")

    imp = sub.add_parser("import", help="convert a public data set to a manifest", formatter_class=HelpFormatter,
                         description="Convert a data set to a JSONL manifest. librispeech: SOURCE is the tree "
                                     "(e.g. LibriSpeech/test-clean). captions: SOURCE is an AudioCaps or Clotho CSV. "
                                     "hf: SOURCE is a datasets directory saved with save_to_disk. airbench / mmau: "
                                     "SOURCE is the benchmark's JSON.")
    imp.add_argument("kind", choices=IMPORT_KINDS)
    imp.add_argument("source", type=Path)
    imp.add_argument("--out", type=Path, required=True, help="output directory for the manifest (and audio for hf)")
    imp.add_argument("--audio-root", type=Path, help="where the audio files are (captions, airbench, mmau; default: "
                                                     "the SOURCE file's directory)")
    imp.add_argument("--split", default=None, help="hf: which split of a DatasetDict (default: all)")
    imp.add_argument("--seed", type=int, default=0, help="picks the instruction wording of each row")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    if args.action == "text-replay":
        return _text_replay(args)
    return _import(args)


def _build(args: argparse.Namespace) -> int:
    from ..data.starter import build_starter, discover, format_counts
    from ..data.starter.sources import report

    sources = discover()
    print("sources:\n" + report(sources))
    if args.sources:
        return 0
    result = build_starter(args.out, args.size, args.seed, sources, jobs=args.jobs)
    if result.missing:
        print("built without: " + ", ".join(s.name for s in result.missing) + " (install commands above)")
    if result.skipped:
        print(f"skipped {len(result.skipped)} source file(s) that could not be used (listed in "
              f"{result.out / 'skipped.txt'}):")
        print("\n".join(f"  {line}" for line in result.skipped[:10]))
    print(format_counts(result))
    print("wrote " + ", ".join(str(p) for p in result.manifests.values()))
    return 0


def _text_replay(args: argparse.Namespace) -> int:
    from ..data.starter.text_replay import base_llm, build_text_replay

    result = build_text_replay(base_llm(args.llm), args.out, args.seed, args.batch_size, args.max_new_tokens)
    print(f"wrote {result.rows} text replay rows to {result.path} ({result.unfinished} left out: the answer did not "
          f"stop within {args.max_new_tokens} tokens)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..data import importers

    root = args.audio_root or (args.source if args.source.is_dir() else args.source.parent)
    if args.kind == "librispeech":
        result = importers.import_librispeech(args.source, args.out, seed=args.seed)
    elif args.kind == "captions":
        result = importers.import_captions(args.source, root, args.out, seed=args.seed)
    elif args.kind == "hf":
        result = importers.import_hf(args.source, args.out, split=args.split, seed=args.seed)
    elif args.kind == "airbench":
        result = importers.import_airbench(args.source, root, args.out)
    else:
        result = importers.import_mmau(args.source, root, args.out)
    print(result.summary())
    return 0
