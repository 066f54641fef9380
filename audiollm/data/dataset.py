"""Manifest rows as training samples: audio loaded lazily, unusable rows skipped and counted, never fatal."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE, load_audio
from ..processor import AudioProcessor, ClipNotes, Conversation
from ..tagger import SoundReading, TagLines
from .augment import SpeedPerturbation
from .manifest import Example, read_manifest


@dataclasses.dataclass
class Sample:
    """One tokenised training row: ids and labels with audio placeholders expanded, and its clips (16 kHz)."""

    where: str
    ids: list[int]
    labels: list[int]
    clips: list[np.ndarray]
    answer: str  # the reference text: what the alignment stage transcribes


@dataclasses.dataclass
class Row:
    where: str  # "manifest.jsonl:LINE", how reports name the row
    example: Example


def read_rows(manifests: Sequence[str | Path]) -> list[Row]:
    """Validate every manifest before any training starts; a :class:`ManifestError` lists bad rows by line."""
    return [Row(f"{path}:{ex.line}", ex) for path in manifests for ex in read_manifest(path)]


# Tasks whose answer is exactly the words spoken in the row's one clip.
WORDS_TASKS = ("asr", "word", "mixture")


def reference_transcripts(rows: Sequence[Row]) -> dict[str, str]:
    """The words each clip holds, as the manifest gives them (audio path -> words): a one-clip row's answer when
    its task is a transcription, else its ``meta.sentence``. Clips with no such row (sounds, music) hold none."""
    words: dict[str, str] = {}
    for row in rows:
        ex = row.example
        if len(ex.audio) != 1:
            continue
        text = ex.answer if ex.task in WORDS_TASKS else ex.meta.get("sentence")
        if isinstance(text, str) and text:
            words.setdefault(str(ex.audio[0]), text)
    return words


@dataclasses.dataclass(frozen=True)
class ClipTags:
    """The sound tagger's reading of each tagged training clip (audio path -> reading), which the prompt shows as
    ``lines`` says."""

    readings: dict[str, SoundReading]
    lines: TagLines


class ManifestDataset:
    """Rows of one or more manifests. ``dataset[i]`` is a :class:`Sample`, or ``None`` for a row that cannot be
    used (missing, unreadable, silent or too long audio; a conversation the template cannot render); the reason is
    kept in :attr:`skipped` so the run can report every such row at the end.

    ``transcripts`` (audio path -> Whisper's transcript) puts each clip's transcript after its placeholders, and
    ``tags`` its sound tags after that; each time a row is drawn, each clip's transcript is hidden with probability
    ``transcript_dropout`` and its tags with ``tag_dropout``.

    With ``audio_swap``, a one-clip row about a clip of the ``swap_tasks`` rows (a clip whose every row asks about
    its sound) plays, with that probability, another such clip's audio under its own clip's tags and answer (its
    tags then always shown). The LLM has heard the training clips through many steps, so their audio alone answers
    their rows and the tags go unread; a held-out package's clip is new audio, and there the tags are the better
    evidence. Swapped rows teach the LLM to read them."""

    def __init__(self, rows: list[Row], processor: AudioProcessor, max_audio_seconds: float, silence_peak: float,
                 perturb: SpeedPerturbation | None = None, transcripts: dict[str, str] | None = None,
                 transcript_dropout: float = 0.0, seed: int = 0, tags: ClipTags | None = None,
                 tag_dropout: float = 0.0, audio_swap: float = 0.0, swap_tasks: Sequence[str] = ()):
        self.rows = rows
        self.processor = processor
        self.max_samples = int(max_audio_seconds * SAMPLE_RATE)
        self.silence_peak = silence_peak
        self.perturb = perturb
        self.transcripts = transcripts
        self.transcript_dropout = transcript_dropout
        self.tags = tags
        self.tag_dropout = tag_dropout
        self.audio_swap = audio_swap
        self.swappable = list(dict.fromkeys(str(r.example.audio[0]) for r in rows
                                            if r.example.task in swap_tasks and len(r.example.audio) == 1))
        self._swappable = set(self.swappable)
        self.random = random.Random(seed)
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Sample | None:
        row = self.rows[index]
        if row.where in self.skipped:
            return None
        try:
            conv = self.processor.conversation(row.example.messages)
            swapped = self._swap(row.example)
            if swapped is not None:
                conv = Conversation(conv.messages, [swapped])
            if self.perturb:
                conv = Conversation(conv.messages, self.perturb(row.example.task, conv.audios))
            for path, clip in zip(row.example.audio, conv.audios):
                if len(clip) > self.max_samples:
                    raise ValueError(f"{path}: {len(clip) / SAMPLE_RATE:.1f} s is longer than the "
                                     f"{self.max_samples / SAMPLE_RATE:g} s limit (data.max_audio_seconds)")
                peak = float(np.abs(clip).max()) if clip.size else 0.0
                if peak < self.silence_peak:
                    raise ValueError(f"{path}: silent (peak amplitude {peak:.2g})")
            ids, labels = self.processor.tokenize(conv, add_generation_prompt=False,
                                                  notes=self._notes(row.example, self.processor.prompt_text(conv),
                                                                    swapped is not None))
        except ValueError as exc:  # AudioError is a ValueError naming the file and the reason
            self.skipped[row.where] = str(exc)
            return None
        assert labels is not None
        return Sample(row.where, ids, labels, conv.audios, row.example.answer)

    def _swap(self, example: Example) -> np.ndarray | None:
        """Another swappable clip's audio for this row, or None (not a tagged swappable clip's row, or no swap
        drawn)."""
        if self.tags is None or not self.audio_swap or len(example.audio) != 1 or len(self.swappable) < 2:
            return None
        own = str(example.audio[0])
        if own not in self._swappable or own not in self.tags.readings or self.random.random() >= self.audio_swap:
            return None
        other = own
        while other == own:
            other = self.random.choice(self.swappable)
        try:
            return load_audio(other, max_seconds=self.max_samples / SAMPLE_RATE)
        except ValueError:  # a stand-in that cannot play is reported on its own rows; this row keeps its audio
            return None

    def _notes(self, example: Example, text: str, swapped: bool) -> list[ClipNotes] | None:
        if self.transcripts is None and self.tags is None:
            return None
        # A speed-perturbed clip says the same words and makes the same sound: its notes are the original file's.
        return [ClipNotes(self._shown(self.transcripts, path, self.transcript_dropout),
                          *self._tags(path, text, swapped)) for path in example.audio]

    def _shown(self, texts: dict[str, str] | None, path: Path, dropout: float) -> str:
        if texts is None:
            return ""
        return "" if self.random.random() < dropout else texts.get(str(path), "")

    def _tags(self, path: Path, text: str, swapped: bool) -> tuple[str, str]:
        """The clip's tag lines, both hidden together (the tagger heard it or not); always shown on a swapped row,
        where they are the only evidence."""
        if self.tags is None or str(path) not in self.tags.readings:
            return "", ""
        if not swapped and self.random.random() < self.tag_dropout:
            return "", ""
        return self.tags.lines.of(self.tags.readings[str(path)], text)

    def rng_state(self) -> dict[str, Any]:
        """The random generators of the rows' draws (speed perturbation, dropout, swaps) as JSON-able data, so
        that a resumed run draws what the straight run would have."""
        version, internal, gauss = self.random.getstate()
        return {"dropout": [version, list(internal), gauss],
                "speed": None if self.perturb is None else self.perturb.rng.bit_generator.state}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["dropout"]
        self.random.setstate((version, tuple(internal), gauss))
        if self.perturb is not None and state["speed"] is not None:
            self.perturb.rng.bit_generator.state = state["speed"]

    def audio_paths(self) -> list[str]:
        """Every audio file the rows name, once each, as :attr:`transcripts` is keyed."""
        return list(dict.fromkeys(str(path) for row in self.rows for path in row.example.audio))

    def lengths(self) -> list[int]:
        """Approximate token counts from audio headers and text, for length-grouped batching (no decoding)."""
        return [self._length(row.example) for row in self.rows]

    def _length(self, example: Example) -> int:
        tokens = sum(len(m.text) for m in example.messages)
        for path in example.audio:
            try:
                frames = sf.info(str(path)).duration * SAMPLE_RATE
            except (sf.LibsndfileError, RuntimeError, OSError):
                continue  # unreadable: the row is skipped when loaded
            tokens += self.processor.num_audio_tokens(int(min(frames, self.max_samples)))
        return tokens

