"""What ``audiollm serve`` is told: the model, where to listen, and the limits that keep the server up.

Each field is one ``audiollm serve`` flag (``max_body_mb`` is ``--max-body-mb``), with the help text given here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from ..config import DEFAULT_MODEL, MODEL_HELP, is_model_config, option
from ..placement import DEVICE_HELP, DTYPE_HELP

API_KEY_ENV = "AUDIOLLM_API_KEY"


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
    api_key: str | None = option(None, f"ask clients for 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} when "
                                       "set, which keeps the key out of the process list; else no key asked)")
    max_body_mb: float = option(25.0, "largest request body in MB (OpenAI's own upload limit is 25 MB)")
    body_timeout_s: float = option(30.0, "seconds a client may take to send its request body; slower ones get 408")
    max_audio_seconds: float = option(120.0, "longest clip a request may send, in seconds (read from the file "
                                             "header before decoding)")
    max_clips: int = option(8, "most audio clips in one request")
    max_total_audio_seconds: float = option(300.0, "longest audio of all of one request's clips together, in "
                                                   "seconds")
    max_prompt_chars: int = option(32_000, "longest prompt text of a request in characters, all its text parts "
                                           "together (checked before it is tokenized)")
    max_tokens: int = option(512, "the largest max_tokens a request may ask for")
    max_prompt_tokens: int = option(4096, "longest prompt in tokens, audio placeholders included (30 s of audio is "
                                          "375 with the projector stacking 4 frames)")
    audio_url_hosts: tuple[str, ...] | None = option(None, "hosts whose http(s) audio_url parts are fetched (default: "
                                                           "none; data: URIs are always accepted, no other scheme "
                                                           "ever)")
    audio_url_timeout_s: float = option(10.0, "seconds allowed to fetch one audio_url (its size is limited by "
                                              "--max-body-mb)")
    speech: str = option("hibari", "speech backend for spoken answers (hibari, piper or espeak), loaded on the "
                                   "first request for one")
    speech_voice: str | None = option(None, "the speech backend's voice, for piper an .onnx file (default: the "
                                            "backend's own)")
    queue_size: int = option(64, "requests that may wait for the model; more get 503 instead of an ever-growing "
                                 "queue")
    max_batch: int = option(16, "requests answered together in one generation")
    batch_window_ms: float = option(10.0, "how long the first request of a batch waits for others to join it")

    def __post_init__(self) -> None:
        limits = ("max_body_mb", "body_timeout_s", "max_audio_seconds", "max_clips", "max_total_audio_seconds",
                  "max_prompt_chars", "max_tokens", "max_prompt_tokens", "audio_url_timeout_s", "queue_size",
                  "max_batch")
        for name in limits:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_window_ms < 0:
            raise ValueError(f"batch_window_ms must be at least 0, got {self.batch_window_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        self.audio_url_hosts = tuple(host.lower() for host in self.audio_url_hosts or ())
        if self.api_key == "":
            raise ValueError("api_key is empty; give a key or leave it out")

    @property
    def served_name(self) -> str:
        if self.model_name:
            return self.model_name
        spec = str(self.model)
        return Path(spec).stem if is_model_config(spec) else spec
