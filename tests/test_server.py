"""The OpenAI-compatible API on a real uvicorn server (loopback, free port) with the tiny model.

The official ``openai`` client checks the wire format; plain HTTP checks the errors.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf

from audiollm.audio import load_audio
from audiollm.generation import Generation, GenerationRequest
from audiollm.model import AudioLLM
from audiollm.server.app import create_app
from audiollm.server.batching import Batcher
from audiollm.server.settings import ServeConfig
from bench.serving import serve_in_process, serve_in_thread

from .conftest import ROOT, TINY_CONFIG, tone
from .server_helpers import audio_part, wav_bytes

MAX_AUDIO_SECONDS = 5.0
MAX_TOKENS = 16


def chat_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "tiny",
        "messages": [{"role": "user", "content": [audio_part(wav_bytes(1.0)), {"type": "text", "text": "What?"}]}],
        "max_tokens": 8,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def model() -> AudioLLM:
    return AudioLLM.from_config(TINY_CONFIG)


@pytest.fixture(scope="module")
def server(model: AudioLLM) -> Iterator[str]:
    config = ServeConfig(model=str(TINY_CONFIG), max_audio_seconds=MAX_AUDIO_SECONDS, max_tokens=MAX_TOKENS,
                         max_body_mb=1.0, batch_window_ms=50, speech="espeak")
    with serve_in_thread(create_app(config, model)) as url:
        yield url


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def client(server: str) -> Any:
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=60)


def library_messages(clip: np.ndarray, prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "audio", "audio": clip}, {"type": "text", "text": prompt}]}]


def test_openai_client_gets_the_models_answer(client: Any, model: AudioLLM) -> None:
    reply = client.chat.completions.create(model="tiny", max_tokens=8, messages=chat_body()["messages"])
    expected = model.chat(library_messages(tone(1.0), "What?"), max_new_tokens=8)
    assert reply.choices[0].message.content == expected
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert [m.id for m in client.models.list()] == ["tiny"]


def test_multi_turn_with_two_clips(client: Any, model: AudioLLM) -> None:
    low, high = wav_bytes(0.5, 220.0), wav_bytes(0.8, 880.0, rate=22_050)
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [audio_part(low), {"type": "text", "text": "And this?"}]},
        {"role": "assistant", "content": "A low tone."},
        {"role": "user", "content": [{"type": "text", "text": "Compare with"}, audio_part(high)]},
    ]
    reply = client.chat.completions.create(model="tiny", max_tokens=8, messages=messages)
    expected = model.chat([
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "audio", "audio": low}, {"type": "text", "text": "And this?"}]},
        {"role": "assistant", "content": "A low tone."},
        {"role": "user", "content": [{"type": "text", "text": "Compare with"}, {"type": "audio", "audio": high}]},
    ], max_new_tokens=8)
    assert reply.choices[0].message.content == expected


@pytest.mark.parametrize("fmt,subtype", [("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_each_audio_format_is_heard(http: httpx.Client, model: AudioLLM, fmt: str, subtype: str) -> None:
    buf = io.BytesIO()
    sf.write(buf, tone(0.7, 523.0, 24_000), 24_000, format=fmt.upper(), subtype=subtype)
    reply = http.post("/v1/chat/completions", json=chat_body(messages=[{"role": "user", "content": [
        audio_part(buf.getvalue(), fmt), {"type": "text", "text": "Which note?"}]}]))
    assert reply.status_code == 200, reply.text
    expected = model.chat(library_messages(load_audio(buf.getvalue()), "Which note?"), max_new_tokens=8)
    assert reply.json()["choices"][0]["message"]["content"] == expected


def test_temperature_samples(client: Any) -> None:
    messages = chat_body()["messages"]
    greedy = client.chat.completions.create(model="tiny", max_tokens=MAX_TOKENS, messages=messages)
    assert greedy.choices[0].message.content == client.chat.completions.create(
        model="tiny", max_tokens=MAX_TOKENS, messages=messages, temperature=0).choices[0].message.content
    sampled = {client.chat.completions.create(model="tiny", max_tokens=MAX_TOKENS, messages=messages,
                                              temperature=1.5).choices[0].message.content for _ in range(3)}
    assert sampled - {greedy.choices[0].message.content}, "sampling at temperature 1.5 gave only the greedy answer"


def test_streamed_answer_matches_the_whole_answer(client: Any) -> None:
    whole = client.chat.completions.create(model="tiny", max_tokens=8, messages=chat_body()["messages"])
    chunks = list(client.chat.completions.create(model="tiny", max_tokens=8, messages=chat_body()["messages"],
                                                 stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(chunks) >= 3  # the role, at least one piece, the finish
    assert text.strip() == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert len({c.id for c in chunks}) == 1


def test_transcription_with_the_openai_client(client: Any, model: AudioLLM) -> None:
    path = ROOT / "examples" / "speech.flac"  # speech: the tiny model's Whisper transcribes it (random words)
    with path.open("rb") as f:
        result = client.audio.transcriptions.create(model="tiny", file=f)
    assert result.text and result.text == model.transcribe(str(path))  # Whisper's own decoding
    with path.open("rb") as f:
        plain = client.audio.transcriptions.create(model="tiny", file=f, response_format="text")
    assert plain == result.text
    with path.open("rb") as f:
        verbose = client.audio.transcriptions.create(model="tiny", file=f, response_format="verbose_json")
    segments = model.transcribe(str(path), timestamps=True)
    assert verbose.text == " ".join(s.text for s in segments) and verbose.duration == 2.35
    assert [(s.start, s.end, s.text) for s in verbose.segments] == [tuple(s) for s in segments]


def test_transcription_subtitles_carry_every_segment(http: httpx.Client, model: AudioLLM) -> None:
    data = (ROOT / "examples" / "speech.flac").read_bytes()
    segments = model.transcribe(load_audio(data), timestamps=True)
    assert segments
    files = {"file": ("speech.flac", data, "audio/flac")}
    srt = http.post("/v1/audio/transcriptions", files=files, data={"model": "tiny", "response_format": "srt"})
    vtt = http.post("/v1/audio/transcriptions", files=files, data={"model": "tiny", "response_format": "vtt"})
    assert srt.status_code == vtt.status_code == 200
    blocks = srt.text.strip().split("\n\n")
    assert len(blocks) == len(segments) and blocks[0].startswith("1\n00:00:")
    assert " --> " in blocks[-1] and blocks[-1].endswith(segments[-1].text)
    assert vtt.text.startswith("WEBVTT\n\n") and vtt.text.count(" --> ") == len(segments)


def test_concurrent_requests_are_batched_and_answered_as_alone(http: httpx.Client, model: AudioLLM) -> None:
    freqs = [200.0 + 90 * i for i in range(6)]
    bodies = [chat_body(messages=[{"role": "user", "content": [audio_part(wav_bytes(0.3 + 0.1 * i, f)),
                                                               {"type": "text", "text": f"Clip {i}?"}]}])
              for i, f in enumerate(freqs)]
    before = http.get("/health").json()
    with ThreadPoolExecutor(len(bodies)) as pool:
        replies = list(pool.map(lambda b: http.post("/v1/chat/completions", json=b), bodies))
    assert [r.status_code for r in replies] == [200] * len(bodies)
    after = http.get("/health").json()
    assert after["batched_requests"] - before["batched_requests"] == len(bodies)
    assert after["batches"] - before["batches"] < len(bodies), "concurrent requests were answered one at a time"
    for i, (reply, f) in enumerate(zip(replies, freqs)):
        alone = model.chat(library_messages(tone(0.3 + 0.1 * i, f), f"Clip {i}?"), max_new_tokens=8)
        assert reply.json()["choices"][0]["message"]["content"] == alone


def test_spoken_answer(client: Any) -> None:
    reply = client.chat.completions.create(model="tiny", max_tokens=MAX_TOKENS, messages=chat_body()["messages"],
                                           modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"})
    message = reply.choices[0].message
    assert any(ch.isalnum() for ch in message.content), "the answer must have something to say for this test"
    assert message.audio.transcript == message.content
    samples, rate = sf.read(io.BytesIO(base64.b64decode(message.audio.data)))
    assert rate > 0 and len(samples) > rate // 10 and np.abs(samples).max() > 0.01


def test_streamed_spoken_answer(client: Any) -> None:
    whole = client.chat.completions.create(model="tiny", max_tokens=MAX_TOKENS, messages=chat_body()["messages"])
    chunks = list(client.chat.completions.create(
        model="tiny", max_tokens=MAX_TOKENS, messages=chat_body()["messages"], stream=True,
        modalities=["text", "audio"], audio={"voice": "alloy", "format": "pcm16"}))
    deltas = [c.choices[0].delta for c in chunks]
    text = "".join(d.content or "" for d in deltas)
    pcm = b"".join(base64.b64decode(d.audio.data) for d in deltas if getattr(d, "audio", None))
    assert text.strip() == whole.choices[0].message.content
    assert len(pcm) > 2000 and np.abs(np.frombuffer(pcm, "<i2")).max() > 300
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_a_stream_whose_client_has_left_stops_generating() -> None:
    import torch

    torch.manual_seed(0)  # the projector's random weights, so the answer below runs past 64 tokens in any test order
    model = AudioLLM.from_config(TINY_CONFIG)
    decoded: list[int] = []
    answers: list[Generation] = []
    real = model.stream_batch

    def counting(requests: Any, cancelled: Any = None) -> Any:
        decoded.append(len(requests))
        for index, item in real(requests, cancelled):
            if isinstance(item, Generation):
                answers.append(item)
            yield index, item

    model.stream_batch = counting  # type: ignore[method-assign]
    request = GenerationRequest(library_messages(tone(1.0), "What?"), max_new_tokens=64)
    batcher = Batcher(model, queue_size=4, max_batch=4, window_s=0.0)

    async def streams() -> tuple[list[Any], list[Any]]:
        batcher.stream(request)
        batcher._queue.queue[0].cancelled.set()  # its client left while it waited in the queue
        staying = batcher.stream(request)
        batcher.start()
        stayed = [item async for item in staying]
        left = batcher.stream(request)
        await anext(left)
        await left.aclose()  # this client leaves after the first piece
        after = [item async for item in batcher.stream(request)]  # the worker is free again
        return stayed, after

    try:
        stayed, after = asyncio.run(streams())
    finally:
        batcher.stop()
    # This prompt's greedy answer runs past 64 tokens: only the streams whose clients stayed generated them all.
    assert decoded[0] == 1, "the request whose client had left was decoded"
    assert stayed[-1].completion_tokens == 64 and stayed[-1].finish_reason == "length"
    assert answers[1].completion_tokens < 64, "the stream whose client left after one piece went on"
    assert after[-1].completion_tokens == 64 and "".join(after[:-1]) == stayed[-1].text


BAD_REQUESTS = [
    # (what is wrong, request kwargs for httpx, status, words the error message must contain)
    ("invalid JSON", {"content": b'{"model": "tiny", "messages": [', "headers": {"content-type": "application/json"}},
     400, "not valid JSON"),
    ("not an object", {"json": ["tiny"]}, 400, "JSON object"),
    ("empty messages", {"json": chat_body(messages=[])}, 400, "messages"),
    ("unknown model", {"json": chat_body(model="gpt-4o")}, 404, "gpt-4o"),
    ("bad base64", {"json": chat_body(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "%%%not base64", "format": "wav"}}]}])}, 400, "base64"),
    ("not audio", {"json": chat_body(messages=[{"role": "user", "content": [audio_part(b"hello, not a wav")]}])},
     400, "not a readable audio file"),
    ("audio too long", {"json": chat_body(messages=[{"role": "user", "content": [audio_part(wav_bytes(6.0, rate=8000))]}])},
     400, "limit is 5 s"),
    ("unknown audio format", {"json": chat_body(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "", "format": "aiff"}}]}])}, 400, "format"),
    ("max_tokens over the cap", {"json": chat_body(max_tokens=10_000)}, 400, "limit of 16"),
    ("zero max_tokens", {"json": chat_body(max_tokens=0)}, 400, "max_tokens"),
    ("bad role", {"json": chat_body(messages=[{"role": "robot", "content": "hi"}])}, 400, "role"),
    ("two choices", {"json": chat_body(n=2)}, 400, "n"),
    ("literal audio token", {"json": chat_body(messages=[{"role": "user", "content": "<|audio|>"}])}, 400,
     "audio part"),
    ("body too large", {"json": chat_body(messages=[{"role": "user", "content": "x" * 1_100_000}])}, 413, "limit"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_chat_requests_get_openai_errors(http: httpx.Client, case: tuple[str, dict[str, Any], int, str]) -> None:
    _, kwargs, status, words = case
    reply = http.post("/v1/chat/completions", **kwargs)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"], error
    assert error["type"] == ("not_found_error" if status == 404 else "invalid_request_error")


@pytest.mark.parametrize("files,data,words", [
    ({"file": ("x.wav", b"RIFF....garbage", "audio/wav")}, {"model": "tiny"}, "not a readable audio file"),
    (None, {"model": "tiny"}, "file"),
    ({"file": ("x.wav", wav_bytes(0.5), "audio/wav")}, {"model": "tiny", "response_format": "xml"}, "response_format"),
    ({"file": ("x.wav", wav_bytes(0.5), "audio/wav")}, {"model": "whisper-1"}, "whisper-1"),
], ids=["not audio", "no file", "unsupported format", "unknown model"])
def test_bad_transcriptions_get_openai_errors(http: httpx.Client, files: Any, data: dict[str, str],
                                              words: str) -> None:
    reply = http.post("/v1/audio/transcriptions", files=files, data=data)
    assert 400 <= reply.status_code < 500, reply.text
    assert words in reply.json()["error"]["message"]


def test_server_stays_up_after_errors(http: httpx.Client) -> None:
    for _ in range(3):
        assert http.post("/v1/chat/completions", content=b"\xff\xfe garbage").status_code == 400
    assert http.get("/health").json()["status"] == "ok"
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 200


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[str, Any, threading.Event, threading.Event]]:
    """A server with an API key and room for one waiting request, whose model waits until released."""
    entered, release = threading.Event(), threading.Event()
    model = AudioLLM.from_config(TINY_CONFIG)
    real = model.stream_batch

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(timeout=60)
        yield from real(*args, **kwargs)

    config = ServeConfig(model=str(TINY_CONFIG), api_key="s3cret", queue_size=1, max_batch=1, batch_window_ms=0,
                         speech="klingon")
    app = create_app(config, model)
    with serve_in_thread(app) as url:
        model.stream_batch = held  # type: ignore[method-assign]
        try:
            yield url, app, entered, release
        finally:
            release.set()


def test_spoken_answer_without_a_speech_backend_is_a_4xx(
        gated: tuple[str, Any, threading.Event, threading.Event]) -> None:
    reply = httpx.post(gated[0] + "/v1/chat/completions", json=chat_body(modalities=["text", "audio"]),
                       headers={"Authorization": "Bearer s3cret"})
    assert reply.status_code == 400
    assert "klingon" in reply.json()["error"]["message"]


def test_api_key_is_required(gated: tuple[str, Any, threading.Event, threading.Event]) -> None:
    url = gated[0]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        reply = httpx.get(url + "/v1/models", headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["type"] == "authentication_error"
    keyed = openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
    assert [m.id for m in keyed.models.list()] == ["tiny"]


def test_full_queue_answers_503_then_recovers(gated: tuple[str, Any, threading.Event, threading.Event]) -> None:
    url, app, entered, release = gated
    headers = {"Authorization": "Bearer s3cret"}
    post = lambda: httpx.post(url + "/v1/chat/completions", json=chat_body(max_tokens=4), headers=headers,
                              timeout=60)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post)
        assert entered.wait(timeout=30)  # the worker holds the first request
        second = pool.submit(post)
        while app.state.engine.batcher.waiting < 1 and not second.done():
            time.sleep(0.01)
        third = post()
        assert third.status_code == 503
        assert third.headers["retry-after"] == "1"
        assert "busy" in third.json()["error"]["message"]
        release.set()
        assert first.result().status_code == 200
        assert second.result().status_code == 200
    assert post().status_code == 200


def test_streaming_errors_before_any_chunk_are_http_errors(http: httpx.Client) -> None:
    reply = http.post("/v1/chat/completions", json=chat_body(stream=True, model="nope"))
    assert reply.status_code == 404
    lines = [line for line in http.post("/v1/chat/completions", json=chat_body(stream=True)).text.splitlines()
             if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert all("choices" in json.loads(line[6:]) for line in lines[:-1])


def test_audiollm_serve_command(tmp_path: Any) -> None:
    """The CLI binds loopback by default, asks for the key, answers, and stops on Ctrl-C."""
    with (tmp_path / "serve.log").open("w+") as log:
        with serve_in_process(["--model", str(TINY_CONFIG), "--api-key", "k3y"], log) as (url, proc):
            assert url.startswith("http://127.0.0.1:")
            assert httpx.post(url + "/v1/chat/completions", json=chat_body()).status_code == 401
            reply = httpx.post(url + "/v1/chat/completions", json=chat_body(),
                               headers={"Authorization": "Bearer k3y"}, timeout=60)
            assert reply.status_code == 200 and reply.json()["model"] == "tiny"
        assert proc.returncode == 0
        log.seek(0)
        assert url in log.read()  # uvicorn says where it listens: 127.0.0.1, not all interfaces


def test_serve_with_a_model_that_cannot_load_is_a_one_line_error(tmp_path: Any, capsys: Any) -> None:
    from audiollm.cli import main

    assert main(["serve", "--model", str(tmp_path / "missing.yaml"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("audiollm serve: error:") and "missing.yaml" in err and "\n" not in err


def test_a_non_streamed_request_whose_client_has_gone_stops_generating(model: AudioLLM) -> None:
    answers: list[Generation] = []
    started = threading.Event()
    real = model.stream_batch

    def watched(requests: Any, cancelled: Any = None) -> Any:
        for index, item in real(requests, cancelled):
            started.set()
            if isinstance(item, Generation):
                answers.append(item)
            yield index, item

    config = ServeConfig(model=str(TINY_CONFIG), max_tokens=4000, batch_window_ms=0, speech="espeak")
    body = json.dumps(chat_body(max_tokens=4000)).encode()
    with serve_in_thread(create_app(config, model)) as url:
        model.stream_batch = watched  # type: ignore[method-assign]
        try:
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                assert started.wait(timeout=60)
            deadline = time.monotonic() + 30  # the client has gone: its generation ends within a poll or two
            while not answers and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            del model.stream_batch
    assert answers and answers[0].completion_tokens < 4000 and answers[0].finish_reason == "stop"


def test_docs_follow_the_key(gated: tuple[str, Any, threading.Event, threading.Event], server: str) -> None:
    url = gated[0]
    get = lambda path, **kwargs: httpx.get(path, timeout=60, **kwargs)  # noqa: E731
    assert get(url + "/openapi.json").status_code == 401
    keyed = get(url + "/openapi.json", headers={"Authorization": "Bearer s3cret"})
    assert keyed.status_code == 200 and "/v1/chat/completions" in keyed.json()["paths"]
    assert get(url + "/docs").status_code == 404 and get(url + "/redoc").status_code == 404
    assert get(server + "/docs").status_code == 200  # without a key the pages are open, as the API is


def test_audio_url_from_an_allowed_host_is_fetched_within_limits(model: AudioLLM, tmp_path: Any) -> None:
    import http.server

    clip = wav_bytes(0.5)
    files = {"/clip.wav": clip, "/big.wav": b"RIFF" + b"\0" * 300_000}

    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            if self.path == "/slow.wav":
                time.sleep(12)
            data = files.get(self.path, clip)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{origin.server_address[1]}"
    config = ServeConfig(model=str(TINY_CONFIG), audio_url_hosts=("127.0.0.1",), audio_url_timeout_s=4.0,
                         max_body_mb=0.2, batch_window_ms=0, speech="espeak")

    def ask(url: str) -> httpx.Response:
        return httpx.post(served + "/v1/chat/completions", timeout=60, json=chat_body(messages=[{"role": "user", "content": [
            {"type": "audio_url", "audio_url": {"url": url}}, {"type": "text", "text": "What?"}]}]))

    try:
        with serve_in_thread(create_app(config, model)) as served:
            fetched = ask(base + "/clip.wav")
            too_big, too_slow = ask(base + "/big.wav"), ask(base + "/slow.wav")
            elsewhere = ask(f"http://localhost:{origin.server_address[1]}/clip.wav")
    finally:
        origin.shutdown()
    assert fetched.status_code == 200, fetched.text
    expected = model.chat(library_messages(load_audio(clip), "What?"), max_new_tokens=8)
    assert fetched.json()["choices"][0]["message"]["content"] == expected
    assert too_big.status_code == 400 and "larger than the limit of 0.2 MB" in too_big.json()["error"]["message"]
    assert too_slow.status_code == 400 and "took longer than 4 s" in too_slow.json()["error"]["message"]
    assert elsewhere.status_code == 400 and "hosts it fetches from: 127.0.0.1" in elsewhere.json()["error"]["message"]


def test_translations_are_whispers_translate_task(client: Any, model: AudioLLM) -> None:
    path = ROOT / "examples" / "speech.flac"
    with path.open("rb") as f:
        result = client.audio.translations.create(model="tiny", file=f)
    assert result.text == model.transcribe(str(path), task="translate")
    assert result.text != model.transcribe(str(path)), "the tiny model's translate task reads like its transcription"
    with path.open("rb") as f:
        verbose = client.audio.translations.create(model="tiny", file=f, response_format="verbose_json")
    segments = model.transcribe(str(path), timestamps=True, task="translate")
    assert verbose.task == "translate" and verbose.text == " ".join(s.text for s in segments)


def test_serve_takes_the_key_from_the_environment_and_warns_beyond_loopback(tmp_path: Any) -> None:
    env = {**os.environ, "AUDIOLLM_API_KEY": "from-env"}
    with (tmp_path / "serve.log").open("w+") as log:
        with serve_in_process(["--model", str(TINY_CONFIG)], log, env=env) as (url, _):
            assert httpx.get(url + "/v1/models").status_code == 401
            assert httpx.get(url + "/v1/models", headers={"Authorization": "Bearer from-env"}).status_code == 200
        log.seek(0)
        assert "warning" not in log.read()
    with (tmp_path / "open.log").open("w+") as log:
        with serve_in_process(["--model", str(TINY_CONFIG), "--host", "0.0.0.0"], log) as (url, _):
            assert httpx.get(url + "/v1/models").status_code == 200
        log.seek(0)
        assert "warning: 0.0.0.0 is reachable from other machines and no API key is asked" in log.read()
