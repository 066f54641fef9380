"""The on-disk cache (``AUDIOLLM_CACHE``, default ``~/.cache/audiollm``) and atomic writes into it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("AUDIOLLM_CACHE", "~/.cache/audiollm")).expanduser()


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a scratch directory that becomes ``final`` only if the block completes.

    A killed process leaves a hidden ``.tmp`` directory behind, never a half-written ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        yield scratch
        try:
            os.replace(scratch, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another process finished the same work first; its result is as good as ours.
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary path that replaces ``final`` only if the block completes."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield scratch
        os.replace(scratch, final)
    finally:
        scratch.unlink(missing_ok=True)
