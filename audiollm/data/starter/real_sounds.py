"""Recorded sound events from game and music packages, labelled with AudioSet display names by one rule table.

Each package is read where it installs (plain files, Hydrogen drum kits, zip archives, OpenTTD's catalogue); every
audio file gets a path inside its package (for a drum kit ``kit/instrument/file``, for the catalogue the sound's
title) and the first rule of its package whose pattern matches that path gives its AudioSet name. A rule with no
name leaves the file out (its label is unclear), and so does a file no rule matches. The licence of a file comes
from its package's Debian copyright file (the last ``Files:`` stanza that matches it) or, for OpenTTD's sounds,
from the credit line each sound carries.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ...audio import SAMPLE_RATE, load_audio
from .archives import AUDIO_SUFFIXES, openttd_members, zip_members

DOC_DIR = Path("/usr/share/doc")
EXCERPT_SECONDS = 10.0
MIN_TAIL_SECONDS = 2.0  # a last excerpt shorter than this is dropped (the file's excerpts before it are kept)
MAX_EXCERPTS = 3  # a long ambience loop gives at most this many excerpts
SILENCE_DB = -40.0  # below the clip's peak: trimmed from both ends
MIN_SECONDS = 0.1

# AudioSet display name -> its top-level group in the ontology (multiple choice draws wrong options from others).
HUMAN, ANIMAL, MUSIC, THINGS, NATURE = "Human sounds", "Animal", "Music", "Sounds of things", "Natural sounds"
CLASSES: dict[str, str] = {
    "Laughter": HUMAN, "Screaming": HUMAN, "Grunt": HUMAN, "Cough": HUMAN, "Sneeze": HUMAN,
    "Baby cry, infant cry": HUMAN, "Walk, footsteps": HUMAN, "Clapping": HUMAN, "Finger snapping": HUMAN,
    "Applause": HUMAN, "Cheering": HUMAN, "Singing": HUMAN, "Beatboxing": HUMAN, "Breathing": HUMAN,
    "Dog": ANIMAL, "Cat": ANIMAL, "Horse": ANIMAL, "Donkey, ass": ANIMAL, "Cattle, bovinae": ANIMAL,
    "Sheep": ANIMAL, "Pig": ANIMAL, "Chicken, rooster": ANIMAL, "Duck": ANIMAL, "Goose": ANIMAL, "Bird": ANIMAL,
    "Owl": ANIMAL, "Canidae, dogs, wolves": ANIMAL, "Cricket": ANIMAL, "Frog": ANIMAL, "Bee, wasp, etc.": ANIMAL,
    "Roaring cats (lions, tigers)": ANIMAL,
    "Bass drum": MUSIC, "Snare drum": MUSIC, "Drum roll": MUSIC, "Hi-hat": MUSIC, "Crash cymbal": MUSIC,
    "Cymbal": MUSIC, "Drum": MUSIC, "Cowbell": MUSIC, "Tambourine": MUSIC, "Maraca": MUSIC, "Wood block": MUSIC,
    "Gong": MUSIC, "Strum": MUSIC, "Acoustic guitar": MUSIC, "Electric guitar": MUSIC, "Trumpet": MUSIC,
    "Didgeridoo": MUSIC, "Organ": MUSIC, "Piano": MUSIC, "Electric piano": MUSIC, "Flute": MUSIC,
    "Harpsichord": MUSIC, "Violin, fiddle": MUSIC, "Cello": MUSIC, "Wind chime": MUSIC,
    "Explosion": THINGS, "Gunshot, gunfire": THINGS, "Machine gun": THINGS, "Door": THINGS, "Shatter": THINGS,
    "Chink, clink": THINGS, "Hammer": THINGS, "Sawing": THINGS, "Chop": THINGS, "Jackhammer": THINGS,
    "Chainsaw": THINGS, "Computer keyboard": THINGS, "Sewing machine": THINGS, "Cash register": THINGS,
    "Jet engine": THINGS, "Propeller, airscrew": THINGS, "Helicopter": THINGS, "Train": THINGS,
    "Vehicle horn, car horn, honking": THINGS, "Car passing by": THINGS, "Motorcycle": THINGS, "Skidding": THINGS,
    "Police car (siren)": THINGS, "Fire engine, fire truck (siren)": THINGS, "Engine": THINGS,
    "Splash, splatter": THINGS, "Drip": THINGS, "Whoosh, swoosh, swish": THINGS, "Bell": THINGS,
    "Rain": NATURE, "Thunder": NATURE, "Wind": NATURE, "Fire": NATURE, "Water": NATURE, "Stream": NATURE,
    "Waterfall": NATURE, "Waves, surf": NATURE, "Steam": NATURE,
}


@dataclass(frozen=True)
class Package:
    name: str  # the Debian package
    root: Path  # where it installs its sounds
    kind: str  # files | hydrogen | zip | openttd
    archive: str = ""  # zip / openttd: the container's path under root
    skip: tuple[str, ...] = ()  # folders under root that another package installs
    licence: str = ""  # the licence its copyright file states in prose (no machine-readable Files: stanza)


PACKAGES: dict[str, Package] = {p.name: p for p in (
    Package("hydrogen-drumkits", Path("/usr/share/hydrogen/data/drumkits"), "hydrogen",
            skip=("belofilms_GuitarStrums",)),
    Package("hydrogen-drumkits-effects", Path("/usr/share/hydrogen/data/drumkits/belofilms_GuitarStrums"),
            "hydrogen"),
    Package("scratch", Path("/usr/share/scratch/Media/Sounds"), "files"),
    Package("minetest-data", Path("/usr/share/games/minetest/games/minetest_game/mods"), "files"),
    Package("widelands-data", Path("/usr/share/games/widelands/data/sound"), "files"),
    Package("scorched3d-data", Path("/usr/share/games/scorched3d/data/globalmods"), "files"),
    Package("ufoai-sound", Path("/usr/share/games/ufoai/base"), "zip", archive="0snd.pk3"),
    Package("openttd-opensfx", Path("/usr/share/games/openttd/baseset/opensfx"), "openttd", archive="opensfx.cat"),
    Package("wesnoth-1.16-data", Path("/usr/share/games/wesnoth/1.16/data/core/sounds"), "files",
            licence="GPL-2+"),
    Package("hedgewars-data", Path("/usr/share/games/hedgewars/Data/Sounds"), "files"),
    Package("lmms-common", Path("/usr/share/lmms/samples"), "files"),
    Package("megaglest-data", Path("/usr/share/games/megaglest"), "files"),
    Package("bucklespring-data", Path("/usr/share/buckle/wav"), "files"),
    Package("supertuxkart-data", Path("/usr/share/games/supertuxkart/data/sfx"), "files"),
    Package("trigger-rally-data", Path("/usr/share/games/trigger-rally"), "zip", archive="data.zip"),
    Package("warzone2100-data", Path("/usr/share/games/warzone2100"), "zip", archive="base.wz"),
)}


@dataclass(frozen=True)
class Rule:
    package: str
    pattern: str  # a regular expression searched (case-insensitively) in the file's path inside its package
    label: str | None  # an AudioSet display name, or None: left out (the path does not say clearly what it is)


def _rules(package: str, *pairs: tuple[str, str | None]) -> list[Rule]:
    return [Rule(package, pattern, label) for pattern, label in pairs]


# Hydrogen paths are kit/instrument/file: the patterns read the instrument's name, the middle part.
_KIT = "[^/]*/[^/]*"
RULES: tuple[Rule, ...] = tuple(rule for group in (
    _rules("hydrogen-drumkits",
           (r"^(ElectricEmpireKit|HardElectro1|VariBreaks)/", None),  # synthesised, not recorded
           (r"^[^/]*/Sample: ", None),
           (rf"^{_KIT}(snare roll)[^/]*/", "Drum roll"),
           (rf"^{_KIT}(kick|bass ?drum)[^/]*/", "Bass drum"),
           (rf"^{_KIT}snare[^/]*/", "Snare drum"),
           (rf"^{_KIT}\b(hh|hi[- ]?hat|hat)\b[^/]*/", "Hi-hat"),
           (rf"^{_KIT}crash[^/]*/", "Crash cymbal"),
           (rf"^{_KIT}(ride|china|splash|cymbal)[^/]*/", "Cymbal"),
           (rf"^{_KIT}cowbell[^/]*/", "Cowbell"),
           (rf"^{_KIT}(sangban|dununba|kenkeni)\d? bell[^/]*/", None),  # the iron bell on a dunun, not the drum
           (rf"^{_KIT}(\btom|tomhi|low tom|middle tom|high tom|cajon|bongo|djembe|sangban|dununba|kenkeni)[^/]*/",
            "Drum"),
           (rf"^{_KIT}tambourine[^/]*/", "Tambourine"),
           (rf"^{_KIT}clap[^/]*/", "Clapping"),
           (rf"^{_KIT}finger snap[^/]*/", "Finger snapping"),
           (rf"^{_KIT}maraca[^/]*/", "Maraca"),
           (rf"^{_KIT}woodblock[^/]*/", "Wood block"),
           (rf"^{_KIT}waterglass[^/]*/", "Chink, clink")),
    _rules("hydrogen-drumkits-effects", (r"\.flac$", "Strum")),
    _rules("scratch",
           (r"^Animal/Bird\.", "Bird"), (r"^Animal/(Cat|Kitten|Meow)\.", "Cat"), (r"^Animal/Crickets?\.", "Cricket"),
           (r"^Animal/Dog\d", "Dog"), (r"^Animal/Duck\.", "Duck"), (r"^Animal/Goose\.", "Goose"),
           (r"^Animal/Horse(Gallop)?\.", "Horse"), (r"^Animal/Owl\.", "Owl"), (r"^Animal/Rooster\.", "Chicken, rooster"),
           (r"^Animal/WolfHowl\.", "Canidae, dogs, wolves"),
           (r"^Effects/BellToll\.", "Bell"), (r"^Effects/CarPassing\.", "Car passing by"),
           (r"^Effects/Door(Close|Creak)\.", "Door"), (r"^Effects/MotorcyclePassing\.", "Motorcycle"),
           (r"^Effects/SewingMachine\.", "Sewing machine"), (r"^Effects/Typing\.", "Computer keyboard"),
           (r"^Effects/WaterDrop\.", "Drip"),
           (r"^Human/BabyCry\.", "Baby cry, infant cry"), (r"^Human/Cough-", "Cough"),
           (r"^Human/FingerSnap\.", "Finger snapping"), (r"^Human/Footsteps-", "Walk, footsteps"),
           (r"^Human/Laugh-", "Laughter"), (r"^Human/Scream-", "Screaming"), (r"^Human/Sneeze-", "Sneeze"),
           (r"^Instruments/GuitarStrum\.", "Strum"), (r"^Instruments/Trumpet\d", "Trumpet"),
           (r"^Instruments/Dijjeridoo\.", "Didgeridoo"),
           (r"^Percussion/CymbalCrash\.", "Crash cymbal"), (r"^Percussion/Gong\.", "Gong"),
           (r"^Percussion/HandClap\.", "Clapping"), (r"^Percussion/RideCymbal\.", "Cymbal"),
           (r"^Percussion/Shaker\.", "Maraca"),
           (r"^Vocals/Singer\d", "Singing"), (r"^Vocals/BeatBox\d", "Beatboxing")),
    _rules("minetest-data",
           (r"_footstep\.", "Walk, footsteps"), (r"/default_break_glass\.", "Shatter"),
           (r"/doors_(steel_|glass_)?door_(open|close)\.", "Door"), (r"/fire_(fire|large|small)\b", "Fire"),
           (r"/env_sounds_water\.", "Water"), (r"/tnt_explode\.", "Explosion"), (r"/default_dig_choppy\.", "Chop")),
    _rules("widelands-data",
           (r"^animals/bird\d", "Bird"), (r"^animals/boar\.", "Pig"), (r"^animals/(coyote|wolf)_", "Canidae, dogs, wolves"),
           (r"^animals/crickets\d", "Cricket"), (r"^animals/frog\.", "Frog"), (r"^farm/donkey\.", "Donkey, ass"),
           (r"^farm/horse_", "Horse"), (r"^farm/ox_", "Cattle, bovinae"), (r"^farm/sheep_", "Sheep"),
           (r"/saw/(benchsaw|sawing)_|^sawmill/sawmill_", "Sawing"), (r"^hammering/hammering_", "Hammer"),
           (r"^woodcutting/(fast_)?woodcutting", "Chop")),
    _rules("scorched3d-data",
           (r"^none/data/wav/explosions/(small|medium|large|xlarge|tank)\.|^apoc/data/wav/explosions/exp\.",
            "Explosion"),
           (r"/misc/(birds|birdchirp|gull)\d", "Bird"), (r"/misc/thunder\d?\.", "Thunder"), (r"/misc/rain\.", "Rain"),
           (r"/misc/wolf\.", "Canidae, dogs, wolves"), (r"/misc/splash\.", "Splash, splatter"),
           (r"/misc/oceanwaves\.", "Waves, surf"), (r"/misc/frogs\.", "Frog"),
           (r"/misc/(f16_|f18_|jet\.|t38\.)", "Jet engine"), (r"/misc/(apache_1|helicopter)\.", "Helicopter"),
           (r"/misc/cessna\.", "Propeller, airscrew"), (r"/misc/carhorn\d", "Vehicle horn, car horn, honking"),
           (r"/misc/dog\d?\.", "Dog"), (r"/misc/rooster\.", "Chicken, rooster"), (r"/misc/sheep\.", "Sheep"),
           (r"/misc/(cows|moo)\.", "Cattle, bovinae"), (r"/misc/policecar\.", "Police car (siren)"),
           (r"/misc/firetruck\.", "Fire engine, fire truck (siren)"), (r"/misc/scream(ing|\d)\.", "Screaming"),
           (r"/misc/cheeringloop\.", "Cheering"), (r"/shoot/machinegun\.", "Machine gun"),
           (r"/shoot/shotgun\.", "Gunshot, gunfire")),
    _rules("ufoai-sound",
           (r"^sound/footsteps/(carpet|dirt|grass|gravel|metal|sand|snow|stone|tile|wood)\d", "Walk, footsteps"),
           (r"^sound/ambience/(fire\d*|fire0\d|firesoft|smallfire)\.", "Fire"),
           (r"^sound/ambience/thunder\d", "Thunder"), (r"^sound/ambience/(water\d*|waterfontain)\.", "Water"),
           (r"^sound/ambience/arcticwind\.", "Wind"), (r"^sound/ambience/cricket_loop\.", "Cricket"),
           (r"^sound/ambience/steam\.", "Steam"), (r"^sound/doors/door\d-(open|close)\.", "Door"),
           (r"^sound/misc/breakglass\d", "Shatter"),
           (r"^sound/weapons/bullet-(chaingun|hmg|smg-(5|15)x|rifle-(3|8)x)", "Machine gun"),
           (r"^sound/weapons/bullet-(rifle(-1x)?|pistol2?|sniper|shotgun|smg(-1x)?)\.", "Gunshot, gunfire"),
           (r"^sound/weapons/explosion(-grenade|-rocket)?\.", "Explosion"),
           (r"^sound/(civilians|soldiers)/\w*scream", "Screaming"),
           (r"^sound/(civilians|soldiers)/\w*hurt", "Grunt"),
           (r"^sound/weapons/melee-swoosh\.", "Whoosh, swoosh, swish")),
    _rules("openttd-opensfx",
           (r"^Toyland", None),  # cartoon versions mixed from several sounds
           (r"^Sheep$", "Sheep"), (r"^Cow$", "Cattle, bovinae"), (r"^Horse$", "Horse"), (r"^Applause$", "Applause"),
           (r"^Helicopter$", "Helicopter"), (r"^Explosion$", "Explosion"),
           (r"^Modern car horn$", "Vehicle horn, car horn, honking"), (r"^Jackhammer$", "Jackhammer"),
           (r"Chainsaw$", "Chainsaw"), (r"^Sawmill$", "Sawing"), (r"^(Heavy )?wind$", "Wind"),
           (r"^Tropical: Bird", "Bird"), (r"^Tropical: Lion roar$", "Roaring cats (lions, tigers)"),
           (r"^Propeller plane start$", "Propeller, airscrew"), (r"jet take off$", "Jet engine"),
           (r"train station departure$", "Train"), (r"^Cash till$", "Cash register"),
           (r"^Steam \(of steam engine\)$", "Steam")),
    _rules("wesnoth-1.16-data",
           (r"^ambient/birds\d", "Bird"), (r"^ambient/campfire\.", "Fire"), (r"^horse-", "Horse"),
           (r"^wolf-", "Canidae, dogs, wolves"), (r"^human-(female-|old-)?hit-", "Grunt"),
           (r"^explosion\.", "Explosion")),
    _rules("hedgewars-data",
           (r"^voices/Robot/", None),  # processed into a robot voice
           (r"^voices/[^/]+/Laugh\.", "Laughter"), (r"^voices/[^/]+/(Ow\d|Ooff\d|Ouch)\.", "Grunt"),
           (r"^voices/[^/]+/PoisonCough\.", "Cough"), (r"^explosion\.", "Explosion"), (r"^steps\.", "Walk, footsteps"),
           (r"^splash\.", "Splash, splatter"), (r"^Droplet\d", "Drip"), (r"^shotgunfire\.", "Gunshot, gunfire"),
           (r"^minigun\.", "Machine gun"), (r"^bee\.", "Bee, wasp, etc.")),
    _rules("lmms-common",
           (r"^drums/(bassdrum|kick)", "Bass drum"), (r"^drums/snare", "Snare drum"), (r"^drums/hihat", "Hi-hat"),
           (r"^drums/crash", "Crash cymbal"), (r"^drums/ride", "Cymbal"), (r"^drums/tom", "Drum"),
           (r"^drums/shaker", "Maraca"), (r"^drums/clap", "Clapping"),
           (r"^instruments/(church|e)_organ", "Organ"), (r"^instruments/piano", "Piano"),
           (r"^instruments/e_piano", "Electric piano"), (r"^instruments/flute", "Flute"),
           (r"^instruments/harpsichord", "Harpsichord"), (r"^instruments/trumpet", "Trumpet"),
           (r"^instruments/violin", "Violin, fiddle"), (r"^instruments/cello", "Cello"),
           (r"^instruments/steel_guitar01\.", "Acoustic guitar"),
           (r"^instruments/steel_guitar_\w+_distorted", "Electric guitar"),
           (r"^misc/applause", "Applause"), (r"^effects/explode", "Explosion"),
           (r"^effects/wind_chimes", "Wind chime"), (r"^misc/breath", "Breathing")),
    _rules("megaglest-data",
           (r"^data/", None),  # the game's interface sounds
           (r"(^|/)tilesets/[^/]+/sounds/wolf\.", "Canidae, dogs, wolves"),
           (r"(^|/)tilesets/[^/]+/sounds/(chicken|rooster)\.", "Chicken, rooster"),
           (r"(^|/)tilesets/[^/]+/sounds/rain\.", "Rain"), (r"(^|/)tilesets/[^/]+/sounds/wind\.", "Wind"),
           (r"(^|/)tilesets/[^/]+/sounds/owl\.", "Owl"), (r"(^|/)tilesets/[^/]+/sounds/mudchute_cow", "Cattle, bovinae"),
           (r"/units/sheep/sounds/sheep", "Sheep")),
    _rules("bucklespring-data", (r"^\d+-[01]\.wav$", "Computer keyboard")),
    _rules("supertuxkart-data",
           (r"^rain\.", "Rain"), (r"^thunder\.", "Thunder"), (r"^explosion\.", "Explosion"), (r"^skid\.", "Skidding"),
           (r"^horn\.", "Vehicle horn, car horn, honking"), (r"^WilhelmScream\.", "Screaming"),
           (r"^river_loop\.", "Stream"), (r"^waterfall_loop", "Waterfall"), (r"^exotic-birds", "Bird"),
           (r"^splash\.", "Splash, splatter"), (r"^airplane_jetEngine\.", "Jet engine")),
    _rules("trigger-rally-data", (r"^sounds/wind\.", "Wind"), (r"^sounds/engine\.", "Engine")),
    _rules("warzone2100-data", (r"^audio/sfx/explons/", "Explosion")),
) for rule in group)


@dataclass(frozen=True)
class RealSound:
    package: str
    path: str  # inside the package (see the module docstring)
    label: str  # AudioSet display name
    group: str  # takes, velocity layers and copies of one sound share it: they stay in one split
    licence: str
    read: Callable[[], bytes | Path]
    digest: str = ""  # the audio's hash: the same file shipped twice is one sound


def label_for(package: str, path: str) -> str | None:
    """The AudioSet name the rule table gives ``path`` of ``package``; None when no rule names it."""
    for rule in RULES:
        if rule.package == package and re.search(rule.pattern, path, re.IGNORECASE):
            return rule.label
    return None


def take_group(package: str, path: str) -> str:
    """The sound a file is a take of: for a drum kit its instrument, else the path without take numbers."""
    if PACKAGES[package].kind == "hydrogen":
        return f"{package}/{path.rsplit('/', 1)[0]}"
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", path)
    stem = re.sub(r"([ _.-]*(\d+[a-z]?|\(\d+\)))+$", "", stem)
    return f"{package}/{stem}"


def find_real_sounds(roots: dict[str, Path]) -> list[RealSound]:
    """Every labelled file of the packages in ``roots`` (package -> where it installs), in a stable order."""
    found: list[RealSound] = []
    seen: set[str] = set()
    for name in sorted(roots):
        package = PACKAGES[name]
        stanzas = copyright_stanzas(DOC_DIR / name / "copyright", roots[name])
        for path, installed, read, credit in _members(package, roots[name]):
            label = label_for(name, path)
            if label is None:
                continue
            data = read()
            digest = hashlib.sha1(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            licence = _credit_licence(credit) or licence_for(stanzas, installed) or package.licence or "unknown"
            found.append(RealSound(name, path, label, take_group(name, path), licence, read, digest))
    return found


def _members(package: Package, root: Path) -> list[tuple[str, str, Callable[[], bytes | Path], str]]:
    """(path inside the package, path for the copyright file, reader, credit line) of each audio file."""
    if package.kind == "files":
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                       and not any(part in package.skip for part in p.relative_to(root).parts))
        return [(p.relative_to(root).as_posix(), str(p), _file(p), "") for p in files]
    if package.kind == "hydrogen":
        return _hydrogen_members(package, root)
    archive = root / package.archive
    members = zip_members(archive) if package.kind == "zip" else openttd_members(archive)
    return [(m.name, f"{archive}/{m.name}", m.read, m.credit) for m in members]


def _file(path: Path) -> Callable[[], Path]:
    return lambda: path


def _hydrogen_members(package: Package, root: Path) -> list[tuple[str, str, Callable[[], bytes | Path], str]]:
    kits = [root / "drumkit.xml"] if (root / "drumkit.xml").is_file() else sorted(root.glob("*/drumkit.xml"))
    out = []
    for xml in kits:
        if xml.parent.name in package.skip:
            continue
        tree = ET.parse(xml).getroot()
        ns = tree.tag.split("}")[0] + "}" if tree.tag.startswith("{") else ""
        for instrument in tree.iter(f"{ns}instrument"):
            name = " ".join((instrument.findtext(f"{ns}name") or "").split()).replace("/", " ")
            for element in instrument.iter(f"{ns}filename"):
                file = xml.parent / (element.text or "")
                if name and element.text and file.is_file():
                    out.append((f"{xml.parent.name}/{name}/{file.name}", str(file), _file(file), ""))
    return out


def copyright_stanzas(copyright_file: Path, root: Path) -> list[tuple[list[str], str]]:
    """The ``Files:`` patterns and short licence name of each stanza of a machine-readable copyright file."""
    if not copyright_file.is_file():
        return []
    stanzas = []
    for block in re.split(r"\n\s*\n", copyright_file.read_text(encoding="utf-8", errors="replace")):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", block, re.MULTILINE)
        licence = re.search(r"^License:[ \t]*(\S[^\n]*)", block, re.MULTILINE)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1).strip()))
    return stanzas


def licence_for(stanzas: list[tuple[list[str], str]], installed: str) -> str:
    """The licence of the last stanza matching ``installed``: a pattern names the file by its source path, so it
    matches the end of the installed path; a Hydrogen kit archive (``kit.h2drumkit``) matches what it unpacks to
    (``kit/...``, ``kit v4/...``)."""
    found = ""
    for patterns, licence in stanzas:
        for pattern in patterns:
            unpacked = pattern.removesuffix(".h2drumkit") + "*/*" if pattern.endswith(".h2drumkit") else pattern
            if pattern == "*" or fnmatch.fnmatchcase(installed, "*/" + pattern) or \
                    fnmatch.fnmatchcase(installed, "*/" + unpacked):
                found = licence
    return found


def _credit_licence(credit: str) -> str:
    match = re.search(r"License: ([^.]+(?:\.\d[^.]*)?)", credit)
    return match.group(1).strip() if match else ""


def duration(sound: RealSound) -> float:
    """Seconds of audio in the file, read from its header."""
    data = sound.read()
    return float(sf.info(io.BytesIO(data) if isinstance(data, bytes) else data).duration)


def excerpt_starts(seconds: float) -> list[float]:
    """Where each excerpt of a file this long starts: every 10 s, the last one only if 2 s or more remain."""
    starts = [0.0]
    while len(starts) < MAX_EXCERPTS and seconds - (starts[-1] + EXCERPT_SECONDS) >= MIN_TAIL_SECONDS:
        starts.append(starts[-1] + EXCERPT_SECONDS)
    return starts


def decode(sound: RealSound) -> np.ndarray:
    """The whole file as 16 kHz mono float32."""
    data = sound.read()
    samples, rate = sf.read(io.BytesIO(data) if isinstance(data, bytes) else data, dtype="float32",
                            always_2d=True)
    return load_audio((samples.mean(axis=1), rate))


def excerpt(samples: np.ndarray, start_s: float) -> np.ndarray:
    """Up to 10 s from ``start_s``, with leading and trailing silence trimmed; raises when nothing is left."""
    piece = trim_silence(samples[int(start_s * SAMPLE_RATE):int((start_s + EXCERPT_SECONDS) * SAMPLE_RATE)])
    if piece.size < MIN_SECONDS * SAMPLE_RATE:
        raise ValueError(f"excerpt at {start_s:.0f} s is silent or shorter than {MIN_SECONDS} s")
    return piece


def trim_silence(samples: np.ndarray, frame: int = 160) -> np.ndarray:
    """Drop the 10 ms frames at each end whose peak is more than 40 dB below the clip's peak."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak == 0.0:
        return samples[:0]
    frames = np.abs(samples[: samples.size // frame * frame]).reshape(-1, frame).max(axis=1)
    loud = np.flatnonzero(frames > peak * 10 ** (SILENCE_DB / 20))
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] * frame:(loud[-1] + 1) * frame]
