"""Where an inference model runs: ``device`` and ``dtype`` names, resolved once for every front end.

``auto`` picks CUDA when there is one, else the CPU; its dtype is bfloat16 on CUDA and, on the CPU, what the model
config says (float32 for the released model). bfloat16 on an AVX512-BF16 CPU changed the released model's greedy
answers (see bench/latency.py), so it is not the CPU default; ``--dtype bfloat16`` asks for it.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a model is placed, so the CLI's flags cost no torch import
    import torch

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_HELP = "where the model runs: auto (CUDA when there is one, else the CPU), cpu, cuda or cuda:N"
DTYPE_HELP = "weights' dtype at inference: auto (bfloat16 on CUDA, the model config's on the CPU), float32, bfloat16, float16"


def resolve_device(name: str | torch.device) -> torch.device:
    """The device ``name`` means; a CUDA device on a machine without one is an error that says so."""
    import torch

    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device {name!r}: not a device name ({DEVICE_HELP})") from exc
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: not supported ({DEVICE_HELP})")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: this machine has no CUDA GPU (torch {torch.__version__}); use --device cpu")
    return device


def resolve_dtype(name: str | torch.dtype, device: torch.device) -> torch.dtype | None:
    """The dtype ``name`` means on ``device``; None keeps the dtypes the model was built with."""
    import torch

    if isinstance(name, torch.dtype):
        return name
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    named = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in named:
        raise ValueError(f"dtype {name!r}: choose one of {', '.join(DTYPES)}")
    return named[name]


def attention_implementation(device: torch.device, dtype: torch.dtype) -> str:
    """flash-attn on CUDA in half precision when it is installed, else PyTorch's SDPA."""
    import torch

    half = dtype in (torch.bfloat16, torch.float16)
    if device.type == "cuda" and half and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
