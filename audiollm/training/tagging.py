"""The sound tagger's training: fitted on the train rows' labelled clips before the first step, and each labelled
training clip's tags read from a tagger fitted without that clip's source.

A test clip's package never reached the tagger, so its tags are less sure than a training clip's would be from a
tagger that had memorised it. Each training clip is tagged by the folds that left its (source, label) group out:
for every class, the recordings of one source are unknown, as the test split holds one package per class out.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import torch
from tqdm import tqdm

from ..audio import load_audio
from ..data.dataset import Row
from ..model import AudioLLM
from ..tagger import SoundReading, SoundTagger, fit_temperature, pool_frames
from .config import DataConfig
from .feature_cache import CachedEncoder

# The meta keys that say where a clip was recorded or rendered, most specific first (a soundfont renders the
# music of one score library).
SOURCE_KEYS = ("soundfont", "source")
# The tagger's label for the clips of the speech tasks (data.tag_speech_tasks).
SPEECH_LABEL = "speech"


@dataclasses.dataclass(frozen=True)
class TagClips:
    """The distinct clips of the tag tasks' single-clip rows, each with its label (the row's answer) and group."""

    paths: list[str]
    labels: list[str]
    groups: list[str]


def tag_clips(rows: Sequence[Row], tasks: Sequence[str], speech_tasks: Sequence[str] = (), speech_clips: int = 0,
              seed: int = 0) -> TagClips:
    """The tag tasks' clips, labelled by their rows' answers and grouped by (source, label), a label of one source
    clip by clip, and ``speech_clips`` of the speech tasks' clips (a sample fixed by ``seed``), labelled
    ``speech``."""
    paths: list[str] = []
    labels: list[str] = []
    groups: list[str] = []
    speech: dict[str, str] = {}  # path -> source
    seen: set[str] = set()
    for row in rows:
        ex = row.example
        if len(ex.audio) != 1 or (ex.task not in tasks and ex.task not in speech_tasks):
            continue
        path = str(ex.audio[0])
        source = next((str(ex.meta[k]) for k in SOURCE_KEYS if k in ex.meta), path)
        if ex.task not in tasks:
            speech.setdefault(path, source)
        elif path not in seen:
            seen.add(path)
            paths.append(path)
            labels.append(ex.answer)
            groups.append(f"{source}/{ex.answer}")
    # A label heard from one source only would be unknown to the fold holding that source out, so its clips' tags
    # could never name it, where a test clip's always can (the test split holds out one source of a label that
    # train hears from another): its clips are grouped one by one, so that each fold has heard the label.
    sources: dict[str, set[str]] = {}
    for label, group in zip(labels, groups):
        sources.setdefault(label, set()).add(group)
    groups = [path if len(sources[label]) == 1 else group for path, label, group in zip(paths, labels, groups)]
    # A clip with a label of its own is not also speech.
    candidates = sorted((path, source) for path, source in speech.items() if path not in seen)
    for path, source in random.Random(seed).sample(candidates, min(speech_clips, len(candidates))):
        paths.append(path)
        labels.append(SPEECH_LABEL)
        groups.append(f"{source}/{SPEECH_LABEL}")
    return TagClips(paths, labels, groups)


def pooled_clips(paths: Sequence[str], encode: CachedEncoder, progress: bool) -> torch.Tensor:
    """``(clips, layers, 2 * d)``: each clip's pooled encoder frames (through the feature cache)."""
    rows = [pool_frames(encode([load_audio(path)])[0]).cpu()
            for path in tqdm(paths, desc="tagger clips", unit="clip", disable=not progress)]
    return torch.stack(rows)


def fold_of_groups(clips: TagClips, folds: int) -> dict[str, int]:
    """Each group's fold, the same on every run: a label's groups go to different folds while there are folds
    left (so every fold's tagger still knows the label from another source), each to the fold holding fewest clips
    so far, largest groups first."""
    sizes: dict[str, int] = {}
    label_of: dict[str, str] = {}
    for group, label in zip(clips.groups, clips.labels):
        sizes[group] = sizes.get(group, 0) + 1
        label_of[group] = label
    filled = [0] * folds
    assigned: dict[str, int] = {}
    for label in sorted(set(clips.labels)):
        used: set[int] = set()
        for group in sorted((g for g in sizes if label_of[g] == label), key=lambda g: (-sizes[g], g)):
            free = [k for k in range(folds) if k not in used] or list(range(folds))
            fold = min(free, key=lambda k: (filled[k], k))
            assigned[group] = fold
            used.add(fold)
            filled[fold] += sizes[group]
    return assigned


@dataclasses.dataclass(frozen=True)
class HeldOutTags:
    """Each labelled clip's tags from the folds that never heard its group, and the temperature fitted on those
    folds' predictions (which the tagger fitted on every clip takes too)."""

    tags: dict[str, SoundReading]  # audio path -> its reading
    temperature: float


def held_out_tags(pooled: torch.Tensor, clips: TagClips, folds: int, seed: int) -> HeldOutTags:
    fold = fold_of_groups(clips, folds)
    fitted: list[tuple[SoundTagger, list[int]]] = []
    for k in range(folds):
        inside = [i for i, g in enumerate(clips.groups) if fold[g] == k]
        outside = [i for i, g in enumerate(clips.groups) if fold[g] != k]
        if inside and outside:
            fitted.append((SoundTagger.fit(pooled[outside], [clips.labels[i] for i in outside], seed=seed), inside))
    # A clip whose label its fold never heard (the label's only source) cannot say how sure a right answer is.
    held_out = []
    for tagger, inside in fitted:
        known = [i for i in inside if clips.labels[i] in tagger.labels]
        with torch.no_grad():
            held_out.append((tagger.logits(pooled[known]),
                             torch.tensor([tagger.labels.index(clips.labels[i]) for i in known], dtype=torch.long)))
    temperature = fit_temperature(held_out)
    tags: dict[str, SoundReading] = {}
    for tagger, inside in fitted:
        for i, reading in zip(inside, tagger.calibrate(temperature).read(pooled[inside])):
            tags[clips.paths[i]] = reading
    return HeldOutTags(tags, temperature)


def training_tags(model: AudioLLM, rows: Sequence[Row], encode: CachedEncoder, data: DataConfig, seed: int,
                  progress: bool) -> dict[str, SoundReading]:
    """Fit ``model.tagger`` on the rows' labelled clips when it has none (a saved model keeps its own), and return
    each labelled clip's held-out tags, which the dataset puts in the prompt."""
    clips = tag_clips(rows, data.tag_tasks, data.tag_speech_tasks, data.tag_speech_clips, seed)
    if all(label == SPEECH_LABEL for label in clips.labels):
        raise ValueError(f"encoder.tags needs labelled clips to fit the sound tagger: no single-clip train row of "
                         f"the tasks {list(data.tag_tasks)} (data.tag_tasks)")
    pooled = pooled_clips(clips.paths, encode, progress)
    held_out = held_out_tags(pooled, clips, data.tag_folds, seed)
    if model.tagger is None:
        model.tagger = SoundTagger.fit(pooled, clips.labels, seed=seed).calibrate(held_out.temperature)
    return held_out.tags
