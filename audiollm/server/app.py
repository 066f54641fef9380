"""The FastAPI app: the routers (chat, audio, models, health) over one :class:`Engine`, behind the body limit, the
API key and the error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..model import AudioLLM, load_model
from . import chat, status, transcriptions
from .batching import Batcher
from .engine import Engine
from .errors import CatchAll, install_error_handlers
from .guards import BodyLimit, api_key_check
from .settings import ServeConfig
from .speaking import Speaker


def create_app(config: ServeConfig, model: AudioLLM | None = None) -> FastAPI:
    """The API for ``config``; it loads ``config.model`` on startup unless ``model`` is given.

    With an API key the OpenAPI schema asks for it too, and the browser pages ``/docs`` and ``/redoc`` (which
    could not send it) are off."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = model if model is not None else await run_in_threadpool(load_model, config.model, None,
                                                                          config.device, config.dtype)
        batcher = Batcher(loaded, config.queue_size, config.max_batch, config.batch_window_ms / 1000)
        app.state.engine = Engine(config, loaded, batcher, Speaker(config.speech, config.speech_voice))
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    keyed = config.api_key is not None
    app = FastAPI(title="audiollm", version=__version__, lifespan=lifespan,
                  description="OpenAI-compatible API for an audio-understanding LLM.",
                  docs_url=None if keyed else "/docs", redoc_url=None if keyed else "/redoc",
                  openapi_url=None if keyed else "/openapi.json")
    app.add_middleware(BodyLimit, max_bytes=int(config.max_body_mb * 1e6), timeout_s=config.body_timeout_s)
    app.add_middleware(CatchAll)
    install_error_handlers(app)
    key = [Depends(api_key_check(config.api_key))]
    v1 = APIRouter(prefix="/v1", dependencies=key)
    for router in (chat.router, transcriptions.router, status.models):
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(status.health)
    if keyed:
        schema = APIRouter(dependencies=key)

        @schema.get("/openapi.json", include_in_schema=False)
        async def openapi(request: Request) -> dict[str, Any]:
            return request.app.openapi()

        app.include_router(schema)
    return app
