"""English text normalisation for scoring, following the Whisper English normaliser's rules.

The rules are transformers' port of openai-whisper's ``EnglishTextNormalizer``: lower case, bracketed and filler
words ("hmm", "uh") removed, contractions expanded, number words turned into digits, British spellings made
American, punctuation dropped and whitespace collapsed. Scoring both sides with the same published rules keeps WER
comparable with the numbers other papers report.

``english_spelling.json`` is openai-whisper's British-to-American spelling map (MIT licence, Copyright (c) 2022
OpenAI), shipped here so that the package does not depend on openai-whisper.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from importlib import resources

from transformers.models.whisper.english_normalizer import EnglishTextNormalizer


@functools.cache
def _normalizer() -> EnglishTextNormalizer:
    mapping = json.loads(resources.files(__package__).joinpath("english_spelling.json").read_text(encoding="utf-8"))
    return EnglishTextNormalizer(mapping)


def normalize_english(text: str) -> str:
    """``text`` under the Whisper English normaliser's rules; single spaces between words."""
    return " ".join(_normalizer()(text).split())


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize_english(text).split()


def normalize_answer(text: str) -> str:
    """A short answer for matching: case-folded, punctuation and symbols dropped, whitespace collapsed.

    Lighter than :func:`normalize_english` on purpose: that one drops bracketed text and the ``#`` of "C# major",
    and keeps no distinction a short answer may hinge on. ``#`` and ``♯`` are kept (as ``#``); articles are kept, so
    "A minor" stays a key.
    """
    text = unicodedata.normalize("NFKC", text).casefold().replace("♯", "#")
    kept = (c if c == "#" or not unicodedata.category(c).startswith(("P", "S")) else " " for c in text)
    return " ".join("".join(kept).split())
