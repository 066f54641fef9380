"""Training checkpoints: ``checkpoints/step-NNNNNNNN/`` written atomically, the last K kept, newest resumed.

A checkpoint holds the backend's state (trainable weights, optimizer, scheduler), each rank's RNG states (torch's,
and the data's: speed perturbation, transcript dropout), the batch each rank repeats with zero weight when all its
rows fail, and the trainer's position in the data (epoch and batch), so a resumed run continues exactly where the
checkpoint was taken.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..data.collate import TrainBatch
from ..processor import AudioBatch
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


@dataclasses.dataclass
class RankData:
    """One rank's data side: the dataset's random generators (``ManifestDataset.rng_state``; None from a checkpoint
    written before they were kept) and the last usable batch (None before the first)."""

    rng: dict[str, Any] | None = None
    last_good: TrainBatch | None = None


def checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a killed write leaves only a hidden scratch directory)."""
    root = out_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def save_checkpoint(out_dir: Path, state: TrainerState, backend: Backend, keep_last: int, data: RankData) -> Path:
    """Every rank writes its part into a scratch directory; rank 0 renames it into place once all are done."""
    final = out_dir / CHECKPOINTS / f"{PREFIX}{state.step:08d}"
    scratch = final.parent / f".{final.name}.tmp"
    if backend.rank == 0:
        shutil.rmtree(scratch, ignore_errors=True)  # left by a run killed while writing
        scratch.mkdir(parents=True)
    backend.barrier()
    backend.save_state(scratch)
    _save_rng(scratch / f"rng-{backend.rank}.pt")
    (scratch / f"data-rng-{backend.rank}.json").write_text(json.dumps(data.rng))
    if data.last_good is not None:
        _save_batch(data.last_good, scratch / f"last-batch-{backend.rank}.safetensors")
    backend.barrier()
    if backend.rank == 0:
        (scratch / STATE_FILE).write_text(json.dumps(dataclasses.asdict(state), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        for old in checkpoints(out_dir)[:-keep_last]:
            shutil.rmtree(old)
    backend.barrier()
    return final


def load_checkpoint(path: Path, backend: Backend) -> tuple[TrainerState, RankData]:
    state = TrainerState(**json.loads((path / STATE_FILE).read_text()))
    backend.load_state(path)
    rng = path / f"rng-{backend.rank}.pt"
    if not rng.is_file():
        raise ValueError(f"{path}: no RNG state for rank {backend.rank}; resume with the world size it was saved with")
    _load_rng(rng)
    data_rng, batch = path / f"data-rng-{backend.rank}.json", path / f"last-batch-{backend.rank}.safetensors"
    return state, RankData(json.loads(data_rng.read_text()) if data_rng.is_file() else None,
                           _load_batch(batch) if batch.is_file() else None)


def _save_batch(batch: TrainBatch, path: Path) -> None:
    tokens = batch.tokens
    tensors = {"input_ids": tokens.input_ids, "attention_mask": tokens.attention_mask,
               **({} if tokens.labels is None else {"labels": tokens.labels}),
               **{f"clip.{i}": torch.from_numpy(np.ascontiguousarray(c)) for i, c in enumerate(batch.clips)}}
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"rows": json.dumps(batch.rows), "answers": json.dumps(batch.answers)})


def _load_batch(path: Path) -> TrainBatch:
    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    clips = [tensors[f"clip.{i}"].numpy() for i in range(sum(key.startswith("clip.") for key in tensors))]
    tokens = AudioBatch(tensors["input_ids"], tensors["attention_mask"], tensors.get("labels"), [])
    return TrainBatch(tokens, clips, json.loads(metadata["rows"]), json.loads(metadata["answers"]))


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
