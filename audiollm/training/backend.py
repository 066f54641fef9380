"""How a step is run: plain PyTorch in one process, or a DeepSpeed engine (ZeRO 0/2/3) in one or many.

Both expose the same small surface to the trainer: forward, micro_step, save/load of the training state, and the
few collectives the loop needs (all no-ops in one process).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..config import ConfigError
from ..model import AudioLLM
from ..quiet import hushed_stdout
from .config import TrainConfig

TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
ENGINE_TAG = "engine"
SHARED_MEMORY = Path("/dev/shm")


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
        progress = (step - opt.warmup_steps) / max(1, cfg.max_steps - opt.warmup_steps)
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


class DeepSpeedBackend(Backend):
    """A DeepSpeed engine; launched by ``deepspeed``/``torchrun``/``accelerate launch`` or alone (world size 1)."""

    def __init__(self, model: AudioLLM, cfg: TrainConfig):
        import deepspeed
        import torch.distributed as dist
        from deepspeed.accelerator import get_accelerator

        _single_process_defaults()
        # gloo on CPU (oneCCL when installed), nccl on GPU: DeepSpeed's accelerator knows which.
        with hushed_stdout():
            deepspeed.init_distributed(dist_backend=get_accelerator().communication_backend_name())
        self.dist = dist
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.cfg = cfg
        on_gpu = torch.cuda.is_available()
        if on_gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        self.device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        optimizer, scheduler = build_optimizer(model, cfg)
        ds_config = deepspeed_config(cfg, on_gpu)
        self.zero_stage = int(ds_config.get("zero_optimization", {}).get("stage", 0))
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
        )
        self.model = model

    def autocast(self) -> ContextManager[object]:
        return contextlib.nullcontext()  # the engine holds the model in the configured precision

    def forward(self, **inputs: Any) -> CausalLMOutputWithPast:
        return self.engine(**inputs)

    def micro_step(self, loss: torch.Tensor, boundary: bool) -> None:
        # The engine scales by the accumulation steps and steps optimizer and scheduler at the boundary itself.
        self.engine.backward(loss)
        self.engine.step()

    def _gather(self, params: list[torch.nn.Parameter]) -> ContextManager[object]:
        if self.zero_stage < 3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(params)

    def gather_encoder(self) -> ContextManager[object]:
        return self._gather(list(self.model.encoder.parameters()))

    def gather_trainable(self) -> ContextManager[object]:
        return self._gather(self.model.trainable_parameters())

    def mean(self, value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        self.dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def all_true(self, flag: bool) -> bool:
        tensor = torch.tensor([int(flag)], device=self.device)
        self.dist.all_reduce(tensor, op=self.dist.ReduceOp.MIN)
        return bool(tensor.item())

    def gather_objects(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        self.dist.barrier()

    def save_state(self, path: Path) -> None:
        # Frozen weights are rebuilt from the model config; the checkpoint holds what training changes.
        self.engine.save_checkpoint(str(path), tag=ENGINE_TAG, save_latest=False, exclude_frozen_parameters=True)

    def load_state(self, path: Path) -> None:
        # DeepSpeed unpickles its files with weights_only=False; ours are read with weights_only=True instead.
        self.engine.checkpoint_engine.load = _load_weights_only
        loaded, _ = self.engine.load_checkpoint(str(path), tag=ENGINE_TAG, load_module_strict=False)
        if loaded is None:
            raise ValueError(f"{path}: no DeepSpeed engine state to resume from")

    def close(self) -> None:
        # Without this the process may abort at exit (gloo).
        if self.dist.is_initialized():
            self.dist.destroy_process_group()
        _remove_shared_buffer(self.rank)


def _remove_shared_buffer(rank: int) -> None:
    """DeepSpeed maps a 64 MiB buffer per rank in shared memory for all-reduce on CPU and never removes it, so each
    run would hold on to RAM until reboot. The peers mapped it when the group formed; the name is no longer needed."""
    where = f"{os.environ.get('MASTER_ADDR', '')}_{os.environ.get('MASTER_PORT', '')}"  # as shm.cpp names it
    (SHARED_MEMORY / f"deepspeed_allreduce_buffer_{os.getuid()}_{where}_{rank}").unlink(missing_ok=True)


def _load_weights_only(path: str, map_location: Any = None) -> Any:
    """A DeepSpeed checkpoint file: tensors, numbers, strings and DeepSpeed's three plain record types only."""
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    with torch.serialization.safe_globals([LossScaler, ZeroStageEnum, fragment_address]):
        return torch.load(path, map_location=map_location, weights_only=True)


def deepspeed_config(cfg: TrainConfig, on_gpu: bool) -> dict[str, Any]:
    """The JSON named by ``cfg.deepspeed`` with batch, clipping and precision filled from the training config."""
    assert cfg.deepspeed is not None
    path = Path(cfg.deepspeed)
    if not path.is_file():
        raise ConfigError(f"deepspeed config {path} not found")
    try:
        ds = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    ours = {
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "gradient_clipping": cfg.optimizer.max_grad_norm,
    }
    for key, value in ours.items():
        if ds.get(key, "auto") not in ("auto", value):
            raise ConfigError(f"{path}: {key}={ds[key]!r} disagrees with the training config ({value!r}); "
                              "set it in the training config or write \"auto\"")
        ds[key] = value
    ds.pop("train_batch_size", None)  # derived by DeepSpeed from the two above and the world size
    ds["bf16"] = {"enabled": on_gpu and cfg.precision == "bf16"}
    ds["fp16"] = {"enabled": on_gpu and cfg.precision == "fp16"}
    # Our AdamW is a client optimizer; ZeRO runs it on its partitions.
    ds.setdefault("zero_allow_untested_optimizer", True)
    ds.setdefault("steps_per_print", 10**9)
    return ds


def _single_process_defaults() -> None:
    """Let ``audiollm train`` (no launcher) form a process group of one."""
    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def build_backend(model: AudioLLM, cfg: TrainConfig) -> Backend:
    return DeepSpeedBackend(model, cfg) if cfg.deepspeed else Backend(model, cfg)
