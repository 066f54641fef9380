"""Resolve base-model names to local directories of transformers weights."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["whisper", "llm"]

# Short names used in configs, and the Hugging Face repositories they stand for.
ALIASES: dict[str, str] = {
    "whisper-base": "openai/whisper-base",
    "whisper-tiny.en": "openai/whisper-tiny.en",
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


class WeightsError(FileNotFoundError):
    """Base weights that cannot be found or read; the message says what to install or fetch."""


def resolve_model(name: str, kind: Kind) -> Path:
    """A local directory holding ``name`` in transformers format: a local path, else the Hugging Face hub/cache."""
    if not name:
        raise WeightsError(f"no {kind} model named in the config")
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    repo = ALIASES.get(name, name)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo))
    except Exception as exc:  # noqa: BLE001 - any hub failure means "not available here"
        raise WeightsError(f"{kind} model {name!r}: not a local directory and not available from the Hugging Face "
                           f"hub or cache ({type(exc).__name__}: {exc})") from exc
