"""Audio captioning CSVs: AudioCaps (``audiocap_id,youtube_id,start_time,caption``) and Clotho
(``file_name,caption_1..caption_5``). Each caption becomes a ``caption`` row; ``meta.captions`` has them all."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from ..manifest import example_row
from ..starter.instructions import PROMPTS
from .common import ImportResult, find_audio, finish


def import_captions(csv_path: str | Path, audio_root: str | Path, out_dir: str | Path, seed: int = 0) -> ImportResult:
    """AudioCaps audio is looked up as ``youtube_id``, ``youtube_id_start_time`` or ``audiocap_id`` (any audio
    extension) under ``audio_root``; Clotho audio as ``file_name``."""
    csv_path, audio_root, out_dir = Path(csv_path), Path(audio_root), Path(out_dir)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: caption CSV not found")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        table = list(reader)
    if {"youtube_id", "caption"} <= columns:
        style = "audiocaps"
    elif "file_name" in columns and any(c.startswith("caption") for c in columns):
        style = "clotho"
    else:
        raise ValueError(f"{csv_path}: columns {sorted(columns)} are neither AudioCaps (youtube_id, start_time, "
                         "caption) nor Clotho (file_name, caption_1..caption_5)")
    rng = random.Random(seed)
    rows, skipped = [], []
    for number, record in enumerate(table, start=2):  # line 1 is the header
        if style == "audiocaps":
            start = str(record.get("start_time", "")).strip()
            stems = [record["youtube_id"], f"{record['youtube_id']}_{start}", f"{record['youtube_id']}_{start}.000",
                     str(record.get("audiocap_id", ""))]
            captions = [record["caption"]]
            ident = str(record.get("audiocap_id") or record["youtube_id"])
        else:
            stems = [record["file_name"]]
            captions = [record[c] for c in sorted(columns) if c.startswith("caption")]
            ident = record["file_name"]
        captions = [c.strip() for c in captions if c and c.strip()]
        audio = find_audio(audio_root, *[s for s in stems if s])
        if audio is None:
            skipped.append(f"{csv_path}:{number}: audio for {stems[0]} not found under {audio_root}")
            continue
        if not captions:
            skipped.append(f"{csv_path}:{number}: no caption")
            continue
        for i, caption in enumerate(captions):
            rows.append(example_row(str(audio), rng.choice(PROMPTS["caption"]), caption, "caption",
                                    id=f"{ident}#{i}", meta={"captions": captions, "source": style}))
    return finish(rows, skipped, out_dir, csv_path.stem)
