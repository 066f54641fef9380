"""English sentences for the voices to read (from Debian's ``fortunes`` and ``wordnet-base``) and spoken questions
with short answers."""

from __future__ import annotations

import random
import re
from pathlib import Path

# Fortune files of plain quotations and sayings; jokes full of dialogue, verse and code are left out.
FORTUNE_FILES = ("fortunes", "wisdom", "literature", "people", "science", "education", "food", "pets", "work",
                 "platitudes", "humorists", "art", "computers", "miscellaneous", "love", "sports", "goedel")
MIN_WORDS, MAX_WORDS = 5, 16
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLEAN = re.compile(r"^[A-Z][A-Za-z ,;:'\-]*[A-Za-z][.!?]$")
_QUOTED = re.compile(r'"([^"]+)"')
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def fortune_sentences(directory: Path) -> list[str]:
    """Unique, speakable English sentences of 5-16 words, in a stable order (sorted)."""
    found: set[str] = set()
    for name in FORTUNE_FILES:
        path = directory / name
        if not path.is_file():
            continue
        for entry in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            # Attribution lines ("-- Mark Twain") and indented verse are not prose.
            prose = " ".join(line.strip() for line in entry.splitlines() if line.strip() and not
                             line.strip().startswith("--") and not line.startswith(("\t", "    ")))
            for sentence in _SENTENCE_END.split(prose):
                sentence = _one_line(sentence)
                if _speakable(sentence):
                    found.add(sentence)
    return sorted(found)


def wordnet_examples(directory: Path) -> list[str]:
    """WordNet's usage examples (the quoted phrases in its glosses) of 5-16 words, as sentences, in a stable order.

    Everyday English written by lexicographers: tens of thousands of sentences where the fortune files give a few
    thousand. Lines that start with spaces are the licence header.
    """
    found: set[str] = set()
    for name in WORDNET_FILES:
        path = directory / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" ") or "| " not in line:
                continue
            for example in _QUOTED.findall(line.split("| ", 1)[1]):
                sentence = _one_line(example)
                sentence = sentence[:1].upper() + sentence[1:]
                if sentence and sentence[-1] not in ".!?":
                    sentence += "."
                if _speakable(sentence):
                    found.add(sentence)
    return sorted(found)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip())


def _speakable(sentence: str) -> bool:
    """Plain prose a voice reads cleanly: a capital, letters and light punctuation, a full stop; 5-16 words."""
    return bool(_CLEAN.match(sentence)) and MIN_WORDS <= len(sentence.split()) <= MAX_WORDS


def spoken_questions(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct (question, answer) pairs a listener can answer: arithmetic, days, months, comparisons."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    makers = (_sum, _difference, _product, _next_day, _previous_day, _next_month, _larger)
    attempts = 0
    while len(pairs) < count and attempts < count * 50:
        attempts += 1
        question, answer = rng.choice(makers)(rng)
        pairs.setdefault(question, answer)
    return sorted(pairs.items())


def _sum(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(0, 12), rng.randint(0, 12)
    return f"What is {NUMBERS[a]} plus {NUMBERS[b]}?", str(a + b)


def _difference(rng: random.Random) -> tuple[str, str]:
    a, b = sorted((rng.randint(0, 12), rng.randint(0, 12)), reverse=True)
    return f"What is {NUMBERS[a]} minus {NUMBERS[b]}?", str(a - b)


def _product(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 12), rng.randint(1, 12)
    return f"What is {NUMBERS[a]} times {NUMBERS[b]}?", str(a * b)


def _next_day(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(7)
    return f"Which day of the week comes after {DAYS[i]}?", DAYS[(i + 1) % 7]


def _previous_day(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(7)
    return f"Which day of the week comes before {DAYS[i]}?", DAYS[i - 1]


def _next_month(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(12)
    return f"Which month comes after {MONTHS[i]}?", MONTHS[(i + 1) % 12]


def _larger(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(range(13), 2)
    return f"Which number is larger, {NUMBERS[a]} or {NUMBERS[b]}?", NUMBERS[max(a, b)]
