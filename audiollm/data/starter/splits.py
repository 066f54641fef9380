"""Split assignment with no leakage: each sentence, voice, recording, sample file, score or instrument goes to
exactly one of train / dev / test, decided by a seeded shuffle of its sorted names (stable under the seed)."""

from __future__ import annotations

import random
from collections.abc import Iterable

SPLITS = ("train", "dev", "test")


def assign(names: Iterable[str], seed: int, dev: float = 0.1, test: float = 0.1) -> dict[str, str]:
    """name -> split. With three or more names, dev and test each get at least one."""
    ordered = sorted(set(names))
    random.Random(f"{seed}:{len(ordered)}:{ordered[:1]}").shuffle(ordered)
    n = len(ordered)
    n_test = max(1, round(n * test)) if n >= 3 else 0
    n_dev = max(1, round(n * dev)) if n >= 3 else 0
    split = {name: "test" for name in ordered[:n_test]}
    split.update({name: "dev" for name in ordered[n_test:n_test + n_dev]})
    split.update({name: "train" for name in ordered[n_test + n_dev:]})
    return split


def by_split(split_of: dict[str, str]) -> dict[str, list[str]]:
    """split -> its names, sorted."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name, split in sorted(split_of.items()):
        out[split].append(name)
    return out


def hold_out(packages_of: dict[str, dict[str, int]], seed: int) -> dict[tuple[str, str], str]:
    """(class, package) -> split, from each class's packages and their clip counts.

    A class from two or more packages is tested on a package train never hears for that class, and developed on
    a third where one exists; the package with most clips of the class always stays in train. A class from one
    package only is trained on (no held-out package could test it)."""
    split: dict[tuple[str, str], str] = {}
    for label, counts in sorted(packages_of.items()):
        ranked = sorted(counts, key=lambda p: (-counts[p], p))
        held = ranked[1:]
        random.Random(f"{seed}:hold-out:{label}").shuffle(held)
        for package in ranked:
            split[(label, package)] = "train"
        if held:
            split[(label, held[0])] = "test"
        if len(held) > 1:
            split[(label, held[1])] = "dev"
    return split
