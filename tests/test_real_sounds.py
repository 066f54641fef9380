"""Recorded sound events and real speech in the starter corpus, built from small fake package trees made here (the
real packages are not needed): the rule table, held-out packages, excerpts, licences, tasks and answers."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import struct
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiollm.data.starter import SIZES, build_starter, discover, format_counts
from audiollm.data.starter import real_sounds
from audiollm.data.starter.real_sounds import CLASSES, label_for, take_group
from audiollm.data.starter.real_speech import camel_words
from audiollm.data.starter.sources import report
from audiollm.data.starter.splits import hold_out

from .conftest import tone

SPLITS = ("train", "dev", "test")

# A few paths of every package, as the package ships them, and what the table makes of them (None: left out).
RULE_CASES = {
    ("hydrogen-drumkits", "ForzeeStereo/Kick (Tama Superstar 22\")/Kick-Soft.flac"): "Bass drum",
    ("hydrogen-drumkits", "The Black Pearl 1.0/Pearl Snare Rimshot/snare_rim_3.flac"): "Snare drum",
    ("hydrogen-drumkits", "Millo_MultiLayered2/Closed HH/hh_1.wav"): "Hi-hat",
    ("hydrogen-drumkits", "ColomboAcousticDrumkit/crash16inch/c.wav"): "Crash cymbal",
    ("hydrogen-drumkits", "circAfrique v4/Djembe1 Slap/d.wav"): "Drum",
    ("hydrogen-drumkits", "circAfrique v4/Sangban1 Bell Hit/b.wav"): None,
    ("hydrogen-drumkits", "HardElectro1/Kick 1/k.wav"): None,
    ("hydrogen-drumkits", "rumpf_kit_z01_h2/c#3 - stick/s.flac"): None,
    ("hydrogen-drumkits-effects", "belofilms_GuitarStrums/F#major  / B5/Fsharp major_UP_03.flac"): "Strum",
    ("scratch", "Animal/Dog1.wav"): "Dog",
    ("scratch", "Human/Laugh-male2.wav"): "Laughter",
    ("scratch", "Animal/SeaLion.mp3"): None,
    ("scratch", "Electronic/Laser1.wav"): None,
    ("minetest-data", "default/sounds/default_snow_footstep.4.ogg"): "Walk, footsteps",
    ("minetest-data", "fire/sounds/fire_fire.2.ogg"): "Fire",
    ("minetest-data", "carts/sounds/carts_cart_moving.1.ogg"): None,
    ("widelands-data", "animals/bird2_03.ogg"): "Bird",
    ("widelands-data", "farm/sheep_01.ogg"): "Sheep",
    ("widelands-data", "barbarians/taverns/inn_00.ogg"): None,
    ("scorched3d-data", "none/data/wav/misc/thunder2.wav"): "Thunder",
    ("scorched3d-data", "apoc/data/wav/misc/cessna.wav"): "Propeller, airscrew",
    ("scorched3d-data", "none/data/wav/misc/teleport.wav"): None,
    ("ufoai-sound", "sound/footsteps/gravel3.ogg"): "Walk, footsteps",
    ("ufoai-sound", "sound/misc/breakglass04.ogg"): "Shatter",
    ("ufoai-sound", "sound/aliens/ortnok/hurt1.ogg"): None,
    ("openttd-opensfx", "Modern car horn"): "Vehicle horn, car horn, honking",
    ("openttd-opensfx", "Tropical: Bird (2)"): "Bird",
    ("openttd-opensfx", "Toyland: Jet take off"): None,
    ("wesnoth-1.16-data", "horse-hit-2.ogg"): "Horse",
    ("wesnoth-1.16-data", "ambient/birds3.ogg"): "Bird",
    ("wesnoth-1.16-data", "horn-signals/horn-3.ogg"): None,
    ("hedgewars-data", "voices/Pirate/Laugh.ogg"): "Laughter",
    ("hedgewars-data", "voices/Robot/Laugh.ogg"): None,
    ("hedgewars-data", "voices/Default/Ow3.ogg"): "Grunt",
    ("lmms-common", "drums/kick_hard01.ogg"): "Bass drum",
    ("lmms-common", "instruments/violin_pizzicato01.ogg"): "Violin, fiddle",
    ("lmms-common", "basses/bass_acid01.ogg"): None,
    ("megaglest-data", "tilesets/meadow/sounds/chicken.wav"): "Chicken, rooster",
    ("megaglest-data", "tilesets/meadow/sounds/day.ogg"): None,
    ("bucklespring-data", "31-0.wav"): "Computer keyboard",
    ("supertuxkart-data", "waterfall_loop_2.ogg"): "Waterfall",
    ("supertuxkart-data", "anvil.ogg"): None,
    ("trigger-rally-data", "sounds/wind.wav"): "Wind",
    ("trigger-rally-data", "sounds/codriver/ab/Left.wav"): None,
    ("warzone2100-data", "audio/sfx/explons/explmed.ogg"): "Explosion",
    ("warzone2100-data", "audio/tutorial/tut1.ogg"): None,
}


def test_the_rule_table_names_a_few_paths_of_every_package():
    assert {package for package, _ in RULE_CASES} == set(real_sounds.PACKAGES)
    wrong = {case: label_for(*case) for case, label in RULE_CASES.items() if label_for(*case) != label}
    assert not wrong, wrong
    assert all(rule.label is None or rule.label in CLASSES for rule in real_sounds.RULES)


def test_numbered_takes_and_velocity_layers_of_one_sound_share_a_group():
    assert take_group("minetest-data", "default/sounds/default_snow_footstep.1.ogg") == \
        take_group("minetest-data", "default/sounds/default_snow_footstep.5.ogg")
    assert take_group("ufoai-sound", "sound/misc/breakglass01.ogg") == \
        take_group("ufoai-sound", "sound/misc/breakglass07.ogg")
    assert take_group("hydrogen-drumkits", "Kit/Snare/soft.flac") == take_group("hydrogen-drumkits", "Kit/Snare/hard.flac")
    assert take_group("hydrogen-drumkits", "Kit/Snare/soft.flac") != take_group("hydrogen-drumkits", "Kit/Kick/soft.flac")
    assert take_group("scratch", "Animal/Dog1.wav") != take_group("scratch", "Animal/Cat.wav")


def test_hold_out_keeps_the_largest_package_in_train_and_tests_on_another():
    split = hold_out({"Dog": {"a": 5, "b": 2, "c": 1}, "Rain": {"a": 1, "b": 3}, "Gong": {"a": 4}}, seed=0)
    assert split[("Dog", "a")] == "train" and {split[("Dog", "b")], split[("Dog", "c")]} == {"dev", "test"}
    assert split[("Rain", "b")] == "train" and split[("Rain", "a")] == "test"
    assert split[("Gong", "a")] == "train"


def test_trigger_rally_file_names_give_the_words():
    assert camel_words("LeftLongDontCutOver") == "left long don't cut over"
    assert camel_words("hairpin") == "hairpin"


def _write(path: Path, samples: np.ndarray, rate: int = 22_050) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, format={".ogg": "OGG", ".flac": "FLAC"}.get(path.suffix, "WAV"))


def _encoded(samples: np.ndarray, fmt: str, rate: int = 22_050) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt)
    return buffer.getvalue()


def _sound(seed: int, seconds: float = 0.8) -> np.ndarray:
    return tone(seconds, 200.0 + 37.0 * seed, rate=22_050)


def _openttd_catalogue(path: Path, entries: list[tuple[str, bytes]]) -> None:
    table = b""
    body = b""
    offset = 8 * len(entries)
    for credit, riff in entries:
        chunk = bytes([len(credit) + 1]) + credit.encode() + b"\0" + riff
        table += struct.pack("<II", (offset + len(body)) | 0x80000000, len(chunk))
        body += chunk
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table + body)


def _fake_packages(root: Path) -> dict[str, str]:
    """Tiny trees laid out as the packages lay theirs out, with copyright files; package -> where it installs."""
    where = {}
    scratch = root / "scratch/Media/Sounds"
    for i, name in enumerate(("Animal/Dog1.wav", "Animal/Dog2.wav", "Animal/Horse.wav", "Animal/HorseGallop.wav",
                              "Human/Footsteps-1.wav", "Effects/DoorClose.wav", "Human/Laugh-male1.wav",
                              "Animal/SeaLion.wav")):
        _write(scratch / name, _sound(i))
    where["scratch"] = str(scratch)
    mods = root / "minetest/mods"
    for i in range(1, 4):
        _write(mods / f"default/sounds/default_snow_footstep.{i}.ogg", _sound(10 + i, 0.4))
    _write(mods / "fire/sounds/fire_fire.1.ogg", _sound(20))
    _write(mods / "doors/sounds/doors_door_open.ogg", _sound(21))
    where["minetest-data"] = str(mods)
    ufo = root / "ufoai/base"
    ufo.mkdir(parents=True)
    with zipfile.ZipFile(ufo / "0snd.pk3", "w") as pk3:
        pk3.writestr("sound/footsteps/grass1.ogg", _encoded(_sound(30, 0.3), "OGG"))
        pk3.writestr("sound/footsteps/grass2.ogg", _encoded(_sound(31, 0.3), "OGG"))
        pk3.writestr("sound/ambience/fire1.ogg", _encoded(_sound(32), "OGG"))
        # A long ambience with a second of silence before it: trimmed, then cut into 10 s excerpts.
        long_fire = np.concatenate([np.zeros(22_050, np.float32), _sound(33, 24.0)])
        pk3.writestr("sound/ambience/fire.ogg", _encoded(long_fire, "OGG"))
        pk3.writestr("sound/doors/door1-open.ogg", _encoded(_sound(34), "OGG"))
    where["ufoai-sound"] = str(ufo)
    kit = root / "hydrogen/drumkits/Kit A"
    for name in ("kick_soft.wav", "kick_hard.wav", "snare.wav"):
        _write(kit / name, _sound(40 + len(name)))
    (kit / "drumkit.xml").write_text(
        '<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><instrumentList>'
        "<instrument><name>Kick</name><layer><filename>kick_soft.wav</filename></layer>"
        "<layer><filename>kick_hard.wav</filename></layer></instrument>"
        "<instrument><name>Snare</name><layer><filename>snare.wav</filename></layer></instrument>"
        "</instrumentList></drumkit_info>", encoding="utf-8")
    where["hydrogen-drumkits"] = str(kit.parent)
    lmms = root / "lmms/samples"
    _write(lmms / "drums/kick01.ogg", _sound(50))
    where["lmms-common"] = str(lmms)
    _openttd_catalogue(root / "opensfx/opensfx.cat", [
        ('"Horse". Original "neigh.wav" by "x". License: Creative Commons Attribution 3.0 Unported.',
         _encoded(_sound(60), "WAV")),
        ('"Toyland: Horse". By y. License: Creative Commons Zero 1.0.', _encoded(_sound(61), "WAV"))])
    where["openttd-opensfx"] = str(root / "opensfx")
    return where


def _fake_speech(root: Path) -> dict[str, str]:
    trigger = root / "trigger-rally"
    trigger.mkdir(parents=True)
    with zipfile.ZipFile(trigger / "data.zip", "w") as data:
        for i, call in enumerate(("ab/LeftLong.wav", "ab/Right.wav", "ab/Jump.wav", "ab/DontCut.wav",
                                  "paula/left.wav", "tim/right.wav")):
            data.writestr(f"sounds/codriver/{call}", _encoded(_sound(70 + i), "WAV"))
    warzone = root / "warzone2100"
    warzone.mkdir(parents=True)
    with zipfile.ZipFile(warzone / "base.wz", "w") as base:
        base.writestr("script/tutorial.js", '\t{"audio": "tut1.ogg", "clear": false, "message": _("Build a base"), '
                                            '"state": 0},\n\t{"audio": "tut2.ogg", "message": _("Select a truck")},')
        base.writestr("audio/tutorial/tut1.ogg", _encoded(_sound(80), "OGG"))
        base.writestr("audio/tutorial/tut2.ogg", _encoded(_sound(81), "OGG"))
    sphinx = root / "pocketsphinx"
    _write(sphinx / "librivox/a-0870.wav", _sound(90), 16_000)
    (sphinx / "librivox/transcription").write_text("<s> he was not an ill disposed young man </s> (a-0870)\n")
    _write(sphinx / "cards/001.wav", _sound(91), 16_000)
    (sphinx / "cards/cards.transcription").write_text("<s> ten of clubs  </s> (001)\n")
    return {"trigger-rally-data": str(trigger), "warzone2100-data": str(warzone),
            "pocketsphinx-testdata": str(sphinx)}


def _only(sources: dict, **where: str) -> dict:
    return {name: dataclasses.replace(s, available=name in where, where=where.get(name, ""))
            for name, s in sources.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("packages")
    doc = root / "doc"
    (doc / "scratch").mkdir(parents=True)
    (doc / "scratch/copyright").write_text("Files: *\nCopyright: MIT\nLicense: GPL-2\n\n"
                                           "Files: Help/* Media/* Projects\nCopyright: MIT\nLicense: CC-BY-SA-3.0\n")
    where = {**_fake_packages(root), **_fake_speech(root)}
    for package in set(where) - {"scratch"}:
        (doc / package).mkdir()
        (doc / package / "copyright").write_text("Files: *\nCopyright: someone\nLicense: GPL-2+\n")
    patch = pytest.MonkeyPatch()
    patch.setattr(real_sounds, "DOC_DIR", doc)
    size = dataclasses.replace(SIZES["small"], events=(None, None, None), real_speech=(None, None, None))
    result = build_starter(root / "out", size, sources=_only(discover(), **where), progress=False)
    yield result, size, where
    patch.undo()


def _rows(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_held_out_class_and_package_pairs_are_never_heard_in_train(built):
    result = built[0]
    # Fire: ufoai (two files) trains, minetest tests. Bass drum: the kit trains, LMMS tests. Horse: scratch's two
    # trains, OpenTTD's (its cartoon "Toyland" horse left out) tests. Footsteps and doors: three packages each.
    expected = {("Fire", "minetest-data", "test"), ("Bass drum", "lmms-common", "test"),
                ("Horse", "openttd-opensfx", "test")}
    assert expected <= set(result.held_out), result.held_out
    held = {(label, package) for label, package, _ in result.held_out}
    assert {split for label, _, split in result.held_out if label == "Walk, footsteps"} == {"dev", "test"}
    train = {(r["answer"], r["meta"]["source"]) for r in _rows(result.out, "train") if r["task"] == "sound_event"}
    assert train, "no sound-event rows in train"
    assert not {(label.lower(), package) for label, package in held} & train
    tested = {(r["answer"], r["meta"]["source"]) for r in _rows(result.out, "test") if r["task"] == "sound_event"}
    assert ("fire", "minetest-data") in tested and ("bass drum", "lmms-common") in tested


def test_takes_stay_in_one_split_and_every_event_row_names_its_source_and_licence(built):
    result = built[0]
    owners: dict[str, set[str]] = defaultdict(set)
    for split in SPLITS:
        for row in _rows(result.out, split):
            takes = row["meta"].get("take")
            for take in takes if isinstance(takes, list) else [takes]:
                if take:
                    owners[take].add(split)
            if row["id"].startswith("event-") and "+" not in row["id"]:
                assert row["meta"]["source"] in real_sounds.PACKAGES and row["meta"]["license"], row
    assert owners and all(len(s) == 1 for s in owners.values()), owners
    licences = {r["meta"]["source"]: r["meta"]["license"] for s in SPLITS for r in _rows(result.out, s)
                if r["task"] == "sound_event"}
    assert licences["scratch"] == "CC-BY-SA-3.0"  # from the copyright file's Media/* stanza
    assert licences["openttd-opensfx"] == "Creative Commons Attribution 3.0 Unported"  # the sound's own credit


def test_event_clips_are_16khz_trimmed_and_cut_into_excerpts_of_at_most_10_s(built):
    result = built[0]
    clips = sorted((result.out / "audio/event").glob("*.wav"))
    assert clips
    for clip in clips:
        info = sf.info(clip)
        assert info.samplerate == 16_000 and info.channels == 1 and 0.1 <= info.duration <= 10.0
    long_fire = [r for s in SPLITS for r in _rows(result.out, s)
                 if r["task"] == "sound_event" and r["meta"]["source_file"] == "ufoai-sound:sound/ambience/fire.ogg"]
    starts = sorted({r["meta"]["excerpt_s"] for r in long_fire})
    assert starts == [0.0, 10.0, 20.0]
    first = next(r for r in long_fire if r["meta"]["excerpt_s"] == 0.0)
    samples, _ = sf.read(result.out / first["audio"])
    # The second of silence before it is gone: the first 10 s window keeps 9 s of sound, loud within 50 ms.
    assert 8.9 <= len(samples) / 16_000 <= 9.1 and np.abs(samples[:800]).max() > 0.1


def test_answers_are_plain_labels_never_file_package_or_take_names(built):
    result = built[0]
    rows = [r for s in SPLITS for r in _rows(result.out, s)]
    names = set(real_sounds.PACKAGES) | {"dog1", "footstep.1", "kick_soft", "grass1", "tut1"}
    for row in rows:
        answer = row["answer"].lower()
        assert not any(n in answer for n in names), row
        if row["task"] in ("sound_event", "yesno", "compare"):
            assert not re.search(r"\d", answer), row
    events = {r["answer"] for r in rows if r["task"] == "sound_event"}
    assert {"dog", "walk, footsteps", "fire", "bass drum", "horse"} <= events


def test_event_questions_vary_their_wording_and_offer_wrong_options_from_other_groups(built):
    result = built[0]
    rows = [r for s in SPLITS for r in _rows(result.out, s) if r["id"].startswith("event-")]
    group_of = {label.lower(): group for label, group in CLASSES.items()}
    mcq = [r for r in rows if r["task"] == "mcq"]
    assert mcq
    styles = set()
    for row in mcq:
        truth = next(o for o in row["choices"] if row["answer"].startswith(o))
        assert [group_of[o] for o in row["choices"]].count(group_of[truth]) == 1, row
        styles.add("letters" if "A. " in row["prompt"] else "paren" if "(a) " in row["prompt"] else "inline")
    assert len(styles) >= 2, styles
    yesno = [r["answer"] for r in rows if r["task"] == "yesno"]
    assert "yes" in yesno and "no" in yesno
    pairs = [r for s in SPLITS for r in _rows(result.out, s) if r["task"] == "compare" and
             str(r["id"]).startswith("event-")]
    assert pairs and {r["answer"] for r in pairs} <= {"yes", "no"}


def test_real_speech_is_mostly_held_out_with_its_exact_words(built):
    result = built[0]
    speech = {s: [r for r in _rows(result.out, s) if r["id"].startswith("realspeech-")] for s in SPLITS}
    test_text = {r["answer"] for r in speech["test"]}
    assert {"Build a base", "Select a truck", "he was not an ill disposed young man", "right"} <= test_text
    assert {r["meta"]["speaker"] for r in speech["train"]} == {"trigger-rally/ab"}
    assert "ten of clubs" in {r["answer"] for r in speech["dev"]}
    ab_train = {r["answer"] for r in speech["train"]}
    ab_dev = {r["answer"] for r in speech["dev"] if r["meta"]["speaker"] == "trigger-rally/ab"}
    assert ab_train and ab_dev and not ab_train & ab_dev
    assert all(r["task"] == "asr" and r["meta"]["license"] for s in SPLITS for r in speech[s])


def test_summary_names_sources_licences_classes_and_held_out_pairs(built):
    text = format_counts(built[0])
    assert "sound_event" in text and "CC-BY-SA-3.0" in text and "scratch" in text
    assert "held out" in text and "Fire: minetest-data (test)" in text


def test_rerun_builds_nothing_new(built, tmp_path):
    result, size, where = built
    patch = pytest.MonkeyPatch()
    patch.setattr(real_sounds, "DOC_DIR", Path(where["scratch"]).parents[2] / "doc")
    try:
        again = build_starter(result.out, size, sources=_only(discover(), **where), progress=False)
    finally:
        patch.undo()
    assert again.rendered == 0 and again.reused == result.rendered + result.reused


def test_missing_packages_are_reported_with_their_apt_command():
    text = report(_only(discover()))
    assert "apt-get install -y --no-install-recommends hydrogen-drumkits" in text
    assert "apt-get install -y --no-install-recommends pocketsphinx-testdata" in text


def test_synthetic_sentences_are_read_over_recorded_sounds_of_the_same_split(tmp_path, monkeypatch):
    sources = discover()
    if not all(sources[n].available for n in ("espeak-ng", "fortunes")):
        pytest.skip("espeak-ng or fortunes not installed")
    monkeypatch.setattr(real_sounds, "DOC_DIR", tmp_path / "doc")
    where = {**_fake_packages(tmp_path / "packages"), "espeak-ng": sources["espeak-ng"].where,
             "fortunes": sources["fortunes"].where}
    size = dataclasses.replace(SIZES["small"], speech=(2, 2, 2), pairs=(0, 0, 0), questions=(0, 0, 0),
                               usage=(0, 0, 0), mixtures=(0, 0, 0), events=(None, None, None), event_mixtures=(3, 2, 2))
    result = build_starter(tmp_path / "out", size, sources=_only(sources, **where), progress=False)
    take_split = {r["meta"]["take"]: s for s in SPLITS for r in _rows(result.out, s) if r["task"] == "sound_event"}
    mixtures = {s: [r for r in _rows(result.out, s) if r["task"] == "mixture" and "background" in r["meta"]]
                for s in SPLITS}
    assert all(mixtures.values()), {s: len(m) for s, m in mixtures.items()}
    events = {label.lower() for label in CLASSES}
    for split, rows in mixtures.items():
        for row in rows:
            assert take_split[row["meta"]["take"]] == split and row["meta"]["license"]
            assert row["answer"] in events or row["answer"] == row["meta"]["sentence"], row
    info = sf.info(result.out / mixtures["test"][0]["audio"])
    assert info.samplerate == 16_000 and info.duration > 0.5
