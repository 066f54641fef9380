"""Scoring one answer against its reference, and which metrics each task gets.

Every metric returns a :class:`Tally` (numerator, denominator); a task's score is the sum of numerators over the sum
of denominators. For accuracies that is the mean; for WER and CER it is the corpus error rate (all errors over all
reference words), which is how ASR results are reported, not a mean of per-row rates.

Metrics (fixed, so that scores are reproducible and comparable between runs):

- ``wer`` / ``cer``: word / character edit distance over the reference length, both sides under the Whisper English
  normaliser (:func:`~audiollm.eval.normalize.normalize_english`). CER counts characters of the normalised text,
  single spaces included.
- ``exact``: the normalised answer equals the normalised reference (:func:`~audiollm.eval.normalize.
  normalize_answer`).
- ``contains``: the normalised reference occurs in the normalised answer as a whole-word span ("a dog" contains
  "dog", "hotdog" does not).
- ``choice``: multiple choice, answer and reference parsed by :func:`parse_choice`; unparseable is wrong.
- ``yesno``: answer and reference parsed by :func:`parse_yesno`; unparseable is wrong.
- ``compare``: two-clip questions: a yes/no reference is scored as ``yesno``, a "the first" / "the second" one by
  :func:`parse_ordinal`.
- ``bleu``: sentence BLEU-4 on normalised words, uniform weights, brevity penalty, add-one smoothing of the 2- to
  4-gram precisions (Lin and Och, 2004) so that short captions do not score zero.
- ``rouge_l``: F1 of the longest common word subsequence.
- ``keyword_recall``: the share of the reference's content words (stop words removed) that the answer contains.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

from .normalize import normalize_answer, normalize_english

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

STOP_WORDS = frozenset(
    "a an the and or but of in on at to for from by with without into onto over under while as is are was were be "
    "been being it its this that these those there here then than so very some any can could may might will would "
    "has have had do does did not no".split()
)


@dataclasses.dataclass(frozen=True)
class Tally:
    """One row's contribution to a metric: ``value`` over ``count`` (an accuracy is ``(1 or 0, 1)``)."""

    value: float
    count: float

    @property
    def score(self) -> float | None:
        return self.value / self.count if self.count else None


def aggregate(tallies: Sequence[Tally]) -> float | None:
    """Many rows' score pooled (total value over total count); None when no row counted."""
    return Tally(sum(t.value for t in tallies), sum(t.count for t in tallies)).score


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    # (answer, reference, choices) -> Tally
    score: Callable[[str, str, Sequence[str] | None], Tally]


# ---- edit distances ---------------------------------------------------------------------------------------


