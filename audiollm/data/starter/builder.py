"""The resumable, deterministic starter-corpus builder: plan clips, render what is missing, write the manifests."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ...audio import SAMPLE_RATE, load_audio
from ...cache import atomic_file
from ..manifest import write_manifest
from . import music, real_sounds, real_speech, recordings, sounds, text
from .mixtures import SNRS_DB, mix
from .sources import Source, discover, report
from .splits import SPLITS, assign, by_split, hold_out
from .tasks import Clip, compare_row, plain, rows_for
from .voices import Voice, available_voices

PerSplit = tuple[int | None, int | None, int | None]  # clips for train, dev, test; None means all there are
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class Size:
    speech: PerSplit
    # WordNet usage examples read in train only: sentences the model cannot learn by heart, while dev and test stay
    # the fortune sentences every release is measured on.
    usage: PerSplit
    pairs: PerSplit  # sentences spoken by a second voice, for same/different comparisons
    questions: PerSplit
    words: PerSplit
    sounds: PerSplit
    # Sounds from the Oxygen theme and LMMS's samples, in train only: more kinds and makes of sound to learn from,
    # while dev and test stay the clips every release is measured on.
    extra_sounds: PerSplit
    music: PerSplit
    # Instruments each score is rendered with: more than one in train makes the timbre, not the score, tell the
    # instrument apart; dev and test keep one.
    renderings: PerSplit
    mixtures: PerSplit
    # Recorded sound events (AudioSet names) and real speech with its words; see real_sounds and real_speech.
    events: PerSplit
    real_speech: PerSplit
    event_mixtures: PerSplit  # synthetic speech over a recorded sound event of the same split


# A class's clips from one package, at most: a package with hundreds of takes of one sound (a keyboard, guitar
# strums) would otherwise fill its class.
MAX_CLIPS_PER_SOURCE = 40

SIZES = {
    "small": Size(speech=(40, 8, 8), usage=(8, 0, 0), pairs=(6, 2, 2), questions=(16, 4, 4), words=(40, 8, 8),
                  sounds=(24, 6, 6), extra_sounds=(8, 0, 0), music=(6, 2, 2), renderings=(1, 1, 1),
                  mixtures=(8, 3, 3), events=(60, 20, 20), real_speech=(8, 8, 8), event_mixtures=(6, 2, 2)),
    "full": Size(speech=(5000, 600, 600), usage=(6000, 0, 0), pairs=(800, 100, 100), questions=(800, 100, 100),
                 words=(None, None, None), sounds=(None, None, None), extra_sounds=(None, 0, 0),
                 music=(300, 40, 40), renderings=(3, 1, 1), mixtures=(1500, 150, 150),
                 events=(None, None, None), real_speech=(None, None, None), event_mixtures=(1000, 150, 150)),
}


@dataclass
class Planned:
    clip: Clip
    make: Callable[[Path], dict[str, Any]]  # writes raw audio to the path; returns labels known only after


@dataclass
class BuildResult:
    out: Path
    counts: dict[str, dict[str, int]]  # task -> split -> rows
    rendered: int
    reused: int
    skipped: list[str]  # "source: reason"
    missing: list[Source]
    seconds: float
    manifests: dict[str, Path] = field(default_factory=dict)
    # (source, licence) -> split -> rows; a two-clip row counts once for each clip's source
    sources: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    classes: dict[str, dict[str, int]] = field(default_factory=dict)  # sound-event class -> split -> clips
    held_out: list[tuple[str, str, str]] = field(default_factory=list)  # (class, package, dev | test)


def build_starter(out: str | Path, size: str | Size = "small", seed: int = 0,
                  sources: dict[str, Source] | None = None, progress: bool = True, jobs: int = 1) -> BuildResult:
    """Build (or finish building) the starter corpus in ``out``, rendering ``jobs`` clips at a time; see the
    package docstring. The corpus is the same for any ``jobs``."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    started = time.perf_counter()
    out = Path(out)
    plan_size = SIZES[size] if isinstance(size, str) else size
    sources = sources if sources is not None else discover()
    planned = plan(plan_size, seed, sources)
    if not planned:
        raise ValueError("no starter-corpus source is installed:\n" + report(sources))
    done: list[Clip] = []
    skipped: list[str] = []
    rendered = reused = 0
    results = tqdm(_rendered(planned, out, jobs), total=len(planned), desc="starter corpus", unit="clip",
                   disable=not progress)
    for item, outcome in zip(planned, results):
        skipped += outcome.skipped
        if outcome.state is not None:
            item.clip.labels.update(outcome.labels)
            done.append(item.clip)
            rendered += outcome.state
            reused += 1 - outcome.state
    manifests, counts, by_source = _write_manifests(done, out, seed)
    if skipped:
        (out / "skipped.txt").write_text("\n".join(skipped) + "\n", encoding="utf-8")
    else:
        (out / "skipped.txt").unlink(missing_ok=True)
    missing = [s for s in sources.values() if not s.available]
    classes, held = _event_summary(done)
    return BuildResult(out, counts, rendered, reused, skipped, missing, time.perf_counter() - started, manifests,
                       by_source, classes, held)


