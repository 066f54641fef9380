"""Hugging Face ``datasets`` audio data sets with LibriSpeech-style (``text``), AudioCaps-style (``caption``) or
Clotho-style (``caption_1``..``caption_5``) columns. Audio is written out as 16 kHz wav files beside the manifest."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ...audio import SAMPLE_RATE, AudioError, load_audio
from ...cache import atomic_file
from ..manifest import example_row
from ..starter.instructions import PROMPTS
from .common import ImportResult, finish

TEXT_COLUMNS = ("text", "sentence", "transcript", "transcription", "normalized_text")
ID_COLUMNS = ("id", "audiocap_id", "file_name", "youtube_id")


def import_hf(source: Any, out_dir: str | Path, split: str | None = None, seed: int = 0,
              name: str | None = None) -> ImportResult:
    """``source`` is a ``datasets.Dataset`` / ``DatasetDict`` or a directory written by ``save_to_disk``.

    A ``DatasetDict`` gives one manifest per split (``split`` picks one); the result is that of the last.
    """
    import datasets

    out_dir = Path(out_dir)
    if isinstance(source, (str, Path)):
        if not Path(source).is_dir():
            raise FileNotFoundError(f"{source}: not a directory saved with datasets' save_to_disk")
        name = name or Path(source).name
        source = datasets.load_from_disk(str(source))
    if isinstance(source, datasets.DatasetDict):
        splits = [split] if split else sorted(source)
        unknown = [s for s in splits if s not in source]
        if unknown:
            raise ValueError(f"no split {unknown[0]!r}; the data set has {sorted(source)}")
        result = None
        for s in splits:
            result = _import_split(source[s], out_dir, f"{name or 'dataset'}-{s}", seed)
        assert result is not None
        return result
    return _import_split(source, out_dir, name or "dataset", seed)


def _import_split(dataset: Any, out_dir: Path, name: str, seed: int) -> ImportResult:
    import datasets

    columns = list(dataset.column_names)
    audio_column = next((c for c in columns if isinstance(dataset.features[c], datasets.Audio)),
                        "audio" if "audio" in columns else None)
    if audio_column is None:
        raise ValueError(f"{name}: no audio column among {columns}")
    text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
    caption_columns = sorted(c for c in columns if c == "caption" or c.startswith("caption_"))
    if text_column is None and not caption_columns:
        raise ValueError(f"{name}: no transcript ({', '.join(TEXT_COLUMNS)}) or caption (caption, caption_1..) "
                         f"column among {columns}")
    if isinstance(dataset.features[audio_column], datasets.Audio):
        # Encoded bytes or paths: decoded by our own loader, with no extra decoding library.
        dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
    rng = random.Random(seed)
    audio_dir = out_dir / "audio" / name
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []
    for index, record in enumerate(tqdm(dataset, desc=f"import {name}", unit="row")):
        ident = next((str(record[c]) for c in ID_COLUMNS if c in record and record[c] not in (None, "")), str(index))
        wav = audio_dir / f"{index:07d}.wav"
        try:
            if not wav.is_file():
                samples = _samples(record[audio_column], f"{name} row {index}")
                with atomic_file(wav) as scratch:
                    sf.write(scratch, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        except AudioError as exc:
            skipped.append(f"row {index} ({ident}): {exc}")
            continue
        relative = str(wav.relative_to(out_dir))
        if text_column is not None:
            text = str(record[text_column] or "").strip()
            if not text:
                skipped.append(f"row {index} ({ident}): empty {text_column}")
                continue
            rows.append(example_row(relative, rng.choice(PROMPTS["asr"]), text, "asr", id=ident,
                                    meta={"source": name}))
        else:
            captions = [str(record[c]).strip() for c in caption_columns if record[c] and str(record[c]).strip()]
            for i, caption in enumerate(captions):
                rows.append(example_row(relative, rng.choice(PROMPTS["caption"]), caption, "caption",
                                        id=f"{ident}#{i}", meta={"captions": captions, "source": name}))
    return finish(rows, skipped, out_dir, name)


def _samples(value: Any, label: str) -> np.ndarray:
    """An audio cell as 16 kHz samples: encoded bytes, a path, or a decoded ``{array, sampling_rate}``."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return load_audio(bytes(value["bytes"]), name=label)
        if value.get("array") is not None:
            return load_audio((np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])), name=label)
        if value.get("path"):
            return load_audio(str(value["path"]), name=label)
    if isinstance(value, str):
        return load_audio(value, name=label)
    raise AudioError(f"{label}: unreadable audio cell {type(value).__name__}")
