"""``/v1/chat/completions``: a conversation with audio parts answered whole, or streamed as OpenAI's chunks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..generation import Generation, GenerationRequest
from .engine import Engine, EngineDep
from .errors import APIError, error_body
from .inputs import to_messages
from .schemas import ChatRequest, chat_chunk, chat_completion, completion_id, usage_chunk
from .speaking import Speaker

router = APIRouter()
# How often a waiting non-streamed request checks that its client is still there.
DISCONNECT_POLL_S = 0.1
# nginx's status for a request whose client closed the connection first; nobody reads it.
CLIENT_GONE = 499


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, http: Request, engine: EngineDep) -> Response:
    engine.check_model(body.model)
    tokens = engine.max_tokens(body.max_completion_tokens or body.max_tokens)
    speak = bool(body.modalities and "audio" in body.modalities)
    if speak:
        await run_in_threadpool(engine.speaker.load)  # a missing backend fails before any generation
    request = await run_in_threadpool(_admitted, engine, body, tokens)
    cid = completion_id()
    if body.stream:
        pieces = engine.batcher.stream(request)
        first = await _first(pieces)  # errors before the first piece are still plain HTTP errors
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = _events(cid, engine.name, _chain(first, pieces), engine.speaker if speak else None, include_usage)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    done = await _answer(engine.batcher.complete(request), http)
    if done is None:
        return Response(status_code=CLIENT_GONE)
    audio = None
    if speak:
        fmt = body.audio.format if body.audio else "wav"
        audio = await run_in_threadpool(engine.speaker.audio_object, done.text, fmt)
    return JSONResponse(chat_completion(cid, engine.name, done, audio))


def _admitted(engine: Engine, body: ChatRequest, tokens: int) -> GenerationRequest:
    """The request decoded, built and counted (in a worker thread of the request's own): every limit is checked
    here, before it is queued for the model."""
    messages = to_messages(body.messages, engine.config)
    stop = [body.stop] if isinstance(body.stop, str) else body.stop or []
    try:
        request = GenerationRequest(messages, tokens, body.temperature or 0.0, body.top_p or 1.0, body.seed, stop)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_request") from exc
    engine.admit(request)
    return request


async def _answer(pending: Awaitable[Generation], http: Request) -> Generation | None:
    """The answer, or None once the client has gone (its generation is cancelled then)."""
    task = asyncio.ensure_future(pending)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if not task.done() and await http.is_disconnected():
                return None
        return task.result()
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_request") from exc
    finally:
        task.cancel()  # the batcher stops generating for a request nobody waits for


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
        status = 400 if isinstance(exc, ValueError) else 500
        yield _sse(error_body(status, f"generation failed: {exc}"))
    else:
        assert answer is not None
        yield _sse(chat_chunk(cid, model, {}, answer.finish_reason))
        if include_usage:
            yield _sse(usage_chunk(cid, model, answer))
    yield _sse("[DONE]")
