"""Errors as OpenAI's API shapes them: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("audiollm.server")

# OpenAI's error types by status.
_TYPES = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}


class APIError(Exception):
    """A request the server answers with an error status; the message names the problem."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error_body(error.status, error.message, error.param, error.code), error.status, error.headers)


def validation_error(exc: RequestValidationError) -> APIError:
    """The first problem pydantic found, as ``param: reason``; a body that is not JSON says so."""
    problems = list(exc.errors())
    if not problems:
        return APIError(400, "invalid request")
    # With unions pydantic reports each branch; the deepest problem is the one that says what is wrong.
    first = max(problems, key=lambda p: len(p.get("loc", ())))
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "not valid JSON")
        return APIError(400, f"the request body is not valid JSON: {reason}", code="invalid_json")
    if tuple(first.get("loc", ())) == ("body",):
        return APIError(400, "the request body must be a JSON object (Content-Type: application/json): "
                             f"{first.get('msg', 'wrong type')}", code="invalid_body")
    # Drop the body/form prefix and the union branch names pydantic adds (str, list[...], and a tagged union's
    # tag, which repeats the part's type just before its field of the same name).
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "form", "query", "header")]
    loc = [part for part in loc if not part.startswith(("str", "list[", "function-"))]
    loc = [part for i, part in enumerate(loc) if i + 1 == len(loc) or loc[i + 1] != part]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid value"))
    return APIError(400, f"{param}: {message}" if param else message, param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(APIError(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)))


class CatchAll:
    """Any exception an endpoint lets out becomes a 500 in OpenAI's shape, logged with its traceback. Caught here
    rather than by an ``Exception`` handler, which would raise it again to the server and so drop the kept-alive
    connection."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the server keeps serving
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if scope["type"] == "http" and not started:
                await error_response(APIError(500, f"internal error: {type(exc).__name__}"))(scope, receive, send)
