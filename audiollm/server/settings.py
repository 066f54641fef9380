"""What ``audiollm serve`` is told: the model, where to listen, and the limits that keep the server up.

Each field is one ``audiollm serve`` flag (``max_body_mb`` is ``--max-body-mb``), with the help text given here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from ..config import DEFAULT_MODEL, MODEL_HELP, option
from ..placement import DEVICE_HELP, DTYPE_HELP


@dataclasses.dataclass
class ServeConfig:
    model: str = option(DEFAULT_MODEL, MODEL_HELP)
    device: str = option("auto", DEVICE_HELP)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = option("auto", DTYPE_HELP)
    model_name: str | None = option(None, "the model id clients send (default: the --model name, e.g. 'tiny' for "
                                          "configs/models/tiny.yaml)")
    # Loopback unless told otherwise: the API has no authentication without ``api_key``.
    host: str = option("127.0.0.1", "address to bind (127.0.0.1: this machine only)")
    port: int = option(8000, "port to listen on")
    api_key: str | None = option(None, "ask clients for 'Authorization: Bearer KEY' (default: no key asked)")
    max_body_mb: float = option(25.0, "largest request body in MB (OpenAI's own upload limit is 25 MB)")
    max_audio_seconds: float = option(120.0, "longest audio a request may send, in seconds")
    max_tokens: int = option(512, "the largest max_tokens a request may ask for")
    max_prompt_tokens: int = option(4096, "longest prompt in tokens, audio placeholders included (30 s of audio is "
                                          "375 with the projector stacking 4 frames)")
    speech: str = option("hibari", "speech backend for spoken answers (hibari, piper or espeak), loaded on the "
                                   "first request for one")
    speech_voice: str | None = option(None, "the speech backend's voice, for piper an .onnx file (default: the "
                                            "backend's own)")
    queue_size: int = option(64, "requests that may wait for the model; more get 503 instead of an ever-growing "
                                 "queue")
    max_batch: int = option(16, "requests answered together in one generation")
    batch_window_ms: float = option(10.0, "how long the first request of a batch waits for others to join it")

    def __post_init__(self) -> None:
        limits = ("max_body_mb", "max_audio_seconds", "max_tokens", "max_prompt_tokens", "queue_size", "max_batch")
        for name in limits:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_window_ms < 0:
            raise ValueError(f"batch_window_ms must be at least 0, got {self.batch_window_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")

    @property
    def served_name(self) -> str:
        if self.model_name:
            return self.model_name
        spec = str(self.model)
        return Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec
