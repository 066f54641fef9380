"""Run the API on loopback in the background: a thread of this process, or an ``audiollm serve`` process (the load
benchmark and the server tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from fastapi import FastAPI

from audiollm.ports import free_port


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0) -> Iterator[str]:
    """Start uvicorn on ``host:port`` (0: a free port) and yield its base URL; stop it on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="audiollm-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the server on {host}:{port} did not start (see its log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the server on {host}:{port} did not start within {timeout:g} s")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve_in_process(args: list[str], log: IO[str], timeout: float = 600.0, env: dict[str, str] | None = None
                     ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``audiollm serve ARGS --port <free>`` with its output to ``log`` (in ``env``, default this process's
    environment); yield its URL once ``/health`` answers, and stop it with Ctrl-C (SIGINT) on exit."""
    port = free_port()
    root = str(Path(__file__).resolve().parents[1])  # so a source checkout runs without being installed
    env = env if env is not None else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, "-m", "audiollm.cli", "serve", *args, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"audiollm serve exited with {proc.returncode} before answering (see its log)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"audiollm serve did not answer on {url} within {timeout:g} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
