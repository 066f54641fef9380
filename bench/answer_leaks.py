"""Answers that name where a clip came from: a file name, a source package or game, or a take number.

Reads the rows an evaluation wrote (``audiollm eval --out R.json`` writes ``R.rows.jsonl``) and prints each such
answer; a release has none:

    python bench/answer_leaks.py runs/eval/test.rows.jsonl
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.data.starter.real_sounds import PACKAGES
from audiollm.data.starter.real_speech import LICENCES
from audiollm.eval.report import read_row_records

FILE_NAME = re.compile(r"\b[\w-]+\.(wav|ogg|flac|mp3|opus)\b", re.IGNORECASE)
TAKE = re.compile(r"\b(take\s*\d+|[a-z]+_?\d+\b)", re.IGNORECASE)
# The package names and the games or projects they are named after ("wesnoth" of "wesnoth-1.16-data").
SOURCES = sorted({name for package in [*PACKAGES, *LICENCES] for name in (package, package.split("-")[0])} - {""})
SOURCE = re.compile(r"\b(" + "|".join(map(re.escape, SOURCES)) + r")\b", re.IGNORECASE)


def leak(answer: str) -> str | None:
    """What the answer names that it should not, or None."""
    for pattern in (FILE_NAME, SOURCE, TAKE):
        if match := pattern.search(answer):
            return match.group(0)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("rows", type=Path, help="the .rows.jsonl an evaluation wrote")
    args = parser.parse_args()
    rows = read_row_records(args.rows)
    found = [(row, hit) for row in rows if (hit := leak(row["answer"]))]
    for row, hit in found:
        print(f"{row.get('id') or row['line']}: {hit!r} in {row['answer']!r}")
    print(f"{len(found)} of {len(rows)} answers name a file, source or take")


if __name__ == "__main__":
    main()
