"""Malformed and odd requests against the running API: whatever comes in, no 5xx, and errors in OpenAI's shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiollm.model import AudioLLM
from audiollm.server.app import create_app
from audiollm.server.settings import ServeConfig
from bench.serving import serve_in_thread

from .conftest import TINY_CONFIG
from .server_helpers import audio_part, wav_bytes

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


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    config = ServeConfig(model=str(TINY_CONFIG), max_tokens=8, max_audio_seconds=2.0, max_body_mb=0.5,
                         batch_window_ms=0, speech="espeak")
    with serve_in_thread(create_app(config, AudioLLM.from_config(TINY_CONFIG))) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
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
