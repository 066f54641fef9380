"""Real recorded speech with its exact words: Warzone 2100's tutorial lines (text in ``script/tutorial.js``),
Trigger Rally's co-driver calls (the words are the CamelCase file name) and PocketSphinx's transcribed test clips.

Nearly all of it is held out: the tutorial lines, the LibriVox clips and one co-driver are test, the card-game
clips, a second co-driver and half of the main co-driver's calls are dev; train hears only the other half of the
main co-driver's calls (one speaker, and none of the calls dev hears from him).
"""

from __future__ import annotations

import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .archives import zip_members

WARZONE_DIR = Path("/usr/share/games/warzone2100")
TRIGGER_DIR = Path("/usr/share/games/trigger-rally")
POCKETSPHINX_DIR = Path("/usr/share/pocketsphinx/test/data")
LICENCES = {"warzone2100-data": "GPL-2+", "trigger-rally-data": "GPL-2+", "pocketsphinx-testdata": "BSD-2"}
# Trigger Rally's co-drivers: "ab" recorded every call (his compound calls may be spliced from single words).
TRIGGER_SPLITS = {"tim": "test", "paula": "dev"}
TRIGGER_SHARED = "ab"  # half of his calls train, half dev


@dataclass(frozen=True)
class Utterance:
    package: str
    speaker: str
    name: str  # the file inside the package
    text: str
    split: str
    read: Callable[[], bytes | Path]


def warzone_lines(root: Path) -> list[Utterance]:
    """Tutorial lines whose audio ``script/tutorial.js`` pairs with a message: ``"audio": "tutN.ogg"`` then
    ``"message": _("...")`` in one entry."""
    archive = root / "base.wz"
    with zipfile.ZipFile(archive) as handle:
        script = handle.read("script/tutorial.js").decode("utf-8")
    texts = dict(re.findall(r'"audio"\s*:\s*"([^"]+)"[^{}]*?"message"\s*:\s*_\("((?:[^"\\]|\\.)*)"\)', script))
    members = {m.name.rsplit("/", 1)[-1]: m for m in zip_members(archive, "audio/tutorial/")}
    return [Utterance("warzone2100-data", "warzone2100/tutorial", members[f].name, text.replace('\\"', '"'), "test",
                      members[f].read)
            for f, text in sorted(texts.items()) if f in members]


def camel_words(stem: str) -> str:
    """``LeftLongDontCutOver`` -> ``left long don't cut over``."""
    words = [w.lower() for w in re.findall(r"[A-Z][a-z]*|[a-z]+", stem)]
    return " ".join("don't" if w == "dont" else w for w in words)


def trigger_calls(root: Path, seed: int) -> list[Utterance]:
    found = []
    for member in zip_members(root / "data.zip", "sounds/codriver/"):
        speaker, file = member.name.split("/")[-2:]
        stem = file.rsplit(".", 1)[0]
        found.append((speaker, member, camel_words(stem)))
    shared = sorted({text for speaker, _, text in found if speaker == TRIGGER_SHARED})
    random.Random(f"{seed}:trigger-calls").shuffle(shared)
    in_train = set(shared[: len(shared) // 2])
    out = []
    for speaker, member, text in sorted(found, key=lambda f: f[1].name):
        split = TRIGGER_SPLITS.get(speaker) or ("train" if text in in_train else "dev")
        out.append(Utterance("trigger-rally-data", f"trigger-rally/{speaker}", member.name, text, split, member.read))
    return out


def pocketsphinx_clips(root: Path) -> list[Utterance]:
    """LibriVox (test) and card-game (dev) clips with their transcriptions (``<s> words </s> (id)`` lines)."""
    out = []
    for folder, listing, split in (("librivox", "transcription", "test"), ("cards", "cards.transcription", "dev")):
        for line in (root / folder / listing).read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*<s>(.*)</s>\s*\((\S+)\)", line)
            if match and (root / folder / f"{match.group(2)}.wav").is_file():
                path = root / folder / f"{match.group(2)}.wav"
                out.append(Utterance("pocketsphinx-testdata", f"pocketsphinx/{folder}", f"{folder}/{path.name}",
                                     " ".join(match.group(1).split()), split, _file(path)))
    return out


def _file(path: Path) -> Callable[[], Path]:
    return lambda: path
