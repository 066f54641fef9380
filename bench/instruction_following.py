"""Whether answers take the form their question asks for, right or wrong, per task of an evaluation's rows:

- yesno: says yes or no;  mcq: picks exactly one of the options;
- asr / mixture: transcribes (at least half as many words as the reference, not a description of the clip);
- sound_event / sound_class: names a sound in a few words (at most 6), not a transcript.

    python bench/instruction_following.py runs/eval/test.rows.jsonl
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.eval.metrics import parse_choice, parse_yesno
from audiollm.eval.report import read_row_records

NAMES_A_SOUND_WORDS = 6

FORMS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "yesno": lambda row: parse_yesno(row["answer"]) is not None,
    "mcq": lambda row: parse_choice(row["answer"], row["choices"]) is not None,
    "asr": lambda row: len(row["answer"].split()) >= len(row["reference"].split()) / 2,
    "mixture": lambda row: len(row["answer"].split()) >= len(row["reference"].split()) / 2,
    "sound_event": lambda row: 0 < len(row["answer"].split()) <= NAMES_A_SOUND_WORDS,
    "sound_class": lambda row: 0 < len(row["answer"].split()) <= NAMES_A_SOUND_WORDS,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("rows", type=Path, help="the .rows.jsonl an evaluation wrote")
    args = parser.parse_args()
    rows = read_row_records(args.rows)
    print(f"{'task':<14}{'rows':>6}{'in form':>10}")
    for task, in_form in FORMS.items():
        mine = [row for row in rows if row["task"] == task]
        if mine:
            share = sum(in_form(row) for row in mine) / len(mine)
            print(f"{task:<14}{len(mine):>6}{share:>9.1%}")


if __name__ == "__main__":
    main()
