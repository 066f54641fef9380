"""``/health`` (no key: for load balancers) and ``/v1/models``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .engine import EngineDep
from .schemas import model_card

health = APIRouter()
models = APIRouter()


@health.get("/health")
async def get_health(engine: EngineDep) -> dict[str, Any]:
    batcher = engine.batcher
    return {"status": "ok", "model": engine.name, "waiting": batcher.waiting, "batches": batcher.batches,
            "batched_requests": batcher.batched_requests}


@models.get("/models")
async def list_models(engine: EngineDep) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(engine.name, engine.created)]}


@models.get("/models/{model_id:path}")
async def get_model(model_id: str, engine: EngineDep) -> dict[str, Any]:
    engine.check_model(model_id)
    return model_card(engine.name, engine.created)
