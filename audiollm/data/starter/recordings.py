"""Real recordings of spoken words (``ktuberling-data``) and letters/syllables (``klettres-data``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = {
    "ar": "Arabic", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "en_GB": "English", "es": "Spanish", "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician",
    "he": "Hebrew", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "lt": "Lithuanian", "ml": "Malayalam",
    "nb": "Norwegian", "nds": "Low German", "nl": "Dutch", "nn": "Norwegian", "pt": "Portuguese",
    "pt_BR": "Portuguese", "ro": "Romanian", "ru": "Russian", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish",
    "tn": "Tswana", "uk": "Ukrainian", "wa": "Walloon",
}


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str  # what is said: the word, letter or syllable
    language: str  # English name of the language
    meaning: str  # the English word it names (ktuberling) or the text itself (klettres)
    source: str  # ktuberling | klettres


def ktuberling_words(root: Path) -> list[Recording]:
    """Words from every ``*.soundtheme``; the spoken word is the file name after its scene prefix."""
    found: dict[Path, Recording] = {}
    for theme in sorted(root.glob("*.soundtheme")):
        for code, name, file in _sounds(theme):
            word = Path(file).stem.rsplit("_", 1)[-1].replace("-", " ").strip()
            language = LANGUAGES.get(code)
            # Some themes reuse another language's files; a file is counted once, under its first theme.
            if word and language and (root / file).is_file() and root / file not in found:
                found[root / file] = Recording(root / file, word, language, name.replace("_", " "), "ktuberling")
    return list(found.values())


def klettres_sounds(root: Path) -> list[Recording]:
    """Letters and syllables from each language's ``sounds.xml``."""
    found = []
    for catalogue in sorted(root.glob("*/sounds.xml")):
        for code, name, file in _sounds(catalogue):
            language = LANGUAGES.get(code or catalogue.parent.name)
            if name.strip() and language and (root / file).is_file():
                found.append(Recording(root / file, name.strip(), language, name.strip(), "klettres"))
    return found


def _sounds(path: Path) -> list[tuple[str, str, str]]:
    """(language code, name, file) for each ``<sound>``; an unreadable catalogue gives none."""
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError):
        return []
    out = []
    for language in tree.iter("language"):
        code = language.get("code", "")
        for sound in language.iter("sound"):
            name, file = sound.get("name"), sound.get("file")
            if name and file:
                out.append((code, name, file))
    return out
