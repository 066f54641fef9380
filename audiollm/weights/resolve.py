"""Resolve model names to local directories: base weights in transformers format, and saved audiollm models.

A base-model name resolves in order: a local path (a transformers directory, or a CTranslate2 directory, openai-whisper
``.pt`` or GGUF file, converted once), the Hugging Face cache or hub, an installed offline pack (converted once),
and otherwise an error that says what to install. Conversions are cached under ``cache_root()/models``, each
written atomically, so a killed conversion leaves nothing a later run trusts. A saved model resolves as a released
name, a local directory or a hub repository, through the same hub lookup.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..cache import atomic_directory, cache_root
from .errors import WeightsError
from .names import PACKS, Kind, Pack, find_pack, hub_repo
from .packs import is_installed, locate, version

# What a base model needs from a hub repository (not the TensorFlow, Flax or ONNX copies).
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
# What save_pretrained writes: config, processor (tokenizer files, chat template), projector and the LoRA adapter.
SAVED_FILES = ["*.yaml", "*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"]


def resolve_model(name: str, kind: Kind) -> Path:
    """A local directory holding ``name`` in transformers format, converting (once) when needed."""
    if not name:
        raise WeightsError(f"no {kind} model named in the config")
    path = Path(name).expanduser()
    if path.exists():
        return from_local(path, kind)
    hub_path, hub_problem = from_hub(hub_repo(name), HUB_FILES)
    if hub_path is not None:
        return hub_path
    pack = find_pack(name)
    if pack is not None:
        if is_installed(pack):
            return from_pack(pack)
        raise WeightsError(f"{kind} model {name!r}: {hub_problem}; install its offline pack with: "
                           f"{pack.install_command}")
    raise WeightsError(f"{kind} model {name!r}: not a local path, and {hub_problem}. Known offline names: "
                       f"{', '.join(PACKS)}")


def resolve_saved(name: str | Path, released: Path, config_file: str) -> Path:
    """A directory written by ``save_pretrained``: a released model's name (a folder of ``released``), a local
    directory, or a hub repository (cache first, as base weights)."""
    path = released / str(name) if str(name) in released_names(released) else Path(name).expanduser()
    if path.is_dir():
        if not (path / config_file).is_file():
            raise WeightsError(f"{path}: no {config_file}; not a directory written by save_pretrained")
        return path
    hub_path, hub_problem = from_hub(str(name), SAVED_FILES)
    if hub_path is None:
        raise WeightsError(f"model {str(name)!r}: not a released model ({', '.join(released_names(released))}), "
                           f"not a local directory, and {hub_problem}")
    if not (hub_path / config_file).is_file():
        raise WeightsError(f"model {str(name)!r}: the hub repository has no {config_file}; not an audiollm model")
    return hub_path


def released_names(released: Path) -> list[str]:
    return sorted(p.name for p in released.iterdir() if p.is_dir()) if released.is_dir() else []


def from_hub(repo: str, files: list[str], network: bool = True) -> tuple[Path | None, str]:
    """The hub snapshot of ``repo``'s ``files`` (cache first, then the network unless ``HF_HUB_OFFLINE`` or not
    ``network``), or why there is none. The one hub lookup, for base weights and saved models alike."""
    if repo.count("/") != 1:
        return None, f"{repo!r} is not a Hugging Face repository id"
    from huggingface_hub import snapshot_download

    offline = not network or os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    problem = ""
    for local_only in (True, False) if not offline else (True,):
        try:
            return Path(snapshot_download(repo, allow_patterns=files, local_files_only=local_only)), ""
        except Exception as exc:  # noqa: BLE001 - any hub failure means "not available here"
            problem = f"{repo} is not in the Hugging Face cache or reachable on the hub ({type(exc).__name__})"
    return None, problem


def pack_dir(pack: Pack) -> Path:
    """Where the converted copy of an installed offline pack lives (whether or not it exists yet)."""
    return models_dir() / f"{pack.name}-{version(pack)}"


def from_pack(pack: Pack) -> Path:
    """The converted copy of an installed offline pack, converting it on first use."""
    def convert(out: Path) -> None:
        weights, directory = locate(pack)
        if pack.format == "ctranslate2":
            from .convert import ctranslate2_whisper

            ctranslate2_whisper.convert(weights, directory, out)
        else:
            from .convert import gguf_llm

            gguf_llm.convert(weights[0], out)

    return converted(pack_dir(pack), convert, f"offline pack {' + '.join(pack.dists)}")


def from_local(path: Path, kind: Kind) -> Path:
    """A local transformers directory as is; a CTranslate2 directory, ``.pt`` or ``.gguf`` file converted once."""
    if is_transformers_dir(path):
        return path
    final = local_target(path)
    if path.is_dir() and (path / "model.bin").is_file():
        from .convert import ctranslate2_whisper

        return converted(final, lambda out: ctranslate2_whisper.convert([path / "model.bin"], path, out), str(path))
    if path.suffix == ".pt" and kind == "whisper":
        from .convert import openai_whisper

        return converted(final, lambda out: openai_whisper.convert(path, out), str(path))
    if path.suffix == ".gguf" and kind == "llm":
        from .convert import gguf_llm

        return converted(final, lambda out: gguf_llm.convert(path, out), str(path))
    expected = "a transformers or CTranslate2 directory, or an openai-whisper .pt file" if kind == "whisper" else \
        "a transformers directory or a .gguf file"
    raise WeightsError(f"{path}: not a {kind} model this loader knows; expected {expected}")


def cached_model(name: str) -> Path | None:
    """Where ``name`` is available without converting or downloading anything; None when it is not."""
    path = Path(name).expanduser()
    if path.exists():
        if is_transformers_dir(path):
            return path
        return local_target(path) if local_target(path).is_dir() else None
    hub_path, _ = from_hub(hub_repo(name), HUB_FILES, network=False)
    if hub_path is not None:
        return hub_path
    pack = find_pack(name)
    if pack is not None and is_installed(pack) and pack_dir(pack).is_dir():
        return pack_dir(pack)
    return None


def is_transformers_dir(path: Path) -> bool:
    # A CTranslate2 directory has a config.json too, but keeps its weights in model.bin.
    return path.is_dir() and (path / "config.json").is_file() and not (path / "model.bin").is_file()


def local_target(path: Path) -> Path:
    """Where the converted copy of a local CTranslate2 directory, ``.pt`` or ``.gguf`` file is cached."""
    return models_dir() / f"{path.stem or path.name}-{fingerprint(path)}"


def models_dir() -> Path:
    return cache_root() / "models"


def fingerprint(path: Path) -> str:
    """Identifies a local source by location, size and modification time (a changed file converts again)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    facts = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:12]


def converted(final: Path, convert: Callable[[Path], None], source: str) -> Path:
    """``final`` if an earlier conversion completed it; otherwise convert ``source`` into it atomically."""
    if final.is_dir():
        return final
    print(f"converting {source} -> {final} (once; later runs use the cache)", file=sys.stderr)
    start = time.perf_counter()
    with atomic_directory(final) as scratch:
        convert(scratch)
    print(f"converted in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return final