def edit_distance(reference: Sequence[object], hypothesis: Sequence[object]) -> int:
    """Levenshtein distance: substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_errors(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    ref, hyp = normalize_english(reference).split(), normalize_english(answer).split()
    return Tally(edit_distance(ref, hyp), len(ref))


def char_errors(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    ref, hyp = normalize_english(reference), normalize_english(answer)
    return Tally(edit_distance(ref, hyp), len(ref))


# ---- short answers ----------------------------------------------------------------------------------------


def exact_match(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    return Tally(float(normalize_answer(answer) == normalize_answer(reference)), 1)


def contains_match(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    ref, hyp = normalize_answer(reference), normalize_answer(answer)
    return Tally(float(_contains_words(hyp, ref)), 1)


def _contains_words(text: str, span: str) -> bool:
    """Whether ``span`` occurs in ``text`` on word boundaries (both already normalised); an empty span only in ""."""
    if not span:
        return not text
    return f" {span} " in f" {text} "


# ---- multiple choice --------------------------------------------------------------------------------------

# An option label in a choice string ("B. dog", "(B) dog", "B) dog", "B: dog").
_LABEL = re.compile(r"^\s*\(?([A-Z])[.):]\s*")
# A letter that stands as an option label: "(B)", a leading "B." / "B)" / "B:", or "answer/option/choice [is] B".
_LETTER_PATTERNS = (
    re.compile(r"\(([A-Za-z])\)"),
    re.compile(r"^\s*([A-Z])[.):](?:\s|$)"),
    # Case-sensitive letter, and only where it ends the phrase, so "the answer is a dog" names no letter.
    re.compile(r"\b(?i:answer|option|choice)(?:\s+(?i:is))?\s*:?\s*([A-Z])(?=[.):,;!]|\s*$)"),
)


def option_texts(choices: Sequence[str]) -> list[str]:
    """The choices without their "A." / "(B)" labels; options are lettered A, B, C... in the order given."""
    return [_LABEL.sub("", choice, count=1).strip() for choice in choices]


def parse_choice(answer: str, choices: Sequence[str]) -> int | None:
    """The index of the option ``answer`` picks, or ``None`` when it picks none or more than one.

    The benchmarks' own scorers differ: AIR-Bench-Foundation takes the letter a response starts with (or that ends
    it, as in "The answer is A.") and asks a GPT judge about any other response; MMAU counts a response right when it
    holds every word of the right option and no word that only a wrong option has. Here both steps are fixed and
    local (no judge): the letter first, then the option text.

    1. Letter. The whole answer is one letter of an option, in either case and with punctuation ("b", "(B)", "B.");
       or the answer labels one option: "(B)" anywhere, a leading "B." / "B)" / "B:", or "answer is B" /
       "option B" ending a phrase. Two different labelled letters ("(A) or (C)", "A. no, (B)") pick none.
    2. Text. Otherwise, the options whose text occurs in the answer as whole words (after
       :func:`~audiollm.eval.normalize.normalize_answer`: "Dog." picks "dog"). Where one matching option's text
       contains another's ("hot dog" and "dog"), the longer wins; two unrelated matches pick none.

    A letter that disagrees with the text that follows it ("A. dog" when dog is B) counts as the letter. Unlike
    AIR-Bench's first-character rule, a bare leading capital is not a letter: "A dog barks" picks the dog option.
    """
    count = len(choices)
    bare = normalize_answer(answer).upper()
    if len(bare) == 1 and bare in LETTERS[:count]:
        return LETTERS.index(bare)
    letters = {m.upper() for pattern in _LETTER_PATTERNS for m in pattern.findall(answer)}
    letters &= set(LETTERS[:count])
    if len(letters) == 1:
        return LETTERS.index(letters.pop())
    if len(letters) > 1:
        return None
    text = normalize_answer(answer)
    options = [normalize_answer(o) for o in option_texts(choices)]
    found = {i for i, option in enumerate(options) if option and _contains_words(text, option)}
    found = {i for i in found if not any(j != i and _contains_words(options[j], options[i]) and options[j] != options[i]
                                         for j in found)}
    return found.pop() if len(found) == 1 else None


def choice_match(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    if not choices:
        raise ValueError("a multiple-choice row needs its 'choices'")
    expected = parse_choice(reference, choices)
    if expected is None:
        raise ValueError(f"the reference {reference!r} names none of the choices {list(choices)}")
    return Tally(float(parse_choice(answer, choices) == expected), 1)


# ---- yes / no ---------------------------------------------------------------------------------------------

_YES = frozenset({"yes", "yeah", "yep", "true", "correct"})
_NO = frozenset({"no", "nope", "false", "incorrect"})


def parse_yesno(text: str) -> str | None:
    """``"yes"``, ``"no"`` or ``None``: the first word if it is one of yes/yeah/yep/true/correct or no/nope/false/
    incorrect, otherwise the one kind such words in the text agree on ("It is, yes" -> yes; "maybe yes, maybe no"
    -> None)."""
    tokens = normalize_answer(text).split()
    if tokens and tokens[0] in _YES | _NO:
        return "yes" if tokens[0] in _YES else "no"
    kinds = {"yes" if t in _YES else "no" for t in tokens if t in _YES | _NO}
    return kinds.pop() if len(kinds) == 1 else None


def yesno_match(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    expected = parse_yesno(reference)
    if expected is None:
        raise ValueError(f"the reference {reference!r} is neither yes nor no")
    return Tally(float(parse_yesno(answer) == expected), 1)


# ---- two clips ---------------------------------------------------------------------------------------------

_ORDINALS = {"first": "first", "1st": "first", "former": "first", "second": "second", "2nd": "second",
             "latter": "second"}


def parse_ordinal(text: str) -> str | None:
    """``"first"``, ``"second"`` or ``None``: which clip the text names ("The second one." -> second); naming both
    ("the first is slower than the second") or neither is ``None``."""
    kinds = {_ORDINALS[t] for t in normalize_answer(text).split() if t in _ORDINALS}
    return kinds.pop() if len(kinds) == 1 else None


def compare_match(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    if parse_yesno(reference) is not None:
        return yesno_match(answer, reference)
    expected = parse_ordinal(reference)
    if expected is None:
        raise ValueError(f"the reference {reference!r} is neither yes/no nor the first/the second")
    return Tally(float(parse_ordinal(answer) == expected), 1)


# ---- captions ---------------------------------------------------------------------------------------------


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(answer: str, reference: str, choices: Sequence[str] | None = None, max_n: int = 4) -> Tally:
    hyp, ref = normalize_english(answer).split(), normalize_english(reference).split()
    if not hyp or not ref:
        return Tally(float(hyp == ref), 1)
    log_precision = 0.0
    for n in range(1, max_n + 1):
        hyp_ngrams, ref_ngrams = _ngrams(hyp, n), _ngrams(ref, n)
        matched = sum(min(c, ref_ngrams[g]) for g, c in hyp_ngrams.items())
        total = sum(hyp_ngrams.values())
        if n > 1:
            matched, total = matched + 1, total + 1
        if matched == 0:
            return Tally(0.0, 1)
        log_precision += math.log(matched / total) / max_n
    brevity = min(0.0, 1 - len(ref) / len(hyp))
    return Tally(math.exp(brevity + log_precision), 1)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    hyp, ref = normalize_english(answer).split(), normalize_english(reference).split()
    if not hyp or not ref:
        return Tally(float(hyp == ref), 1)
    common = _lcs_length(hyp, ref)
    if common == 0:
        return Tally(0.0, 1)
    precision, recall = common / len(hyp), common / len(ref)
    return Tally(2 * precision * recall / (precision + recall), 1)


def keyword_recall(answer: str, reference: str, choices: Sequence[str] | None = None) -> Tally:
    keywords = {w for w in normalize_english(reference).split() if w not in STOP_WORDS}
    found = keywords & set(normalize_english(answer).split())
    return Tally(len(found), len(keywords))


# ---- the tables -------------------------------------------------------------------------------------------

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("wer", False, word_errors),
        Metric("cer", False, char_errors),
        Metric("exact", True, exact_match),
        Metric("contains", True, contains_match),
        Metric("choice", True, choice_match),
        Metric("yesno", True, yesno_match),
        Metric("compare", True, compare_match),
        Metric("bleu", True, bleu),
        Metric("rouge_l", True, rouge_l),
        Metric("keyword_recall", True, keyword_recall),
    )
}

SHORT_ANSWER = ("exact", "contains")
CAPTION = ("bleu", "rouge_l", "keyword_recall")

# Task -> its metrics; the first is the task's headline score (the bar chart's, and the comparison's).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "asr": ("wer", "cer"),
    "word": SHORT_ANSWER,
    "language": SHORT_ANSWER,
    "sound_class": SHORT_ANSWER,
    "instrument": SHORT_ANSWER,
    "key": SHORT_ANSWER,
    "tempo": SHORT_ANSWER,
    "composer": SHORT_ANSWER,
    "meter": SHORT_ANSWER,
    "spoken_qa": SHORT_ANSWER,
    "compare": ("compare",),
    # Mixture rows either transcribe the speech or name the background sound: keyword recall credits the words
    # recovered in both kinds.
    "mixture": ("keyword_recall", *SHORT_ANSWER),
    "caption": CAPTION,
    "mcq": ("choice",),
    "yesno": ("yesno",),
    # Text replay: the reference is the base LLM's own answer, so closeness to it is how much of it was kept.
    "text": ("rouge_l", "exact"),
}
DEFAULT_METRICS = SHORT_ANSWER


def task_metrics(task: str | None) -> tuple[str, ...]:
    """The metrics a task is scored with; unknown or missing tasks get exact and contains match."""
    return TASK_METRICS.get(task or "", DEFAULT_METRICS)


def score_answer(
    task: str | None, answer: str, reference: str, choices: Sequence[str] | None = None
) -> dict[str, Tally]:
    """Every metric of ``task`` for one answer."""
    return {name: METRICS[name].score(answer, reference, choices) for name in task_metrics(task)}
