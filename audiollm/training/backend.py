"""How a step is run in plain PyTorch, one process: the optimizer and its schedule, the precision, the step.

:class:`Backend` is the small surface the trainer sees: forward, micro_step, save/load of the training state, and
the few collectives the loop needs (no-ops here). :mod:`.deepspeed_backend` gives the same surface on a DeepSpeed
engine (ZeRO 0/2/3), in one process or many.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..model import AudioLLM
from .config import TrainConfig

TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"


def build_optimizer(model: AudioLLM, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, LambdaLR]:
    opt = cfg.optimizer
    params = model.trainable_parameters()
    if not params:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=opt.lr, betas=(opt.betas[0], opt.betas[1]), eps=opt.eps,
                                  weight_decay=opt.weight_decay)

    def factor(step: int) -> float:
        if step < opt.warmup_steps:
            return (step + 1) / (opt.warmup_steps + 1)
        length = cfg.max_steps if opt.schedule_steps is None else opt.schedule_steps
        progress = (step - opt.warmup_steps) / max(1, length - opt.warmup_steps)
        if opt.schedule == "linear":
            return max(0.0, 1.0 - progress)
        if opt.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return optimizer, LambdaLR(optimizer, factor)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): elsewhere bf16 autocast is slower than
    float32, so a CPU without it trains in float32 whatever the config says."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype a step's products run in under ``precision`` on ``device``; None for float32 (no autocast)."""
    if device.type == "cuda" and precision != "fp32":
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cpu" and precision == "bf16" and cpu_has_bf16():
        return torch.bfloat16
    return None


class Backend:
    """Plain PyTorch, one process."""

    rank = 0
    world_size = 1

    def __init__(self, model: AudioLLM, cfg: TrainConfig):
        self.cfg = cfg
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.optimizer, self.scheduler = build_optimizer(model, cfg)
        self.optimizer.zero_grad(set_to_none=True)
        self.autocast_dtype = autocast_dtype(self.device, cfg.precision)

    def autocast(self) -> ContextManager[object]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def forward(self, **inputs: Any) -> CausalLMOutputWithPast:
        with self.autocast():
            return self.model(**inputs)

    def micro_step(self, loss: torch.Tensor, boundary: bool) -> None:
        (loss / self.cfg.grad_accum).backward()
        if boundary:
            torch.nn.utils.clip_grad_norm_(self.model.trainable_parameters(), self.cfg.optimizer.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def gather_encoder(self) -> ContextManager[object]:
        return contextlib.nullcontext()

    def gather_trainable(self) -> ContextManager[object]:
        return contextlib.nullcontext()

    # ---- collectives (one process: identities) ----

    def mean(self, value: float) -> float:
        return value

    def all_true(self, flag: bool) -> bool:
        return flag

    def gather_objects(self, obj: Any) -> list[Any]:
        return [obj]

    def barrier(self) -> None:
        pass

    # ---- training state ----

    def save_state(self, path: Path) -> None:
        """Trainable weights (safetensors) and optimizer + scheduler state (tensors and numbers only)."""
        from safetensors.torch import save_file

        state = {n: p.detach().cpu().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}
        save_file(state, path / TRAINABLE_FILE)
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   path / OPTIMIZER_FILE)

    def load_state(self, path: Path) -> None:
        from safetensors.torch import load_file

        saved = load_file(path / TRAINABLE_FILE)
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        if set(saved) != set(params):
            raise ValueError(f"{path}: the checkpoint's trainable weights do not match this model "
                             f"(e.g. {sorted(set(saved) ^ set(params))[:3]})")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(saved[name])
        # Tensors, numbers and strings only: nothing but our own data is unpickled.
        state = torch.load(path / OPTIMIZER_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def close(self) -> None:
        pass
