"""What every importer shares: the result it returns and how it finds audio files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import write_manifest

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


@dataclass
class ImportResult:
    manifest: Path
    rows: int
    skipped: list[str] = field(default_factory=list)  # "item: reason", for rows that could not be converted

    def summary(self) -> str:
        text = f"wrote {self.rows} row(s) to {self.manifest}"
        if self.skipped:
            shown = "\n".join(f"  {s}" for s in self.skipped[:10])
            more = f"\n  ... and {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""
            text += f"\nskipped {len(self.skipped)}:\n{shown}{more}"
        return text


def finish(rows: list[dict[str, Any]], skipped: list[str], out_dir: Path, name: str) -> ImportResult:
    """Write the manifest (``out_dir/name.jsonl``) and the skipped list beside it; no rows at all is an error."""
    if not rows:
        reasons = "; ".join(skipped[:3]) or "the source has no items"
        raise ValueError(f"{name}: nothing to import ({reasons})")
    manifest = out_dir / f"{name}.jsonl"
    count = write_manifest(rows, manifest)
    skipped_file = out_dir / f"{name}.skipped.txt"
    if skipped:
        skipped_file.write_text("\n".join(skipped) + "\n", encoding="utf-8")
    else:
        skipped_file.unlink(missing_ok=True)
    return ImportResult(manifest, count, skipped)


def find_audio(root: Path, *stems: str) -> Path | None:
    """The first existing file among ``root/stem`` as given, or with a known audio extension."""
    for stem in stems:
        candidate = root / stem
        if candidate.is_file():
            return candidate.resolve()
        for ext in AUDIO_EXTENSIONS:
            with_ext = root / f"{stem}{ext}"
            if with_ext.is_file():
                return with_ext.resolve()
    return None
