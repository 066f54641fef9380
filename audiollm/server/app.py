"""The FastAPI app: ``/v1/chat/completions``, ``/v1/audio/transcriptions``, ``/v1/models``, ``/health``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..conversation import Message
from ..generation import Generation, GenerationRequest
from ..model import AudioLLM, load_model
from .batching import Batcher
from .errors import APIError, error_body, install_error_handlers
from .guards import BodyLimit, api_key_check
from .inputs import to_messages
from .schemas import ChatRequest, chat_chunk, chat_completion, completion_id, model_card, usage_chunk
from .settings import ServeConfig
from .speaking import Speaker
from .transcriptions import add_transcription_route


def create_app(config: ServeConfig, model: AudioLLM | None = None) -> FastAPI:
    """The API for ``config``; it loads ``config.model`` on startup unless ``model`` is given."""
    name = config.served_name
    created = int(time.time())
    speaker = Speaker(config.speech, config.speech_voice)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = model if model is not None else await run_in_threadpool(load_model, config.model, None, config.device, config.dtype)
        batcher = Batcher(loaded, config.queue_size, config.max_batch, config.batch_window_ms / 1000,
                          config.max_prompt_tokens)
        batcher.start()
        app.state.model = loaded
        app.state.batcher = batcher
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(title="audiollm", version=__version__, lifespan=lifespan,
                  description="OpenAI-compatible API for an audio-understanding LLM.")
    app.add_middleware(BodyLimit, max_bytes=int(config.max_body_mb * 1e6))
    install_error_handlers(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(api_key_check(config.api_key))])

    def check_model(requested: str) -> None:
        if requested != name:
            raise APIError(404, f"model {requested!r} does not exist; this server serves {name!r}", "model",
                           "model_not_found")

    def max_tokens(requested: int | None) -> int:
        if requested is None:
            return min(app.state.model.config.max_new_tokens, config.max_tokens)
        if requested > config.max_tokens:
            raise APIError(400, f"max_tokens: {requested} is over this server's limit of {config.max_tokens}",
                           "max_tokens", "max_tokens_too_large")
        return requested

    def chat_request(body: ChatRequest, messages: list[Message], tokens: int) -> GenerationRequest:
        stop = [body.stop] if isinstance(body.stop, str) else body.stop or []
        try:
            return GenerationRequest(messages, tokens, body.temperature or 0.0, body.top_p or 1.0, body.seed, stop)
        except ValueError as exc:
            raise APIError(400, str(exc), code="invalid_request") from exc

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        batcher: Batcher = request.app.state.batcher
        return {"status": "ok", "model": name, "waiting": batcher.waiting, "batches": batcher.batches,
                "batched_requests": batcher.batched_requests}

    @v1.get("/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(name, created)]}

    @v1.get("/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        check_model(model_id)
        return model_card(name, created)

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest) -> JSONResponse | StreamingResponse:
        check_model(body.model)
        tokens = max_tokens(body.max_completion_tokens or body.max_tokens)
        speak = bool(body.modalities and "audio" in body.modalities)
        if speak:
            await run_in_threadpool(speaker.load)  # a missing backend fails before any generation
        messages = await run_in_threadpool(to_messages, body.messages, config.max_audio_seconds)
        request = chat_request(body, messages, tokens)
        batcher: Batcher = app.state.batcher
        cid = completion_id()
        if body.stream:
            pieces = batcher.stream(request)
            first = await _first(pieces)  # errors before the first piece are still plain HTTP errors
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = _events(cid, name, _chain(first, pieces), speaker if speak else None, include_usage)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        done = await _answer(batcher.complete(request))
        audio = None
        if speak:
            fmt = body.audio.format if body.audio else "wav"
            audio = await run_in_threadpool(speaker.audio_object, done.text, fmt)
        return JSONResponse(chat_completion(cid, name, done, audio))

    add_transcription_route(v1, check_model, config.max_audio_seconds)
    app.include_router(v1)
    return app


async def _answer(pending: Any) -> Generation:
    try:
        return await pending
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_request") from exc


async def _first(pieces: AsyncIterator[str | Generation]) -> str | Generation:
    try:
        return await anext(pieces)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_request") from exc


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _chain(first: str | Generation, rest: AsyncIterator[str | Generation]) -> AsyncIterator[str | Generation]:
    yield first
    async for item in rest:
        yield item


async def _events(cid: str, model: str, items: AsyncIterator[str | Generation],
                  speaker: Speaker | None, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's chunk stream: the role, the text pieces (and audio deltas), the finish reason, the usage when asked
    for, then ``[DONE]``."""
    answer: Generation | None = None

    async def texts() -> AsyncIterator[str]:
        nonlocal answer
        async for item in items:
            if isinstance(item, Generation):
                answer = item
            else:
                yield item

    async def plain() -> AsyncIterator[tuple[str | None, dict[str, Any] | None]]:
        async for piece in texts():
            yield piece, None

    yield _sse(chat_chunk(cid, model, {"role": "assistant", "content": ""}))
    try:
        async for piece, audio in speaker.stream(texts()) if speaker else plain():
            yield _sse(chat_chunk(cid, model, {"content": piece} if piece is not None else {"audio": audio}))
    except Exception as exc:  # noqa: BLE001 - the status is sent; the client gets an error event instead
        yield _sse(error_body(500, f"generation failed: {exc}"))
    else:
        assert answer is not None
        yield _sse(chat_chunk(cid, model, {}, answer.finish_reason))
        if include_usage:
            yield _sse(usage_chunk(cid, model, answer))
    yield _sse("[DONE]")
