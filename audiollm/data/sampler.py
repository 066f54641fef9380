"""Length-grouped batches: similar lengths share a batch so padding stays small; deterministic per (seed, epoch)
and split across ranks so that every rank gets the same number of equally sized batches. Rows may carry weights
(how many times a row is drawn per epoch, on average) so that a rare task is not drowned by a common one."""

from __future__ import annotations

import torch

# Rows sorted by length within windows of this many global batches: enough grouping, still well shuffled.
GROUP_BATCHES = 50


class LengthGroupedBatches:
    def __init__(self, lengths: list[int], batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 weights: list[float] | None = None):
        if not lengths:
            raise ValueError("no rows to batch")
        if weights is not None and (len(weights) != len(lengths) or min(weights) <= 0):
            raise ValueError(f"need one positive weight per row: {len(weights)} weights for {len(lengths)} rows")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.weights = weights

    def epoch(self, epoch: int) -> list[list[int]]:
        """This rank's batches (row indices) for ``epoch``, in order."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        rows = self._draw(generator)
        order = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
        global_size = self.batch_size * self.world_size
        if self.world_size > 1 and len(order) % global_size:
            # Every rank must run the same number of full steps: wrap around to fill the last global batch.
            need = global_size - len(order) % global_size
            order += (order * (need // len(order) + 1))[:need]
        window = global_size * GROUP_BATCHES
        global_batches: list[list[int]] = []
        for start in range(0, len(order), window):
            group = sorted(order[start : start + window], key=lambda i: -self.lengths[i])
            global_batches += [group[i : i + global_size] for i in range(0, len(group), global_size)]
        shuffle = torch.randperm(len(global_batches), generator=generator).tolist()
        mine = [global_batches[i][self.rank * self.batch_size : (self.rank + 1) * self.batch_size] for i in shuffle]
        return [batch for batch in mine if batch]

    def _draw(self, generator: torch.Generator) -> list[int]:
        """Row indices of one epoch: a row of weight w appears floor(w) times, plus once more with probability
        w - floor(w), so a weight of 0.25 keeps a random quarter of a task's rows and 4 repeats each row."""
        if self.weights is None:
            return list(range(len(self.lengths)))
        weights = torch.tensor(self.weights, dtype=torch.float64)
        whole = weights.floor()
        extra = torch.rand(len(weights), generator=generator, dtype=torch.float64) < weights - whole
        return torch.repeat_interleave(torch.arange(len(weights)), (whole + extra).long()).tolist()
