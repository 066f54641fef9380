"""One worker thread owns the model and only schedules: requests queue up (bounded; their limits were checked before
they were queued), those arriving within a short window of each other are answered together by one ``stream_batch``
call, so concurrent requests decode in one batch and any of them stops when its client goes. A batch that fails is
answered again request by request, so one bad request fails alone."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from ..generation import Generation, GenerationRequest
from ..model import AudioLLM
from .errors import APIError

log = logging.getLogger("audiollm.server")

_STOP = object()
MAX_WINDOWS = 4


@dataclasses.dataclass
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Generation] | None = None
    # Streamed jobs: text pieces, then the whole Generation, or the exception that ended them.
    pieces: asyncio.Queue[Any] | None = None
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)

    def notify(self, callback: Any, *args: Any) -> None:
        """Run ``callback`` on the request's event loop; once that loop is closed there is no one left to tell."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.cancelled.set()


class Batcher:
    def __init__(self, model: AudioLLM, queue_size: int, max_batch: int, window_s: float):
        self.model = model
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._work, name="audiollm-generate", daemon=True)
        # Generation calls and the requests they answered (the mean batch size, reported by /health).
        self.batches = 0
        self.batched_requests = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def complete(self, request: GenerationRequest) -> Generation:
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, future=loop.create_future())
        self._submit(job)
        assert job.future is not None
        try:
            return await job.future
        finally:
            job.cancelled.set()

    def stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        """Queue a streamed answer now (a full queue is a 503 before any byte is sent); iterate for its text
        pieces and, last, the whole :class:`Generation`."""
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, pieces=asyncio.Queue())
        self._submit(job)
        return self._pieces(job)

    async def _pieces(self, job: _Job) -> AsyncIterator[str | Generation]:
        assert job.pieces is not None
        try:
            while True:
                piece = await job.pieces.get()
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
                if isinstance(piece, Generation):
                    return
        finally:
            job.cancelled.set()  # the client went away: stop generating for it

    def _submit(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise APIError(503, f"the server is busy: {self._queue.maxsize} requests are already waiting; "
                                "retry shortly", code="server_overloaded", headers={"Retry-After": "1"}) from None

    # ---- the worker thread -----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            batch = [job]
            start = time.monotonic()
            deadline = start + self.window_s
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
                # Clients that were answered together ask again one after another: while requests keep coming
                # within a window of each other, wait for the next (up to MAX_WINDOWS windows in all).
                deadline = min(time.monotonic() + self.window_s, start + MAX_WINDOWS * self.window_s)
            try:
                self._run([job for job in batch if not job.cancelled.is_set()])
            except Exception as exc:  # the worker must outlive any one batch
                log.exception("the generation worker failed on a batch of %d", len(batch))
                for failed in batch:
                    self._fail(failed, exc)
            if stopping:
                return

    def _run(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        self.batches += 1
        self.batched_requests += len(jobs)
        requests = [job.request for job in jobs]
        started: set[int] = set()
        done: set[int] = set()
        try:
            for index, item in self.model.stream_batch(requests, cancelled=lambda i: jobs[i].cancelled.is_set()):
                started.add(index)
                if isinstance(item, Generation):
                    done.add(index)
                if isinstance(item, Generation) or jobs[index].pieces is not None:
                    self._resolve(jobs[index], item)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request(s)
            if len(jobs) == 1:
                self._fail(jobs[0], exc)
                return
            for i, job in enumerate(jobs):
                if i not in started:
                    # Answered again alone, so only the request that fails gets the error.
                    self._run_alone(job)
                elif i not in done:
                    self._fail(job, exc)

    def _run_alone(self, job: _Job) -> None:
        try:
            self._run([job])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            self._fail(job, exc)

    @staticmethod
    def _resolve(job: _Job, item: str | Generation) -> None:
        if job.pieces is not None:
            job.notify(job.pieces.put_nowait, item)
            return
        assert job.future is not None and isinstance(item, Generation)
        future = job.future
        job.notify(lambda: future.done() or future.set_result(item))

    @staticmethod
    def _fail(job: _Job, exc: Exception) -> None:
        if not isinstance(exc, (ValueError, APIError)):
            log.error("generation failed: %r", exc)
        if job.pieces is not None:
            job.notify(job.pieces.put_nowait, exc)
            return
        assert job.future is not None
        future = job.future
        job.notify(lambda: future.done() or future.set_exception(exc))
