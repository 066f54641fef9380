"""Audio inside game containers, read with the standard library: zip files (``.pk3``, ``.wz``, ``.zip``) and
OpenTTD's sound catalogue (``.cat``). Each member comes back as its name and a way to read its bytes."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = (".ogg", ".oga", ".wav", ".flac", ".mp3")


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the archive, or, in an OpenTTD catalogue, the sound's title
    read: Callable[[], bytes]
    credit: str = ""  # the catalogue's own credit line (title, author, licence), where it has one


def zip_members(archive: Path, prefix: str = "") -> list[Member]:
    """The audio files of a zip archive whose names start with ``prefix``."""
    with zipfile.ZipFile(archive) as handle:
        names = sorted(n for n in handle.namelist() if n.startswith(prefix) and n.lower().endswith(AUDIO_SUFFIXES))
    return [Member(name, _zip_reader(archive, name)) for name in names]


def _zip_reader(archive: Path, name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with zipfile.ZipFile(archive) as handle:
            return handle.read(name)
    return read


def openttd_members(catalogue: Path) -> list[Member]:
    """OpenTTD's ``.cat``: a table of (offset, size) pairs, then at each offset a length-prefixed credit line
    (``"Title". Original ... License: ...``) followed by a RIFF WAVE chunk."""
    data = catalogue.read_bytes()
    if len(data) < 8:
        raise ValueError(f"{catalogue}: too short for an OpenTTD sound catalogue")
    # The high bit of each offset is a flag, not part of the offset.
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    members = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", data, i * 8)
        offset &= 0x7FFFFFFF
        length = data[offset]
        credit = data[offset + 1:offset + 1 + length].rstrip(b"\0").decode("utf-8", "replace")
        start, end = offset + 1 + length, offset + size
        if data[start:start + 4] != b"RIFF":
            raise ValueError(f"{catalogue}: entry {i} does not hold a RIFF chunk")
        title = credit.split('"')[1] if credit.count('"') >= 2 else f"sound {i}"
        members.append(Member(title, _slice(data, start, end), credit))
    return members


def _slice(data: bytes, start: int, end: int) -> Callable[[], bytes]:
    return lambda: data[start:end]
