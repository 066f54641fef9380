"""Running a model over a manifest: rows checked up front, answered in batches, each scored by its task."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..audio import AudioError, load_audio
from ..conversation import AudioPart, Message, conversation_clips
from ..data.manifest import Example
from ..data.starter.families import row_family
from ..generation import GenerationRequest
from .metrics import Tally, score_answer

if TYPE_CHECKING:
    from ..model import AudioLLM


@dataclasses.dataclass
class BadRow:
    """A manifest row left out of the scores, and why (its audio is missing or unreadable, or its reference
    cannot be scored by its task's metrics)."""

    line: int
    id: str | None
    reason: str


@dataclasses.dataclass
class RowResult:
    line: int
    id: str | None
    task: str | None
    audio: list[str]
    prompt: str
    reference: str
    answer: str
    choices: list[str] | None
    scores: dict[str, Tally]
    # The benchmark's own task (``meta.subtask`` from the AIR-Bench and MMAU importers), for per-subtask tables.
    subtask: str | None = None
    # The starter corpus's source family (synthetic voices, real speech, real sounds, music...), for per-family tables.
    family: str | None = None


@dataclasses.dataclass
class Evaluation:
    rows: list[RowResult]
    bad_rows: list[BadRow]


def prompt_text(messages: Sequence[Message]) -> str:
    """A conversation as a person reads it: one ``role: text`` line per turn, clips shown as ``[audio: name]``."""
    lines = []
    for message in messages:
        content = " ".join(f"[audio: {Path(str(part.audio)).name}]" if isinstance(part, AudioPart) else part.text
                           for part in message.content)
        lines.append(f"{message.role}: {content}")
    return "\n".join(lines)


def check_rows(examples: Sequence[Example], progress: bool = True) -> tuple[list[Example], list[BadRow]]:
    """Split rows into those that can be evaluated and bad ones, before any model time is spent.

    Every clip is decoded once (a file that exists but does not decode is as bad as a missing one), and the
    reference is scored against itself so that a row its metrics cannot read (a multiple-choice reference naming
    no option, a yes/no reference that is neither) is caught here rather than after generation.
    """
    good: list[Example] = []
    bad: list[BadRow] = []
    for example in tqdm(examples, desc="checking rows", unit="row", leave=False, disable=not progress):
        try:
            for clip in conversation_clips(example.prompt_messages):
                load_audio(clip)
            score_answer(example.task, example.answer, example.answer, example.choices)
        except (AudioError, ValueError) as exc:
            bad.append(BadRow(example.line, example.id, str(exc)))
            continue
        good.append(example)
    return good, bad


def first_per_task(examples: Sequence[Example], count: int) -> list[Example]:
    """The first ``count`` rows of each task (of each source family's task, where the family is known), in manifest
    order: a quick sample that is the same on every run and holds real recordings beside synthetic ones."""
    taken: Counter[tuple[str | None, str | None]] = Counter()
    sample: list[Example] = []
    for example in examples:
        key = (row_family(example.meta), example.task)
        if taken[key] < count:
            taken[key] += 1
            sample.append(example)
    return sample


def answer_rows(
    model: AudioLLM,
    examples: Sequence[Example],
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    progress: bool = True,
) -> list[RowResult]:
    """Answer rows already checked by :func:`check_rows`, ``batch_size`` conversations per :meth:`generate_batch`
    call (greedy, or beam search with ``num_beams`` > 1), and score each by its task."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if num_beams < 1:
        raise ValueError(f"number of beams must be at least 1, got {num_beams}")
    rows: list[RowResult] = []
    with tqdm(total=len(examples), desc="evaluating", unit="row", disable=not progress) as bar:
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            requests = [GenerationRequest(e.prompt_messages, max_new_tokens, num_beams=num_beams) for e in batch]
            for example, generation in zip(batch, model.generate_batch(requests)):
                answer = generation.text
                rows.append(
                    RowResult(
                        line=example.line,
                        id=example.id,
                        task=example.task,
                        audio=[str(clip) for clip in conversation_clips(example.prompt_messages)],
                        prompt=prompt_text(example.prompt_messages),
                        reference=example.answer,
                        answer=answer,
                        choices=example.choices,
                        scores=score_answer(example.task, answer, example.answer, example.choices),
                        subtask=str(example.meta["subtask"]) if example.meta.get("subtask") else None,
                        family=row_family(example.meta),
                    )
                )
            bar.update(len(batch))
    return rows
