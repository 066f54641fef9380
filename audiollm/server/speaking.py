"""Spoken answers (``modalities: ["text", "audio"]``) from the speech head, as OpenAI's audio objects."""

from __future__ import annotations

import asyncio
import base64
import io
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import to_pcm16
from .errors import APIError

# How long OpenAI says an answer's audio stays referable; nothing is stored here, the value is for clients.
EXPIRES_S = 3600


def wav(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Speaker:
    """The speech head, loaded on the first spoken answer (it serialises synthesis itself)."""

    def __init__(self, backend: str, voice: str | None):
        self.backend = backend
        self.voice = voice
        self._head: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._head is None:
                try:
                    from ..speech import load_speech

                    self._head = load_speech(self.backend, self.voice)
                except (ValueError, ImportError, OSError) as exc:
                    raise APIError(400, f"modalities: spoken answers are unavailable: {exc}", "modalities",
                                   "audio_output_unavailable") from exc
            return self._head

    def audio_object(self, text: str, fmt: str) -> dict[str, Any]:
        """The whole answer spoken: ``message.audio`` of a chat completion."""
        samples, rate = self.load().speak(text)
        data = wav(samples, rate) if fmt == "wav" else to_pcm16(samples).tobytes()
        return {"id": f"audio_{uuid.uuid4().hex}", "data": base64.b64encode(data).decode(),
                "expires_at": int(time.time()) + EXPIRES_S, "transcript": text, "sample_rate": rate}

    async def stream(self, pieces: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, dict[str, Any] | None]]:
        """Pass text pieces through as ``(piece, None)`` and add ``(None, audio delta)`` for each sentence as soon
        as it is spoken: the head synthesizes in its own thread while the text goes on."""
        head = self.load()
        loop = asyncio.get_running_loop()
        text_in: queue.Queue[str | None] = queue.Queue()
        audio_out: asyncio.Queue[Any] = asyncio.Queue()
        audio_id = f"audio_{uuid.uuid4().hex}"

        def speak() -> None:
            try:
                for samples, rate in head.stream(iter(text_in.get, None)):
                    data = base64.b64encode(to_pcm16(samples).tobytes()).decode()
                    delta = {"id": audio_id, "data": data, "sample_rate": rate}
                    loop.call_soon_threadsafe(audio_out.put_nowait, delta)
            except Exception as exc:  # noqa: BLE001 - raised in the request's task
                loop.call_soon_threadsafe(audio_out.put_nowait, exc)
            loop.call_soon_threadsafe(audio_out.put_nowait, None)

        thread = threading.Thread(target=speak, name="audiollm-speak", daemon=True)
        thread.start()
        try:
            async for piece in pieces:
                text_in.put(piece)
                yield piece, None
                while not audio_out.empty():
                    yield None, _checked(audio_out.get_nowait())
            text_in.put(None)
            while (delta := await audio_out.get()) is not None:
                yield None, _checked(delta)
        finally:
            text_in.put(None)


def _checked(item: Any) -> Any:
    if isinstance(item, BaseException):
        raise item
    return item
