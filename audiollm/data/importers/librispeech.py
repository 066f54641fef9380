"""A LibriSpeech directory tree (``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`` beside ``UTTERANCE.flac``)."""

from __future__ import annotations

import random
from pathlib import Path

from ..manifest import example_row
from ..starter.instructions import PROMPTS
from .common import ImportResult, find_audio, finish


def import_librispeech(root: str | Path, out_dir: str | Path, seed: int = 0) -> ImportResult:
    """One ``asr`` row per utterance listed in a transcript file; utterances without audio are skipped."""
    root, out_dir = Path(root), Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LibriSpeech directory not found")
    transcripts = sorted(root.rglob("*.trans.txt"))
    if not transcripts:
        raise ValueError(f"{root}: no *.trans.txt files; expected a LibriSpeech tree such as LibriSpeech/test-clean")
    rng = random.Random(seed)
    rows, skipped = [], []
    for transcript in transcripts:
        for number, line in enumerate(transcript.read_text(encoding="utf-8").splitlines(), start=1):
            utterance, _, text = line.strip().partition(" ")
            if not utterance:
                continue
            if not text.strip():
                skipped.append(f"{transcript}:{number}: no transcript for {utterance}")
                continue
            audio = find_audio(transcript.parent, utterance)
            if audio is None:
                skipped.append(f"{transcript}:{number}: audio for {utterance} not found")
                continue
            speaker, chapter = (utterance.split("-") + ["", ""])[:2]
            rows.append(example_row(str(audio), rng.choice(PROMPTS["asr"]), text.strip(), "asr", id=utterance,
                                    meta={"speaker": speaker, "chapter": chapter, "source": "librispeech"}))
    return finish(rows, skipped, out_dir, root.name or "librispeech")
