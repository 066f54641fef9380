"""One worker thread owns the model: requests queue up (bounded), and those arriving within a short window are
answered together by one batched ``generate_conversations`` call. Streamed requests run one at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from ..model import AudioLLM
from ..processor import Conversation
from .errors import APIError

log = logging.getLogger("audiollm.server")

_STOP = object()


@dataclasses.dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclasses.dataclass
class _Job:
    conversation: Conversation
    messages: Sequence[dict[str, Any]]
    max_tokens: int
    temperature: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Completion] | None = None
    # Streamed jobs: text pieces, then the whole Completion, or the exception that ended them.
    pieces: asyncio.Queue[Any] | None = None
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)
    prompt_tokens: int = 0

    def notify(self, callback: Any, *args: Any) -> None:
        """Run ``callback`` on the request's event loop; once that loop is closed there is no one left to tell."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.cancelled.set()


class _StopWhenCancelled(StoppingCriteria):
    """Ends a streamed generation once its client has gone, instead of generating to max_tokens for nobody."""

    def __init__(self, cancelled: threading.Event):
        self.cancelled = cancelled

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.cancelled.is_set(), dtype=torch.bool, device=input_ids.device)


class Batcher:
    def __init__(self, model: AudioLLM, queue_size: int, max_batch: int, window_s: float, max_prompt_tokens: int):
        self.model = model
        self.max_prompt_tokens = max_prompt_tokens
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

    async def complete(
        self, conversation: Conversation, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float
    ) -> Completion:
        loop = asyncio.get_running_loop()
        job = _Job(conversation, messages, max_tokens, temperature, loop, future=loop.create_future())
        self._submit(job)
        assert job.future is not None
        try:
            return await job.future
        finally:
            job.cancelled.set()

    def stream(
        self, conversation: Conversation, messages: Sequence[dict[str, Any]], max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Completion]:
        """Queue a streamed answer now (a full queue is a 503 before any byte is sent); iterate for its text
        pieces and, last, the whole :class:`Completion`."""
        loop = asyncio.get_running_loop()
        job = _Job(conversation, messages, max_tokens, temperature, loop, pieces=asyncio.Queue())
        self._submit(job)
        return self._pieces(job)

    async def _pieces(self, job: _Job) -> AsyncIterator[str | Completion]:
        assert job.pieces is not None
        try:
            while True:
                piece = await job.pieces.get()
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
                if isinstance(piece, Completion):
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
        held: Any = None
        while True:
            job, held = (held if held is not None else self._queue.get()), None
            if job is _STOP:
                return
            batch = [job]
            try:
                if job.pieces is not None:
                    self._run_stream(job)
                    continue
                deadline = time.monotonic() + self.window_s
                while len(batch) < self.max_batch:
                    try:
                        nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if nxt is _STOP or nxt.pieces is not None:
                        held = nxt
                        break
                    batch.append(nxt)
                self._run_batch(batch)
            except Exception as exc:  # the worker must outlive any one batch
                log.exception("the generation worker failed on a batch of %d", len(batch))
                for failed in batch:
                    self._fail(failed, exc)

    def _admit(self, job: _Job) -> bool:
        """Count the prompt's tokens (here: the tokenizer is used by this thread only); fail it when too long."""
        try:
            job.prompt_tokens = len(self.model.processor.tokenize(job.conversation, add_generation_prompt=True)[0])
        except ValueError as exc:
            self._fail(job, exc)
            return False
        if job.prompt_tokens > self.max_prompt_tokens:
            self._fail(job, APIError(400, f"messages: the prompt is {job.prompt_tokens} tokens (audio included); "
                                          f"the limit is {self.max_prompt_tokens}", "messages", "context_length_exceeded"))
            return False
        return True

    def _run_batch(self, batch: list[_Job]) -> None:
        batch = [job for job in batch if not job.cancelled.is_set() and self._admit(job)]
        groups: dict[tuple[int, float], list[_Job]] = defaultdict(list)
        for job in batch:
            groups[(job.max_tokens, job.temperature)].append(job)
        for (max_tokens, temperature), jobs in groups.items():
            self.batches += 1
            self.batched_requests += len(jobs)
            try:
                texts = self.model.generate_conversations(
                    [job.conversation for job in jobs], max_new_tokens=max_tokens, temperature=temperature
                )
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request(s)
                if len(jobs) > 1:
                    # Answer one by one so only the request that fails gets the error.
                    for job in jobs:
                        self._run_batch_one(job)
                    continue
                self._fail(jobs[0], exc)
                continue
            for job, text in zip(jobs, texts):
                self._resolve(job, self._completion(job, text))

    def _run_batch_one(self, job: _Job) -> None:
        try:
            text = self.model.generate_conversations([job.conversation], job.max_tokens, job.temperature)[0]
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            self._fail(job, exc)
            return
        self._resolve(job, self._completion(job, text))

    def _run_stream(self, job: _Job) -> None:
        assert job.pieces is not None
        put = job.pieces.put_nowait
        pieces: list[str] = []
        if not self._admit(job):
            return
        try:
            stop = StoppingCriteriaList([_StopWhenCancelled(job.cancelled)])
            for piece in self.model.stream(messages=job.messages, max_new_tokens=job.max_tokens,
                                           temperature=job.temperature, stopping_criteria=stop):
                pieces.append(piece)
                job.notify(put, piece)
                if job.cancelled.is_set():
                    break
            job.notify(put, self._completion(job, "".join(pieces).strip()))
        except Exception as exc:  # noqa: BLE001 - raised in the request's task
            self._fail(job, exc)

    def _completion(self, job: _Job, text: str) -> Completion:
        completion_tokens = len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])
        finish = "length" if completion_tokens >= job.max_tokens else "stop"
        return Completion(text, job.prompt_tokens, completion_tokens, finish)

    @staticmethod
    def _resolve(job: _Job, completion: Completion) -> None:
        assert job.future is not None
        future = job.future
        job.notify(lambda: future.done() or future.set_result(completion))

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
