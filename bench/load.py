"""Load on loopback: CLIENTS concurrent clients x REQUESTS chat requests with audio against ``audiollm serve``.

The same load runs twice, against a server that batches concurrent requests and against one that answers them one
at a time (``--max-batch 1``); a single client sending requests one after another gives the sequential baseline.
Prints throughput, the ratios, latencies and the server's memory (RSS) before and after. Exits 1 on any failed
request.

With ``--stream`` every client streams its answers instead, against the batching server only, and the time to the
first piece of text (TTFT) is measured besides the whole answer's. With ``--mixed`` each client sends a chat
request, a streamed one and a transcription in turn; it exits 1 on any failure or 5xx as well.

    python bench/load.py [--model configs/models/tiny.yaml] [--clients 32] [--requests 10] [--stream | --mixed]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

import httpx
import numpy as np
import psutil
import soundfile as sf

from audiollm.config import DEFAULT_PROMPT
from serving import serve_in_process  # bench/serving.py, beside this script

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    name: str
    requests: int
    failed: int
    seconds: float
    latencies: list[float]
    rss_before_mb: float
    rss_after_mb: float
    rss_peak_mb: float
    mean_batch: float
    first_piece: list[float]
    server_errors: int  # 5xx answers
    by_kind: dict[str, list[float]]  # latencies of each kind of request

    @property
    def throughput(self) -> float:
        return (self.requests - self.failed) / self.seconds


def clip_b64(freq: float, seconds: float = 1.0) -> str:
    t = np.arange(int(seconds * 16_000)) / 16_000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16_000, format="WAV")
    return base64.b64encode(buf.getvalue()).decode()


def body(model: str, client: int, max_tokens: int) -> dict[str, Any]:
    audio = {"type": "input_audio", "input_audio": {"data": clip_b64(200.0 + 25 * client), "format": "wav"}}
    return {"model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": [audio, {"type": "text", "text": DEFAULT_PROMPT}]}]}


async def one_client(http: httpx.AsyncClient, request: dict[str, Any], count: int, latencies: list[float],
                     first_piece: list[float], kinds: tuple[str, ...], statuses: list[int],
                     by_kind: dict[str, list[float]]) -> int:
    """``count`` requests one after another, the i-th of kind ``kinds[i % len(kinds)]``; returns the failures."""
    failed = 0
    for i in range(count):
        kind = kinds[i % len(kinds)]
        start = time.perf_counter()
        status = 0
        try:
            if kind == "stream":
                status = await one_stream(http, {**request, "stream": True}, start, first_piece)
                ok = status == 200
            elif kind == "transcription":
                reply = await http.post("/v1/audio/transcriptions", data={"model": request["model"]},
                                        files={"file": ("clip.wav", base64.b64decode(_clip_of(request)), "audio/wav")})
                status = reply.status_code
                ok = status == 200 and isinstance(reply.json()["text"], str)
            else:
                reply = await http.post("/v1/chat/completions", json=request)
                status = reply.status_code
                ok = status == 200 and isinstance(reply.json()["choices"][0]["message"]["content"], str)
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - start
        latencies.append(elapsed)
        by_kind.setdefault(kind, []).append(elapsed)
        statuses.append(status)
        failed += not ok
    return failed


def _clip_of(request: dict[str, Any]) -> str:
    return request["messages"][0]["content"][0]["input_audio"]["data"]


async def one_stream(http: httpx.AsyncClient, request: dict[str, Any], start: float, first_piece: list[float]) -> int:
    """Read one streamed answer to its end (an error event makes it a failure, status 0); the time of its first
    text piece goes into ``first_piece``."""
    seen_text = False
    async with http.stream("POST", "/v1/chat/completions", json=request) as reply:
        if reply.status_code != 200:
            return reply.status_code
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error" in event:
                return 0
            choices = event.get("choices") or [{}]
            if not seen_text and choices[0].get("delta", {}).get("content"):
                seen_text = True
                first_piece.append(time.perf_counter() - start)
    return 200


async def drive(url: str, model: str, clients: int, requests: int, max_tokens: int, timeout: float,
                server: psutil.Process, kinds: tuple[str, ...]) -> tuple[int, float, list[float], float, list[float],
                                                                    list[int], dict[str, list[float]]]:
    latencies: list[float] = []
    first_piece: list[float] = []
    statuses: list[int] = []
    by_kind: dict[str, list[float]] = {}
    peak = server.memory_info().rss
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        start = time.perf_counter()
        # Clients start at different points of the cycle, so every kind of request is in flight at once.
        work = asyncio.gather(*(one_client(http, body(model, c, max_tokens), requests, latencies, first_piece,
                                           kinds[c % len(kinds):] + kinds[:c % len(kinds)], statuses, by_kind)
                                for c in range(clients)))
        task = asyncio.ensure_future(asyncio.wait_for(work, timeout))
        while not task.done():
            peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(0.05)
        failed = sum(task.result())
        seconds = time.perf_counter() - start
    return failed, seconds, latencies, peak / 2**20, first_piece, statuses, by_kind


def measure(name: str, args: argparse.Namespace, serve_args: list[str], clients: int, requests: int,
            kinds: tuple[str, ...] = ("chat",)) -> Run:
    with tempfile.TemporaryFile("w+") as log:
        try:
            with serve_in_process(["--model", args.model, "--queue-size", str(max(64, 2 * clients)),
                                   "--max-tokens", str(args.max_tokens), *serve_args], log,
                                  timeout=args.start_timeout) as (url, proc):
                server = psutil.Process(proc.pid)
                name_id = httpx.get(url + "/v1/models").json()["data"][0]["id"]
                # One request first, so one-time costs (first forward pass, allocator growth) count in "before".
                httpx.post(url + "/v1/chat/completions", json=body(name_id, 0, args.max_tokens), timeout=120)
                before = server.memory_info().rss / 2**20
                counts = httpx.get(url + "/health").json()
                failed, seconds, latencies, peak, first_piece, statuses, by_kind = asyncio.run(
                    drive(url, name_id, clients, requests, args.max_tokens, args.timeout, server, kinds))
                after = server.memory_info().rss / 2**20
                later = httpx.get(url + "/health").json()
                mean_batch = ((later["batched_requests"] - counts["batched_requests"])
                              / max(1, later["batches"] - counts["batches"]))
        except Exception:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise
    return Run(name, clients * requests, failed, seconds, latencies, before, after, peak, mean_batch, first_piece,
               sum(status >= 500 for status in statuses), by_kind)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else float("nan")


def report_mixed(args: argparse.Namespace) -> int:
    run = measure("mixed", args, ["--max-batch", str(args.max_batch), "--batch-window-ms", "10"],
                  args.clients, args.requests, kinds=("chat", "stream", "transcription"))
    print(f"{args.clients} clients x {args.requests} requests, chat / stream / transcription in turn, on {args.model}, "
          f"max_tokens {args.max_tokens}, loopback")
    print(f"{'requests':>8} {'failed':>6} {'5xx':>4} {'seconds':>8} {'req/s':>7} {'p50 s':>6} {'p95 s':>6} {'batch':>5} "
          f"{'RSS before MB':>13} {'after MB':>8} {'peak MB':>8}")
    print(f"{run.requests:>8} {run.failed:>6} {run.server_errors:>4} {run.seconds:>8.1f} {run.throughput:>7.2f} "
          f"{statistics.median(run.latencies):>6.2f} {percentile(run.latencies, 0.95):>6.2f} {run.mean_batch:>5.1f} "
          f"{run.rss_before_mb:>13.0f} {run.rss_after_mb:>8.0f} {run.rss_peak_mb:>8.0f}")
    for kind, latencies in sorted(run.by_kind.items()):
        print(f"  {kind:<14} {len(latencies):>4} requests  p50 {statistics.median(latencies):.2f} s  "
              f"p95 {percentile(latencies, 0.95):.2f} s")
    if run.first_piece:
        print(f"  stream TTFT         p50 {statistics.median(run.first_piece):.2f} s  "
              f"p95 {percentile(run.first_piece, 0.95):.2f} s")
    return 1 if run.failed or run.server_errors else 0


def report_streaming(args: argparse.Namespace) -> int:
    run = measure("streaming", args, ["--max-batch", str(args.max_batch), "--batch-window-ms", "10"],
                  args.clients, args.requests, kinds=("stream",))
    print(f"{args.clients} streaming clients x {args.requests} requests on {args.model}, max_tokens {args.max_tokens}, "
          f"loopback")
    print(f"{'requests':>8} {'failed':>6} {'seconds':>8} {'req/s':>7} {'TTFT p50 s':>10} {'TTFT p95 s':>10} "
          f"{'total p50 s':>11} {'total p95 s':>11} {'batch':>5}")
    print(f"{run.requests:>8} {run.failed:>6} {run.seconds:>8.1f} {run.throughput:>7.2f} "
          f"{statistics.median(run.first_piece):>10.2f} {percentile(run.first_piece, 0.95):>10.2f} "
          f"{statistics.median(run.latencies):>11.2f} {percentile(run.latencies, 0.95):>11.2f} {run.mean_batch:>5.1f}")
    return 1 if run.failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--model", default=str(ROOT / "configs" / "models" / "tiny.yaml"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=32, help="the batched server's largest batch")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for each run's whole load")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="seconds allowed for a server to start")
    parser.add_argument("--stream", action="store_true", help="clients stream their answers (batching server only)")
    parser.add_argument("--mixed", action="store_true", help="each client sends a chat request, a streamed one and "
                                                             "a transcription in turn (batching server only)")
    args = parser.parse_args()
    if args.mixed:
        return report_mixed(args)
    if args.stream:
        return report_streaming(args)

    total = args.clients * args.requests
    runs = [
        measure("batched", args, ["--max-batch", str(args.max_batch), "--batch-window-ms", "10"],
                args.clients, args.requests),
        measure("one at a time", args, ["--max-batch", "1"], args.clients, args.requests),
        # The sequential baseline: one client, the same number of requests, one after another.
        measure("sequential", args, ["--max-batch", "1"], 1, total),
    ]
    print(f"{args.clients} clients x {args.requests} requests on {args.model}, max_tokens {args.max_tokens}, "
          f"loopback")
    print(f"{'server':<14} {'requests':>8} {'failed':>6} {'seconds':>8} {'req/s':>7} {'p50 s':>6} {'p95 s':>6} "
          f"{'batch':>5} {'RSS before MB':>13} {'after MB':>8} {'peak MB':>8}")
    for run in runs:
        print(f"{run.name:<14} {run.requests:>8} {run.failed:>6} {run.seconds:>8.1f} {run.throughput:>7.2f} "
              f"{statistics.median(run.latencies):>6.2f} {percentile(run.latencies, 0.95):>6.2f} {run.mean_batch:>5.1f} "
              f"{run.rss_before_mb:>13.0f} {run.rss_after_mb:>8.0f} {run.rss_peak_mb:>8.0f}")
    batched, unbatched, sequential = runs
    print(f"throughput ratio batched / sequential:      {batched.throughput / sequential.throughput:.2f}")
    print(f"throughput ratio batched / one at a time:   {batched.throughput / unbatched.throughput:.2f}")
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
