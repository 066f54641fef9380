"""What ``audiollm serve`` is told: the model, where to listen, and the limits that keep the server up."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass
class ServeConfig:
    # What ``--model`` names: 'default', a saved model directory, a hub id, or a model config YAML.
    model: str = "default"
    # The id clients send as ``model``; by default the model spec's name ("tiny" for configs/models/tiny.yaml).
    model_name: str | None = None
    # Loopback unless told otherwise: the API has no authentication without ``api_key``.
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    # OpenAI's own upload limit is 25 MB.
    max_body_mb: float = 25.0
    max_audio_seconds: float = 120.0
    max_tokens: int = 512
    # Prompt tokens, audio placeholders included (30 s of audio is 375 with the projector stacking 4 frames).
    max_prompt_tokens: int = 4096
    # The speech head for spoken answers (hibari, piper or espeak), loaded on the first request for one.
    speech: str = "hibari"
    speech_voice: str | None = None
    # Requests waiting for the model; more get 503 instead of an ever-growing queue.
    queue_size: int = 64
    max_batch: int = 16
    # How long the first request of a batch waits for others to join it.
    batch_window_ms: float = 10.0

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