def _event_summary(clips: list[Clip]) -> tuple[dict[str, dict[str, int]], list[tuple[str, str, str]]]:
    classes: dict[str, dict[str, int]] = {}
    pairs: set[tuple[str, str, str]] = set()
    for c in clips:
        if c.family == "event":
            classes.setdefault(c.labels["event"], {s: 0 for s in SPLITS})[c.split] += 1
            if c.split != "train":
                pairs.add((c.labels["event"], c.meta["source"], c.split))
    return dict(sorted(classes.items())), sorted(pairs)


@dataclass(frozen=True)
class Rendered:
    state: int | None  # as _render returns
    labels: dict[str, Any]  # what rendering learnt of the clip's labels
    skipped: list[str]


# The plan a forked render worker reads (its closures cannot be pickled to it).
_PLANNED: list[Planned] = []


def _render_one(index: int, out: Path) -> Rendered:
    item, skipped = _PLANNED[index], []
    state = _render(item, out, skipped)
    return Rendered(state, item.clip.labels, skipped)


def _rendered(planned: list[Planned], out: Path, jobs: int) -> Iterator[Rendered]:
    """Each planned clip's outcome, in plan order: rendered here, or by ``jobs`` forked workers (each renderer is
    a single-threaded synthesizer or decoder, so processes, not threads, use the cores)."""
    global _PLANNED
    _PLANNED = planned
    try:
        if jobs == 1:
            yield from (_render_one(i, out) for i in range(len(planned)))
            return
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            yield from pool.map(_render_one, range(len(planned)), [out] * len(planned), chunksize=4)
    finally:
        _PLANNED = []


def _render(item: Planned, out: Path, skipped: list[str]) -> int | None:
    """1 if rendered now, 0 if already on disk (a re-run), None if the source could not be used."""
    clip = item.clip
    wav, sidecar = out / clip.audio, (out / clip.audio).with_suffix(".json")
    if wav.is_file() and sidecar.is_file():
        clip.labels.update(json.loads(sidecar.read_text(encoding="utf-8")))
        return 0
    wav.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            raw = Path(scratch) / "raw.wav"
            extra = item.make(raw)
            samples = load_audio(raw)
        if samples.size < MIN_SECONDS * SAMPLE_RATE or not np.any(samples):
            raise ValueError("empty or silent audio")
    # Any source file or engine may fail in its own way (corrupt file, codec, synthesizer, score parser); one
    # failure must cost that clip only, and is listed.
    except Exception as exc:  # noqa: BLE001
        skipped.append(f"{clip.meta.get('source_file') or clip.id}: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    with atomic_file(wav) as scratch_wav:
        sf.write(scratch_wav, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    clip.labels.update(extra)
    with atomic_file(sidecar) as scratch_json:
        scratch_json.write_text(json.dumps(extra, sort_keys=True), encoding="utf-8")
    return 1


def _write_manifests(clips: list[Clip], out: Path, seed: int
                     ) -> tuple[dict[str, Path], dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    counts: dict[str, dict[str, int]] = {}
    by_source: dict[tuple[str, str], dict[str, int]] = {}
    events = sorted({c.labels["event"] for c in clips if c.family == "event"})
    manifests: dict[str, Path] = {}
    instruments = sorted(music.INSTRUMENTS)
    for split in SPLITS:
        mine = [c for c in clips if c.split == split]
        # Distractors: sentences only from this split (a sentence is content), labels from the whole vocabulary.
        pools = {
            "sentence": sorted({c.labels["text"] for c in mine if c.family == "speech"}),
            "language": sorted(set(recordings.LANGUAGES.values())),
            "category": sorted(set(sounds.SAMPLE_CATEGORIES.values()) | {v[0] for v in sounds.FREEDESKTOP.values()}),
            "instrument": instruments,
            "event": events,
        }
        rows = []
        for clip in mine:
            rows += rows_for(clip, random.Random(f"{seed}:{clip.id}"), pools)
        rows += _compare_rows(mine, seed)
        path = out / f"{split}.jsonl"
        write_manifest(rows, path)
        manifests[split] = path
        for task, n in Counter(r["task"] for r in rows).items():
            counts.setdefault(task, {s: 0 for s in SPLITS})[split] = n
        for key, n in Counter(key for r in rows for key in _sources_of(r["meta"])).items():
            by_source.setdefault(key, {s: 0 for s in SPLITS})[split] = n
    return manifests, dict(sorted(counts.items())), dict(sorted(by_source.items()))


def _sources_of(meta: dict[str, Any]) -> set[tuple[str, str]]:
    """A row's (source, licence) pairs: one, for a two-clip row each clip's, for speech over a recorded event the
    voice's and the event package's."""
    sources, licences = meta.get("source", "?"), meta.get("license", "-")
    if "background" in meta and not isinstance(sources, list):
        return {(str(sources), "-"), (str(meta["background"]), str(licences))}
    if not isinstance(sources, list):
        return {(str(sources), str(licences))}
    licences = licences if isinstance(licences, list) else [licences] * len(sources)
    return {(str(s), str(x if x is not None else "-")) for s, x in zip(sources, licences)}


def _compare_rows(clips: list[Clip], seed: int) -> list[dict[str, Any]]:
    """Pairs within one split: the same sentence by two voices (and a different one), sounds, music tempos."""
    rng = random.Random(f"{seed}:compare")
    rows = []
    by_text: dict[str, list[Clip]] = {}
    for c in clips:
        if c.family == "speech":
            by_text.setdefault(c.labels["text"], []).append(c)
    doubles = [group for group in by_text.values() if len(group) > 1]
    for i, group in enumerate(doubles):
        rows.append(compare_row(group[0], group[1], rng))
        other = doubles[(i + 1) % len(doubles)][0]
        if other.labels["text"] != group[0].labels["text"]:
            rows.append(compare_row(group[1], other, rng))
    rows += _event_pairs([c for c in clips if c.family == "event"], rng)
    for family in ("sound", "music"):
        mine = [c for c in clips if c.family == family]
        for a, b in zip(mine[0::2], mine[1::2]):
            if family == "music" and a.labels["tempo"] == b.labels["tempo"]:
                continue
            rows.append(compare_row(a, b, rng))
    return rows


def _event_pairs(clips: list[Clip], rng: random.Random) -> list[dict[str, Any]]:
    """One pair per two clips: half of them two takes of the same class (from other take groups), half two classes."""
    by_label: dict[str, list[Clip]] = {}
    for c in clips:
        by_label.setdefault(c.labels["event"], []).append(c)
    rows = []
    for first in clips[0::2]:
        same = [c for c in by_label[first.labels["event"]] if c.meta["take"] != first.meta["take"]]
        other = [c for c in clips if c.labels["event"] != first.labels["event"]]
        pool = same if same and (rng.random() < 0.5 or not other) else other
        if pool:
            rows.append(compare_row(first, rng.choice(pool), rng))
    return rows


def plan(size: Size, seed: int, sources: dict[str, Source]) -> list[Planned]:
    """Every clip to build, with its split, in a stable order. Nothing is rendered here."""
    voices = _voice_splits(available_voices(sources), seed)
    planned: list[Planned] = []
    sentences: dict[str, list[str]] = {s: [] for s in SPLITS}
    if sources["fortunes"].available:
        all_sentences = text.fortune_sentences(Path(sources["fortunes"].where))
        sentences = _shuffled(by_split(assign(all_sentences, seed)), seed, "sentences")
    usage: dict[str, list[str]] = {s: [] for s in SPLITS}
    if sources["wordnet"].available:
        fortunes = {s for split in sentences.values() for s in split}
        examples = [s for s in text.wordnet_examples(Path(sources["wordnet"].where)) if s not in fortunes]
        usage = _shuffled({"train": examples, "dev": [], "test": []}, seed, "usage")
    backgrounds: dict[str, list[sounds.SoundClip]] = {s: [] for s in SPLITS}
    if any(voices.values()):
        planned += _plan_speech(size.speech, size.pairs, f"{seed}:speech", voices, sentences)
        planned += _plan_speech(size.usage, (0, 0, 0), f"{seed}:usage", voices, usage)
        planned += _plan_questions(size, seed, voices)
    planned += _plan_words(size, seed, sources)
    sound_plan, backgrounds = _plan_sounds(size, seed, sources)
    planned += sound_plan
    events = _plan_events(size, seed, sources)
    planned += events
    planned += _plan_real_speech(size, seed, sources)
    planned += _plan_music(size, seed, sources)
    if any(voices.values()):
        planned += _plan_mixtures(size, seed, voices, sentences, backgrounds)
        planned += _plan_event_mixtures(size, seed, voices, sentences, events)
    return planned


def _voice_splits(voices: list[Voice], seed: int) -> dict[str, list[Voice]]:
    """Voices held out per engine: an engine with three or more voices gives some to dev and test."""
    split_of: dict[str, str] = {}
    for engine in sorted({v.engine for v in voices}):
        split_of.update(assign([v.id for v in voices if v.engine == engine], seed, dev=0.1, test=0.2))
    return {s: [v for v in voices if split_of[v.id] == s] for s in SPLITS}


def _shuffled(groups: dict[str, list[Any]], seed: int, what: str) -> dict[str, list[Any]]:
    out = {}
    for split, items in groups.items():
        items = list(items)
        random.Random(f"{seed}:{what}:{split}").shuffle(items)
        out[split] = items
    return out


def _take(items: list[Any], count: int | None) -> list[Any]:
    return items if count is None else items[:count]


def _key(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _speak(voice: Voice, sentence: str) -> Callable[[Path], dict[str, Any]]:
    def make(path: Path) -> dict[str, Any]:
        voice.speak(sentence, path)
        return {}
    return make


def _plan_speech(counts: PerSplit, pairs: PerSplit, rng_name: str, voices: dict[str, list[Voice]],
                 sentences: dict[str, list[str]]) -> list[Planned]:
    """Each chosen sentence read by one voice of its split; the first ``pairs`` of them by a second voice too."""
    planned = []
    for i, split in enumerate(SPLITS):
        if not voices[split]:
            continue
        rng = random.Random(f"{rng_name}:{split}")
        chosen = _take(sentences[split], counts[i])
        n_pairs = len(_take(chosen, pairs[i])) if len(voices[split]) > 1 else 0
        for j, sentence in enumerate(chosen):
            picked = rng.sample(voices[split], 2 if j < n_pairs else 1)
            for voice in picked:
                planned.append(_speech_clip("speech", split, voice, sentence, {"text": sentence}))
    return planned


def _speech_clip(family: str, split: str, voice: Voice, sentence: str, labels: dict[str, Any]) -> Planned:
    ident = f"{family}-{_key(voice.id, sentence)}"
    clip = Clip(ident, family, f"audio/{family}/{ident}.wav", split, labels,
                {"voice": voice.id, "sentence": sentence, "source": voice.engine})
    return Planned(clip, _speak(voice, sentence))


def _plan_questions(size: Size, seed: int, voices: dict[str, list[Voice]]) -> list[Planned]:
    total = sum(n or 0 for n in size.questions)
    pairs = dict(text.spoken_questions(total * 2, seed))
    groups = _shuffled(by_split(assign(pairs, seed)), seed, "questions")
    planned = []
    for i, split in enumerate(SPLITS):
        rng = random.Random(f"{seed}:questions:{split}")
        for question in _take(groups[split], size.questions[i]) if voices[split] else []:
            voice = rng.choice(voices[split])
            planned.append(_speech_clip("question", split, voice, question,
                                        {"text": question, "answer": pairs[question]}))
    return planned


def _copy(source: Path) -> Callable[[Path], dict[str, Any]]:
    def make(path: Path) -> dict[str, Any]:
        sf.write(path, load_audio(source), SAMPLE_RATE)
        return {}
    return make


def _plan_words(size: Size, seed: int, sources: dict[str, Source]) -> list[Planned]:
    found: list[recordings.Recording] = []
    if sources["ktuberling"].available:
        found += recordings.ktuberling_words(Path(sources["ktuberling"].where))
    if sources["klettres"].available:
        found += recordings.klettres_sounds(Path(sources["klettres"].where))
    by_path = {str(r.path): r for r in found}
    groups = _shuffled(by_split(assign(by_path, seed)), seed, "words")
    planned = []
    for i, split in enumerate(SPLITS):
        for name in _take(groups[split], size.words[i]):
            r = by_path[name]
            ident = f"word-{_key(name)}"
            recording = f"{r.source}/{r.path.parent.name}/{r.path.name}"
            clip = Clip(ident, "word", f"audio/word/{ident}.wav", split,
                        {"text": r.text, "language": r.language, "source": r.source},
                        {"recording": recording, "source": r.source, "source_file": name, "meaning": r.meaning})
            planned.append(Planned(clip, _copy(r.path)))
    return planned


def _sound_clips(sources: dict[str, Source]) -> list[sounds.SoundClip]:
    found: dict[str, sounds.SoundClip] = {}
    # The same sample shipped by two packages is one sample (one split).
    for name, sub in (("sonic-pi", ""), ("supersonic", "samples")):
        if sources[name].available:
            root = Path(sources[name].where)
            for c in sounds.sample_clips(root / sub if (root / sub).is_dir() else root, name):
                found.setdefault(c.name, c)
    if sources["freedesktop"].available:
        for c in sounds.freedesktop_clips(Path(sources["freedesktop"].where)):
            found.setdefault(c.name, c)
    return list(found.values())


def _extra_sound_clips(sources: dict[str, Source]) -> list[sounds.SoundClip]:
    # LMMS's samples are sound events now (AudioSet names, held out by package): heard here too, a sample tested
    # there could have been trained on here.
    if sources["oxygen"].available:
        return sounds.oxygen_clips(Path(sources["oxygen"].where))
    return []


def _plan_sounds(size: Size, seed: int,
                 sources: dict[str, Source]) -> tuple[list[Planned], dict[str, list[sounds.SoundClip]]]:
    by_name = {c.name: c for c in _sound_clips(sources)}
    groups = _shuffled(by_split(assign(by_name, seed)), seed, "sounds")
    planned = []
    for i, split in enumerate(SPLITS):
        planned += [_sound(by_name[name], split) for name in _take(groups[split], size.sounds[i])]
    extra = {c.name: c for c in _extra_sound_clips(sources)}
    for name in _take(_shuffled({"train": list(extra), "dev": [], "test": []}, seed, "extra-sounds")["train"],
                      size.extra_sounds[0]):
        planned.append(_sound(extra[name], "train"))
    # Backgrounds for mixtures: any sample of the split that is not a spoken announcement.
    backgrounds = {s: [by_name[n] for n in groups[s] if by_name[n].category != "spoken announcement"]
                   for s in SPLITS}
    return planned, backgrounds


def _sound(c: sounds.SoundClip, split: str) -> Planned:
    ident = f"sound-{_key(c.name)}"
    clip = Clip(ident, "sound", f"audio/sound/{ident}.wav", split, {"category": c.category, "caption": c.caption},
                {"sample": c.name, "source": c.source, "source_file": str(c.path)})
    return Planned(clip, _copy(c.path))


def _capped(found: list[real_sounds.RealSound], seed: int) -> list[real_sounds.RealSound]:
    """At most MAX_CLIPS_PER_SOURCE files per (class, package), whole take groups at a time, in a seeded order."""
    groups: dict[tuple[str, str], dict[str, list[real_sounds.RealSound]]] = {}
    for s in found:
        groups.setdefault((s.label, s.package), {}).setdefault(s.group, []).append(s)
    kept = []
    for key, takes in sorted(groups.items()):
        names = sorted(takes)
        random.Random(f"{seed}:cap:{key}").shuffle(names)
        count = 0
        for name in names:
            if count >= MAX_CLIPS_PER_SOURCE:
                break
            kept += takes[name]
            count += len(takes[name])
    return kept


def _plan_events(size: Size, seed: int, sources: dict[str, Source]) -> list[Planned]:
    roots = {n: Path(sources[n].where) for n in real_sounds.PACKAGES if n in sources and sources[n].available}
    found = _capped(real_sounds.find_real_sounds(roots), seed)
    counts: dict[str, Counter[str]] = {}
    for s in found:
        counts.setdefault(s.label, Counter())[s.package] += 1
    split_of = hold_out({label: dict(c) for label, c in counts.items()}, seed)
    per_split: dict[str, list[Planned]] = {s: [] for s in SPLITS}
    for sound in found:
        split = split_of[(sound.label, sound.package)]
        # A file whose header cannot be read gets one excerpt, whose rendering then fails and is listed.
        try:
            starts = real_sounds.excerpt_starts(real_sounds.duration(sound))
        except Exception:  # noqa: BLE001
            starts = [0.0]
        for start in starts:
            ident = f"event-{_key(sound.package, sound.path, str(start))}"
            clip = Clip(ident, "event", f"audio/event/{ident}.wav", split, {"event": sound.label},
                        {"source": sound.package, "license": sound.licence, "take": sound.group,
                         "source_file": f"{sound.package}:{sound.path}", "excerpt_s": start})
            per_split[split].append(Planned(clip, _excerpt_maker(sound, start)))
    planned = []
    for i, split in enumerate(SPLITS):
        items = list(per_split[split])
        random.Random(f"{seed}:events:{split}").shuffle(items)
        planned += _take(items, size.events[i])
    return planned


def _excerpt_maker(sound: real_sounds.RealSound, start: float) -> Callable[[Path], dict[str, Any]]:
    def make(path: Path) -> dict[str, Any]:
        sf.write(path, real_sounds.excerpt(real_sounds.decode(sound), start), SAMPLE_RATE)
        return {}
    return make


def _plan_real_speech(size: Size, seed: int, sources: dict[str, Source]) -> list[Planned]:
    found: list[real_speech.Utterance] = []
    if sources["warzone2100-data"].available:
        found += real_speech.warzone_lines(Path(sources["warzone2100-data"].where))
    if sources["trigger-rally-data"].available:
        found += real_speech.trigger_calls(Path(sources["trigger-rally-data"].where), seed)
    if sources["pocketsphinx-testdata"].available:
        found += real_speech.pocketsphinx_clips(Path(sources["pocketsphinx-testdata"].where))
    planned = []
    for i, split in enumerate(SPLITS):
        for u in _take([u for u in found if u.split == split], size.real_speech[i]):
            ident = f"realspeech-{_key(u.package, u.name)}"
            clip = Clip(ident, "real_speech", f"audio/real_speech/{ident}.wav", split, {"text": u.text},
                        {"speaker": u.speaker, "source": u.package, "license": real_speech.LICENCES[u.package],
                         "utterance": f"{u.package}:{u.name}", "source_file": f"{u.package}:{u.name}"})
            planned.append(Planned(clip, _decoder(u.read)))
    return planned


def _decoder(read: Callable[[], bytes | Path]) -> Callable[[Path], dict[str, Any]]:
    def make(path: Path) -> dict[str, Any]:
        data = read()
        samples, rate = sf.read(io.BytesIO(data) if isinstance(data, bytes) else data, dtype="float32")
        sf.write(path, samples, rate)
        return {}
    return make


def _plan_event_mixtures(size: Size, seed: int, voices: dict[str, list[Voice]], sentences: dict[str, list[str]],
                         events: list[Planned]) -> list[Planned]:
    """Synthetic sentences read over recorded sound events of the same split (the event's take stays there)."""
    planned = []
    for i, split in enumerate(SPLITS):
        beds = [p for p in events if p.clip.split == split]
        if not voices[split] or not beds or not sentences[split]:
            continue
        rng = random.Random(f"{seed}:event-mixtures:{split}")
        for _ in range(size.event_mixtures[i] if size.event_mixtures[i] is not None else len(beds)):
            voice, bed, snr = rng.choice(voices[split]), rng.choice(beds), rng.choice(SNRS_DB)
            sentence = rng.choice(sentences[split])
            ident = f"mixture-{_key(voice.id, sentence, bed.clip.id, str(snr))}"
            meta = bed.clip.meta
            clip = Clip(ident, "mixture", f"audio/mixture/{ident}.wav", split,
                        {"text": sentence, "category": plain(bed.clip.labels["event"])},
                        {"voice": voice.id, "sentence": sentence, "snr_db": snr, "source": voice.engine,
                         "background": meta["source"], "license": meta["license"], "take": meta["take"],
                         "source_file": meta["source_file"]})
            planned.append(Planned(clip, _mixer(voice, sentence, bed.make, snr)))
    return planned


def _mixer(voice: Voice, sentence: str, bed: Callable[[Path], dict[str, Any]],
           snr: float) -> Callable[[Path], dict[str, Any]]:
    """Speech over a background that ``bed`` writes (a copied sample, or a recorded event's excerpt)."""
    def make(path: Path) -> dict[str, Any]:
        background = path.with_name("background.wav")
        bed(background)
        voice.speak(sentence, path)
        sf.write(path, mix(load_audio(path), load_audio(background), snr), SAMPLE_RATE)
        return {}
    return make


def _plan_music(size: Size, seed: int, sources: dict[str, Source]) -> list[Planned]:
    if not all(sources[n].available for n in ("music21", "fluidsynth", "soundfont")):
        return []
    soundfonts = [Path(p) for p in sources["soundfont"].where.split(",")]
    # A few instruments play only in dev or only in test (can a model name one it never heard?); the rest play in
    # every split, on other scores, so that naming a familiar instrument is both learnt and tested.
    held = by_split(assign(music.INSTRUMENTS, seed, dev=0.15, test=0.2))
    instruments = {"train": held["train"], "dev": held["dev"] + held["train"], "test": held["test"] + held["train"]}
    scores = {s.name: s for s in music.corpus_scores()}
    groups = _shuffled(by_split(assign(scores, seed)), seed, "scores")
    planned = []
    for i, split in enumerate(SPLITS):
        rng = random.Random(f"{seed}:music:{split}")
        picks: list[tuple[music.Score, str, int, Path]] = []
        for score in _balanced([scores[n] for n in groups[split]], size.music[i]):
            instrument, tempo = rng.choice(instruments[split]), rng.choice(music.TEMPOS)
            picks.append((score, instrument, tempo, rng.choice(soundfonts)))
        # Further renderings draw from a generator of their own, so the first ones keep their clips.
        more = random.Random(f"{seed}:renderings:{split}")
        for score, first, _, _ in list(picks):
            for instrument in more.sample([x for x in instruments[split] if x != first], size.renderings[i] - 1):
                picks.append((score, instrument, more.choice(music.TEMPOS), more.choice(soundfonts)))
        for score, instrument, tempo, soundfont in picks:
            ident = f"music-{_key(score.name, instrument, str(tempo))}"
            surname, full = music.COMPOSERS[score.composer]
            clip = Clip(ident, "music", f"audio/music/{ident}.wav", split,
                        {"instrument": instrument, "tempo": tempo, "tempo_word": music.tempo_word(tempo),
                         "composer": surname},
                        {"score": score.name, "instrument": instrument, "tempo": tempo, "composer": full,
                         "soundfont": soundfont.name, "source": "music21", "source_file": str(score.path)})
            planned.append(Planned(clip, _music_maker(score, music.INSTRUMENTS[instrument], tempo, soundfont)))
    return planned


def _balanced(scores: list[music.Score], count: int | None) -> list[music.Score]:
    """Round-robin over composers so that one prolific composer does not fill the set."""
    per: dict[str, list[music.Score]] = {}
    for s in scores:
        per.setdefault(s.composer, []).append(s)
    out: list[music.Score] = []
    while any(per.values()) and (count is None or len(out) < count):
        for composer in sorted(per):
            if per[composer] and (count is None or len(out) < count):
                out.append(per[composer].pop(0))
    return out


def _music_maker(score: music.Score, program: int, tempo: int, soundfont: Path) -> Callable[[Path], dict[str, Any]]:
    def make(path: Path) -> dict[str, Any]:
        rendering = music.render(score, program, tempo, soundfont, path)
        return {"key": rendering.key, "time_signature": rendering.time_signature}
    return make


def _plan_mixtures(size: Size, seed: int, voices: dict[str, list[Voice]], sentences: dict[str, list[str]],
                   backgrounds: dict[str, list[sounds.SoundClip]]) -> list[Planned]:
    planned = []
    for i, split in enumerate(SPLITS):
        if not voices[split] or not backgrounds[split]:
            continue
        rng = random.Random(f"{seed}:mixtures:{split}")
        # Sentences not read plainly come first, so that most mixtures are not noisy copies of a clean clip.
        plain = size.speech[i] or 0
        pool = sentences[split][plain:] + sentences[split][:plain]
        for sentence in _take(pool, size.mixtures[i]):
            voice, bed, snr = rng.choice(voices[split]), rng.choice(backgrounds[split]), rng.choice(SNRS_DB)
            ident = f"mixture-{_key(voice.id, sentence, bed.name, str(snr))}"
            clip = Clip(ident, "mixture", f"audio/mixture/{ident}.wav", split,
                        {"text": sentence, "category": bed.category},
                        {"voice": voice.id, "sentence": sentence, "sample": bed.name, "snr_db": snr,
                         "source": voice.engine, "source_file": str(bed.path)})
            planned.append(Planned(clip, _mixer(voice, sentence, _copy(bed.path), snr)))
    return planned


def format_counts(result: BuildResult) -> str:
    """A table of rows per task and split, with totals and the build time."""
    head = f"{'task':<12}" + "".join(f"{s:>8}" for s in SPLITS) + f"{'total':>8}"
    lines = [head, "-" * len(head)]
    totals = Counter()
    for task, per in result.counts.items():
        lines.append(f"{task:<12}" + "".join(f"{per[s]:>8}" for s in SPLITS) + f"{sum(per.values()):>8}")
        totals.update(per)
    lines.append("-" * len(head))
    lines.append(f"{'total':<12}" + "".join(f"{totals[s]:>8}" for s in SPLITS) + f"{sum(totals.values()):>8}")
    lines += ["", _table("source", "licence", result.sources)]
    if result.classes:
        both = {c: per for c, per in result.classes.items() if per["train"] and per["test"]}
        lines += ["", f"sound-event classes: {len(result.classes)}; with train and test clips: {len(both)}",
                  _table("class", None, both)]
        lines += ["", "held out (class: package, split): " + "; ".join(
            f"{label}: {package} ({split})" for label, package, split in result.held_out)]
    lines.append(f"clips: {result.rendered} rendered, {result.reused} already built, {len(result.skipped)} skipped; "
                 f"build time {result.seconds:.1f} s")
    return "\n".join(lines)


def _table(first: str, second: str | None, counts: dict[Any, dict[str, int]]) -> str:
    """Rows per split for each key (a name, or a (name, licence) pair when ``second`` is given)."""
    keys = [k if isinstance(k, tuple) else (k,) for k in counts]
    widths = [max([len(first)] + [len(k[0]) for k in keys])]
    if second:
        widths.append(max([len(second)] + [len(k[1]) for k in keys]))
    names = [first] + ([second] if second else [])
    head = "  ".join(f"{n:<{w}}" for n, w in zip(names, widths)) + "".join(f"{s:>7}" for s in SPLITS)
    lines = [head, "-" * len(head)]
    for key, per in counts.items():
        parts = key if isinstance(key, tuple) else (key,)
        lines.append("  ".join(f"{p:<{w}}" for p, w in zip(parts, widths)) + "".join(f"{per[s]:>7}" for s in SPLITS))
    return "\n".join(lines)
