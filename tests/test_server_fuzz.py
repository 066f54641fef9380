"""Malformed, odd and hostile requests against the running API: whatever comes in, no 5xx, errors in OpenAI's shape
that name the problem, and nothing one client sends hurts another (its batch, the server's memory, the connection)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiollm.conversation import Message
from audiollm.generation import GenerationRequest
from audiollm.model import AudioLLM
from audiollm.server.app import create_app
from audiollm.server.batching import Batcher
from audiollm.server.settings import ServeConfig
from bench.serving import serve_in_thread

from .conftest import TINY_CONFIG
from .server_helpers import audio_part, flac_bytes, wav_bytes

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
encoded = st.sampled_from([wav_bytes(0.2), wav_bytes(0.3, rate=8000), b"", b"RIFF\x00\x00", b"ID3\x03junk"])
parts = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=30)),
    encoded.map(audio_part),
    st.builds(lambda data, fmt: {"type": "input_audio", "input_audio": {"data": data, "format": fmt}},
              st.one_of(st.text(max_size=30), encoded.map(lambda b: base64.b64encode(b).decode()[:-3]), json_values),
              st.sampled_from(["wav", "mp3", "flac", "ogg", "aiff", ""])),
    st.fixed_dictionaries({"type": st.sampled_from(["text", "input_audio", "image_url", ""])}, optional={
        "text": json_values, "input_audio": json_values}),
    json_values,
)
# Mostly near-valid, so that fuzzing reaches past the schema into audio decoding, limits and generation.
message = st.fixed_dictionaries({
    "role": st.sampled_from(["user", "user", "user", "system", "assistant", "developer", "tool"]),
    "content": st.one_of(st.text(max_size=40), st.lists(parts, min_size=1, max_size=3), json_values),
})
known_fields = st.fixed_dictionaries(
    {"model": st.sampled_from(["tiny", "tiny", "tiny", "gpt-4o", ""]),
     "messages": st.one_of(st.lists(message, max_size=3), st.lists(message, max_size=3), json_values)},
    optional={
        "max_tokens": st.one_of(st.integers(-5, 40), json_values),
        "max_completion_tokens": st.integers(-1, 20),
        "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), json_values),
        "stream": st.one_of(st.booleans(), json_values),
        "n": st.integers(0, 2),
        "modalities": st.lists(st.sampled_from(["text", "text", "audio", "video"]), max_size=2),
    },
)
# Fields the API does not know are ignored, as OpenAI's are.
requests = st.tuples(known_fields, st.dictionaries(st.text(max_size=8), json_values, max_size=2)).map(
    lambda pair: {**pair[1], **pair[0]})


LIMITS = dict(max_tokens=8, max_audio_seconds=2.0, max_body_mb=0.5, max_clips=3, max_total_audio_seconds=3.0,
              max_prompt_chars=2000, max_prompt_tokens=1000, body_timeout_s=1.0)


@pytest.fixture(scope="module")
def model() -> AudioLLM:
    return AudioLLM.from_config(TINY_CONFIG)


@pytest.fixture(scope="module")
def served(model: AudioLLM) -> Iterator[str]:
    config = ServeConfig(model=str(TINY_CONFIG), batch_window_ms=50, speech="espeak", **LIMITS)  # type: ignore[arg-type]
    with serve_in_thread(create_app(config, model)) as url:
        yield url


@pytest.fixture(scope="module")
def http(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=60) as client:
        yield client


def check(reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        error = reply.json()["error"]
        assert error["message"] and error["type"], error


@FUZZ
@given(body=requests)
def test_fuzzed_chat_requests(http: httpx.Client, body: dict[str, Any]) -> None:
    check(http.post("/v1/chat/completions", json=body))


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: repr(v).encode()),
       content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x", ""]),
       path=st.sampled_from(["/v1/chat/completions", "/v1/audio/transcriptions", "/v1/models", "/health"]))
def test_fuzzed_raw_bodies(http: httpx.Client, raw: bytes, content_type: str, path: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    check(http.post(path, content=raw, headers=headers))


@FUZZ
@given(data=st.dictionaries(st.sampled_from(["model", "prompt", "language", "response_format", "temperature"]),
                            st.text(max_size=12), max_size=5),
       upload=encoded | st.binary(max_size=64))
def test_fuzzed_transcriptions(http: httpx.Client, data: dict[str, str], upload: bytes) -> None:
    check(http.post("/v1/audio/transcriptions", data=data, files={"file": ("clip", upload)}))


def chat(*content: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    parts = [{"type": "text", "text": c} if isinstance(c, str) else c for c in content]
    return {"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": parts}], **fields}


def url_part(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}}


def data_uri(data: bytes, media: str = "audio/wav") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def raw_json(body: dict[str, Any]) -> dict[str, Any]:
    """httpx kwargs sending ``body`` as ASCII JSON: a lone surrogate travels as its \\\\ud800 escape."""
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


SECOND = wav_bytes(1.0)
MATRIX = [
    # (case, httpx kwargs, status, words the error message must contain; None: answered)
    ("lone surrogate in a text part", raw_json(chat("What is \ud800 this?")), 400, "lone UTF-16 surrogate U+D800"),
    ("lone surrogate as string content",
     raw_json({"model": "tiny", "messages": [{"role": "user", "content": "\udfff"}]}), 400, "surrogate"),
    ("more clips than allowed", {"json": chat(*[audio_part(wav_bytes(0.2))] * 4, "Which?")}, 400,
     "4 audio clips; the limit is 3"),
    ("clips too long together", {"json": chat(*[audio_part(wav_bytes(1.8))] * 2, "Both?")}, 400,
     "3.6 s in all; the limit is 3 s"),
    ("one clip too long, from its header", {"json": chat(audio_part(flac_bytes(np.zeros(40_000, np.float32)), "flac"))},
     400, "lasts 2.5 s; the limit is 2 s"),
    ("headerless FLAC too long, decoding stopped",
     {"json": chat(audio_part(flac_bytes(np.zeros(40_000, np.float32), length_in_header=False), "flac"))}, 400,
     "decoding stopped there"),
    ("headerless FLAC within the limit", {"json": chat(audio_part(flac_bytes(
        np.zeros(16_000, np.float32), length_in_header=False), "flac"), "What?")}, 200, None),
    ("prompt over the character limit", {"json": chat("x" * 2001)}, 400, "2001 characters; the limit is 2000"),
    ("prompt over the token limit", {"json": chat("x " * 900)}, 400, "the limit is 1000"),
    ("audio_url as a data: URI", {"json": chat(url_part(data_uri(SECOND)), "What?")}, 200, None),
    ("audio_url data: URI not base64", {"json": chat(url_part("data:audio/wav,RIFF"))}, 400, "must be base64"),
    ("audio_url data: URI not audio", {"json": chat(url_part(data_uri(b"plain text")))}, 400,
     "not a readable audio file"),
    ("audio_url over http, no host allowed", {"json": chat(url_part("http://127.0.0.1:9/a.wav"))}, 400,
     "does not fetch audio from '127.0.0.1'"),
    ("audio_url over https, no host allowed", {"json": chat(url_part("https://example.com/a.wav"))}, 400,
     "hosts it fetches from: none"),
    ("audio_url file:", {"json": chat(url_part("file:///etc/passwd"))}, 400, "got the scheme 'file'"),
    ("audio_url ftp:", {"json": chat(url_part("ftp://example.com/a.wav"))}, 400, "got the scheme 'ftp'"),
    ("audio_url without a scheme", {"json": chat(url_part("/etc/passwd"))}, 400, "got the scheme 'none'"),
    ("temperature -1", {"json": chat("Hi", temperature=-1)}, 400, "temperature"),
    ("temperature NaN", {"content": b'{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], '
                                    b'"temperature": NaN}', "headers": {"content-type": "application/json"}},
     400, "temperature"),
    ("max_tokens 0", {"json": chat("Hi", max_tokens=0)}, 400, "max_tokens"),
    ("a part with neither audio nor text", {"json": chat({"type": "text"})}, 400, "text"),
    ("an audio part without audio", {"json": chat({"type": "input_audio"})}, 400, "input_audio"),
]


@pytest.mark.parametrize("case", MATRIX, ids=[c[0] for c in MATRIX])
def test_bad_input_matrix(http: httpx.Client, case: tuple[str, dict[str, Any], int, str | None]) -> None:
    _, kwargs, status, words = case
    reply = http.post("/v1/chat/completions", **kwargs)
    assert reply.status_code == status, reply.text
    if words is None:
        assert reply.json()["choices"][0]["message"]["content"] is not None
    else:
        assert words in reply.json()["error"]["message"], reply.json()


def test_a_poisoned_request_fails_alone_among_eight_normal_ones(http: httpx.Client, model: AudioLLM) -> None:
    normal = [chat(audio_part(wav_bytes(0.3 + 0.1 * i, 200.0 + 50 * i)), f"Clip {i}?") for i in range(8)]
    poisoned = chat(audio_part(wav_bytes(0.5)), "What is \ud800?")
    with ThreadPoolExecutor(9) as pool:
        replies = list(pool.map(lambda body: http.post("/v1/chat/completions", **raw_json(body)),
                                [*normal[:4], poisoned, *normal[4:]]))
    statuses = [r.status_code for r in replies]
    assert statuses == [200] * 4 + [400] + [200] * 4, [r.text for r in replies]
    assert "surrogate" in replies[4].json()["error"]["message"]
    for i, reply in enumerate(replies[:4] + replies[5:]):
        messages = [{"role": "user", "content": [{"type": "audio", "audio": wav_bytes(0.3 + 0.1 * i, 200.0 + 50 * i)},
                                                 {"type": "text", "text": f"Clip {i}?"}]}]
        assert reply.json()["choices"][0]["message"]["content"] == model.chat(messages, max_new_tokens=4)


def test_a_request_that_breaks_generation_fails_alone_in_its_batch(model: AudioLLM) -> None:
    """Past every check at the door, a request that makes the model itself raise (here: a TypeError) in a batch of
    nine gets that error; the eight beside it are answered as if alone."""
    requests = [GenerationRequest([Message.text_only("user", f"Question {i}?")], max_new_tokens=4) for i in range(9)]
    poisoned = requests[4]
    real = model._fitted

    def fitted(request: GenerationRequest, index: int) -> GenerationRequest:
        if request is poisoned:
            raise TypeError("a broken request")
        return real(request, index)

    batcher = Batcher(model, queue_size=16, max_batch=16, window_s=0.5)

    async def ask() -> list[Any]:
        pending = [batcher.complete(r) for r in requests]
        tasks = [asyncio.ensure_future(p) for p in pending]
        await asyncio.sleep(0)  # all nine are queued before the worker starts: one batch
        batcher.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    model._fitted = fitted  # type: ignore[method-assign]
    try:
        answers = asyncio.run(ask())
    finally:
        del model._fitted
        batcher.stop()
    assert isinstance(answers[4], TypeError)
    alone = model.generate_batch(requests[:4] + requests[5:])
    assert [a.text for a in answers[:4] + answers[5:]] == [a.text for a in alone]
    assert batcher.batches >= 1 and batcher.batched_requests >= 9


def test_many_clips_in_one_body_are_refused_before_memory_grows(model: AudioLLM) -> None:
    """200 silent 120 s FLAC clips (1.5 MB of base64) would decode to 1.5 GB: the total's limit refuses them from
    the headers; headerless ones are decoded only up to the total's limit."""
    config = ServeConfig(model=str(TINY_CONFIG), max_body_mb=5.0, max_clips=500, batch_window_ms=0, speech="espeak")
    silence = np.zeros(120 * 16_000, np.float32)
    bodies = {kind: json.dumps(chat(*[audio_part(flac_bytes(silence, length_in_header=kind == "header"), "flac")] * 200,
                                    "Which?")).encode() for kind in ("header", "headerless")}
    assert all(len(b) < 5e6 for b in bodies.values())
    process = psutil.Process()
    with serve_in_thread(create_app(config, model)) as url:
        for kind, body in bodies.items():
            before = process.memory_info().rss
            reply = httpx.post(url + "/v1/chat/completions", content=body,
                               headers={"content-type": "application/json"}, timeout=60)
            grown = (process.memory_info().rss - before) / 1e6
            assert reply.status_code == 400, reply.text
            assert "the limit is 300 s" in reply.json()["error"]["message"]
            assert grown < 100, f"{kind}: the server grew by {grown:.0f} MB"


def test_a_half_sent_body_times_out_and_frees_the_connection(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"model\": ")
        start = time.monotonic()
        reply = b""
        while chunk := sock.recv(4096):  # the server answers, then closes the connection
            reply += chunk
        waited = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"not sent within 1 s" in reply
    assert waited < 5


def test_the_connection_survives_errors(served: str, model: AudioLLM) -> None:
    """A kept-alive connection stays open after a 4xx and after a 500 (the model raising something unexpected)."""
    host, port = served.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=60)
    sockets = []

    def post(body: dict[str, Any]) -> int:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        sockets.append(conn.sock)
        return reply.status

    real = model._fitted

    def broken(request: GenerationRequest, index: int) -> GenerationRequest:
        raise RuntimeError("something unexpected")

    try:
        assert post(chat("x" * 2001)) == 400
        model._fitted = broken  # type: ignore[method-assign]
        assert post(chat("Hi")) == 500
        model._fitted = real  # type: ignore[method-assign]
        assert post(chat("Hi")) == 200
    finally:
        model._fitted = real  # type: ignore[method-assign]
        conn.close()
    assert sockets[0] is not None and all(s is sockets[0] for s in sockets), "the connection was reopened"
