"""Instructions and short checkable answers for each kind of clip (see the package docstring for the task names)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..manifest import example_row
from .instructions import PROMPTS, multiple_choice, multiple_choice_varied
from .real_sounds import CLASSES

MCQ_STYLES = ("letters", "paren", "inline")


@dataclass
class Clip:
    """One rendered audio file with its labels; ``meta`` holds the leakage keys (voice, sentence, sample, ...)."""

    id: str
    family: str  # speech | question | word | sound | event | real_speech | music | mixture
    audio: str  # path relative to the corpus root
    split: str
    labels: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def rows_for(clip: Clip, rng: random.Random, pools: dict[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Every row a single clip gives; ``pools`` holds the same split's alternatives for distractors."""
    lab = clip.labels
    rows: list[tuple[Any, ...]] = []  # (task, prompt, answer[, choices])
    if clip.family == "speech":
        rows.append(("asr", _ask("asr", rng), lab["text"]))
        rows.append(_mcq("Which sentence is spoken?", lab["text"], pools["sentence"], rng))
        rows.append(_yesno(f"Does the speaker say: \"{_other(lab['text'], pools['sentence'], rng)}\"?",
                           f"Does the speaker say: \"{lab['text']}\"?", rng))
    elif clip.family == "question":
        rows.append(("spoken_qa", _ask("spoken_qa", rng), lab["answer"]))
        rows.append(("asr", _ask("asr", rng), lab["text"]))
    elif clip.family == "word":
        rows.append(("word", _ask("letter" if lab["source"] == "klettres" else "word", rng), lab["text"]))
        rows.append(("language", _ask("language", rng), lab["language"]))
        rows.append(_mcq("Which language is spoken?", lab["language"], pools["language"], rng))
    elif clip.family == "sound":
        rows.append(("sound_class", _ask("sound_class", rng), lab["category"]))
        rows.append(("caption", _ask("caption", rng), lab["caption"]))
        rows.append(_mcq("What is the sound?", lab["category"], pools["category"], rng))
        rows.append(_yesno(f"Is this the sound of a {_other(lab['category'], pools['category'], rng)}?",
                           f"Is this the sound of a {lab['category']}?", rng))
    elif clip.family == "event":
        rows += _event_rows(lab["event"], pools["event"], rng)
    elif clip.family == "real_speech":
        rows.append(("asr", _ask("asr", rng), lab["text"]))
    elif clip.family == "music":
        rows.append(("instrument", _ask("instrument", rng), lab["instrument"]))
        rows.append(("key", _ask("key", rng), lab["key"]))
        rows.append(("tempo", _ask("tempo", rng), f"{lab['tempo']} BPM"))
        rows.append(("meter", _ask("meter", rng), lab["time_signature"]))
        rows.append(("composer", _ask("composer", rng), lab["composer"]))
        rows.append(_mcq("Which instrument is playing?", lab["instrument"], pools["instrument"], rng))
        rows.append(_yesno(f"Is this music {_other(lab['tempo_word'], ('slow', 'moderate', 'fast'), rng)}?",
                           f"Is this music {lab['tempo_word']}?", rng))
    elif clip.family == "mixture":
        rows.append(("mixture", _ask("mixture_speech", rng), lab["text"]))
        rows.append(("mixture", _ask("mixture_background", rng), lab["category"]))
    else:
        raise ValueError(f"unknown clip family {clip.family!r}")
    return [example_row(clip.audio, prompt, answer, task, id=f"{clip.id}#{i}", meta=clip.meta,
                        **({"choices": choices} if choices else {}))
            for i, (task, prompt, answer, choices) in enumerate(_with_choices(rows))]


def compare_row(first: Clip, second: Clip, rng: random.Random) -> dict[str, Any]:
    """A two-audio question about two clips of the same family and split."""
    a, b = first.labels, second.labels
    if first.family == "music":
        prompt = rng.choice(("Which clip is faster, the first or the second?",
                             "Listen to both pieces. Which one has the quicker tempo: first or second?"))
        answer = "the first" if a["tempo"] > b["tempo"] else "the second"
    elif first.family == "event":
        prompt = rng.choice(("Are these two sounds the same kind of sound?",
                             "Do both clips contain the same kind of sound? Answer yes or no.",
                             "Is the same thing making the sound in both recordings?"))
        answer = "yes" if a["event"] == b["event"] else "no"
    elif first.family == "sound":
        prompt = rng.choice(("Are these two sounds the same kind of sound?",
                             "Do both clips contain the same kind of sound? Answer yes or no."))
        answer = "yes" if a["category"] == b["category"] else "no"
    else:
        prompt = rng.choice(("Do the two speakers say the same sentence?",
                             "Is the same sentence spoken in both clips? Answer yes or no."))
        answer = "yes" if a["text"] == b["text"] else "no"
    meta = {k: [first.meta.get(k), second.meta.get(k)] for k in sorted(set(first.meta) | set(second.meta))}
    return example_row([first.audio, second.audio], prompt, answer, "compare", id=f"{first.id}+{second.id}",
                       meta=meta)


def plain(label: str) -> str:
    """An AudioSet display name as an answer in plain words: "Dog" -> "dog"."""
    return label.lower()


def _event_rows(label: str, pool: Sequence[str], rng: random.Random) -> list[tuple[Any, ...]]:
    """An open question, a four-way choice whose wrong options are from other AudioSet top-level groups (a bird
    call is not offered against an owl), and a yes/no question that is false half of the time."""
    rows: list[tuple[Any, ...]] = [("sound_event", _ask("sound_event", rng), plain(label))]
    others = sorted({plain(x) for x in pool if CLASSES[x] != CLASSES[label]})
    if len(others) >= 3:
        options = rng.sample(others, 3) + [plain(label)]
        rng.shuffle(options)
        question = rng.choice(("What is making this sound?", "Which of these do you hear?", "What is this sound?"))
        prompt, answer = multiple_choice_varied(question, options, plain(label), rng.choice(MCQ_STYLES))
        rows.append(("mcq", prompt, answer, options))
    wrong = plain(_other(label, [x for x in pool if CLASSES[x] != CLASSES[label]], rng))
    forms = ("Is this the sound of: {}?", "Do you hear this: {}?", "Is the sound in this clip {}?")
    form = rng.choice(forms)
    rows.append(_yesno(form.format(wrong), form.format(plain(label)), rng))
    return rows


def _ask(task: str, rng: random.Random) -> str:
    return rng.choice(PROMPTS[task])


def _other(truth: str, pool: Sequence[str], rng: random.Random) -> str:
    others = [p for p in pool if p != truth]
    return rng.choice(others) if others else truth


def _yesno(false_question: str, true_question: str, rng: random.Random) -> tuple[str, str, str]:
    # The false form falls back to the true question when the pool has no alternative; the answer follows suit.
    if rng.random() < 0.5 or false_question == true_question:
        return ("yesno", true_question + " Answer yes or no.", "yes")
    return ("yesno", false_question + " Answer yes or no.", "no")


def _mcq(question: str, truth: str, pool: Sequence[str], rng: random.Random) -> tuple[str, str, str, list[str]]:
    distractors = sorted(set(pool) - {truth})
    options = rng.sample(distractors, min(3, len(distractors))) + [truth]
    rng.shuffle(options)
    prompt, answer = multiple_choice(question, options, truth)
    return ("mcq", prompt, answer, options)


def _with_choices(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Pad (task, prompt, answer) to (task, prompt, answer, None); multiple-choice rows already carry options."""
    return [row if len(row) == 4 else (*row, None) for row in rows]
