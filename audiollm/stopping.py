"""Stop a greedy answer that has fallen into a loop: a small LLM can repeat one word ("hole hole hole ...") until
``max_new_tokens``, which costs time and, in a transcript, one insertion per repeat."""

from __future__ import annotations

import torch
from transformers import StoppingCriteria


class RepetitionStop(StoppingCriteria):
    """Stops each row whose newest tokens are one cycle of 1 to ``max_cycle`` tokens repeated ``times`` times."""

    def __init__(self, times: int = 6, max_cycle: int = 8):
        if times < 2 or max_cycle < 1:
            raise ValueError(f"a loop needs times >= 2 and max_cycle >= 1, got {times} and {max_cycle}")
        self.times = times
        self.max_cycle = max_cycle

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        looping = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for cycle in range(1, self.max_cycle + 1):
            span = cycle * self.times
            if input_ids.shape[1] < span:
                break
            tail = input_ids[:, -span:].reshape(input_ids.shape[0], self.times, cycle)
            looping |= (tail == tail[:, :1]).all(dim=2).all(dim=1)
        return looping
