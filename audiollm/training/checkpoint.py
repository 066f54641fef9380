"""Training checkpoints: ``checkpoints/step-NNNNNNNN/`` written atomically, the last K kept, newest resumed.

A checkpoint holds the backend's state (trainable weights, optimizer, scheduler), each rank's RNG state, and the
trainer's position in the data (epoch and batch), so a resumed run continues exactly where the checkpoint was taken.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch

from .backend import Backend

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
PREFIX = "step-"


@dataclasses.dataclass
class TrainerState:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # the next batch of ``epoch`` to read
    samples: int = 0
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a killed write leaves only a hidden scratch directory)."""
    root = out_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def save_checkpoint(out_dir: Path, state: TrainerState, backend: Backend, keep_last: int) -> Path:
    """Every rank writes its part into a scratch directory; rank 0 renames it into place once all are done."""
    final = out_dir / CHECKPOINTS / f"{PREFIX}{state.step:08d}"
    scratch = final.parent / f".{final.name}.tmp"
    if backend.rank == 0:
        shutil.rmtree(scratch, ignore_errors=True)  # left by a run killed while writing
        scratch.mkdir(parents=True)
    backend.barrier()
    backend.save_state(scratch)
    _save_rng(scratch / f"rng-{backend.rank}.pt")
    backend.barrier()
    if backend.rank == 0:
        (scratch / STATE_FILE).write_text(json.dumps(dataclasses.asdict(state), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        for old in checkpoints(out_dir)[:-keep_last]:
            shutil.rmtree(old)
    backend.barrier()
    return final


def load_checkpoint(path: Path, backend: Backend) -> TrainerState:
    state = TrainerState(**json.loads((path / STATE_FILE).read_text()))
    backend.load_state(path)
    rng = path / f"rng-{backend.rank}.pt"
    if not rng.is_file():
        raise ValueError(f"{path}: no RNG state for rank {backend.rank}; resume with the world size it was saved with")
    _load_rng(rng)
    return state


def _save_rng(path: Path) -> None:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    torch.save(state, path)


def _load_rng(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
