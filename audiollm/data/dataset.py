"""Manifest rows as training samples: audio loaded lazily, unusable rows skipped and counted, never fatal."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE
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


class ManifestDataset:
    """Rows of one or more manifests. ``dataset[i]`` is a :class:`Sample`, or ``None`` for a row that cannot be
    used (missing, unreadable, silent or too long audio; a conversation the template cannot render); the reason is
    kept in :attr:`skipped` so the run can report every such row at the end.

    ``transcripts`` (audio path -> Whisper's transcript) puts each clip's transcript after its placeholders, and
    ``sounds`` (audio path -> the sound tagger's reading) its tags after that, as ``tag_lines`` says; each time a
    row is drawn, each clip's transcript is hidden with probability ``transcript_dropout`` and its tags with
    ``tag_dropout``."""

    def __init__(self, rows: list[Row], processor: AudioProcessor, max_audio_seconds: float, silence_peak: float,
                 perturb: SpeedPerturbation | None = None, transcripts: dict[str, str] | None = None,
                 transcript_dropout: float = 0.0, seed: int = 0, sounds: dict[str, SoundReading] | None = None,
                 tag_dropout: float = 0.0, tag_lines: TagLines = TagLines(top=0, named=False)):
        self.rows = rows
        self.processor = processor
        self.max_samples = int(max_audio_seconds * SAMPLE_RATE)
        self.silence_peak = silence_peak
        self.perturb = perturb
        self.transcripts = transcripts
        self.transcript_dropout = transcript_dropout
        self.sounds = sounds
        self.tag_dropout = tag_dropout
        self.tag_lines = tag_lines
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
                                                  notes=self._notes(row.example, self.processor.prompt_text(conv)))
        except ValueError as exc:  # AudioError is a ValueError naming the file and the reason
            self.skipped[row.where] = str(exc)
            return None
        assert labels is not None
        return Sample(row.where, ids, labels, conv.audios, row.example.answer)

    def _notes(self, example: Example, text: str) -> list[ClipNotes] | None:
        if self.transcripts is None and self.sounds is None:
            return None
        # A speed-perturbed clip says the same words and makes the same sound: its notes are the original file's.
        return [ClipNotes(self._shown(self.transcripts, path, self.transcript_dropout),
                          *self._tags(path, text)) for path in example.audio]

    def _shown(self, texts: dict[str, str] | None, path: Path, dropout: float) -> str:
        if texts is None:
            return ""
        return "" if self.random.random() < dropout else texts.get(str(path), "")

    def _tags(self, path: Path, text: str) -> tuple[str, str]:
        """The clip's tag lines, both hidden together (the tagger heard it or not)."""
        if self.sounds is None or self.random.random() < self.tag_dropout or str(path) not in self.sounds:
            return "", ""
        return self.tag_lines.of(self.sounds[str(path)], text)

    def rng_state(self) -> dict[str, Any]:
        """The random generators of the rows' draws (speed perturbation, transcript dropout) as JSON-able data, so
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

