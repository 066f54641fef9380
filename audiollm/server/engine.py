"""What every route works with, one per app: the model, its batcher, the speech head and the limits. Routes take it
as a FastAPI dependency (``EngineDep``), so a test can hand an app any model."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Annotated

from fastapi import Depends, Request

from ..generation import GenerationRequest
from ..model import AudioLLM
from .batching import Batcher
from .errors import APIError
from .settings import ServeConfig
from .speaking import Speaker


@dataclasses.dataclass
class Engine:
    config: ServeConfig
    model: AudioLLM
    batcher: Batcher
    speaker: Speaker
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        # Prompts are counted in the request's own thread, never in the generation thread, with a tokenizer of
        # their own (one at a time: a tokenizer is not meant to be shared between threads).
        self._processor = copy.deepcopy(self.model.processor)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.config.served_name

    def check_model(self, requested: str) -> None:
        if requested != self.name:
            raise APIError(404, f"model {requested!r} does not exist; this server serves {self.name!r}", "model",
                           "model_not_found")

    def max_tokens(self, requested: int | None) -> int:
        if requested is None:
            return min(self.model.config.max_new_tokens, self.config.max_tokens)
        if requested > self.config.max_tokens:
            raise APIError(400, f"max_tokens: {requested} is over this server's limit of {self.config.max_tokens}",
                           "max_tokens", "max_tokens_too_large")
        return requested

    def admit(self, request: GenerationRequest) -> None:
        """Refuse (400) a prompt over ``max_prompt_tokens``, before it is queued. Its clips are decoded already, so
        this only renders and tokenizes text that ``max_prompt_chars`` has bounded."""
        limit = self.config.max_prompt_tokens
        try:
            with self._lock:
                ids, _ = self._processor.tokenize(self._processor.conversation(request.conversation), True)
        except Exception as exc:  # noqa: BLE001 - whatever the text does to the tokenizer, it is this request's
            raise APIError(400, f"messages: the prompt cannot be tokenized: {exc}", "messages",
                           "invalid_prompt") from exc
        if len(ids) > limit:
            raise APIError(400, f"messages: the prompt is {len(ids)} tokens (audio included); the limit is {limit}",
                           "messages", "context_length_exceeded")


def engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(engine)]
