"""``/v1/audio/transcriptions``: Whisper's own decoding (``AudioLLM.transcribe``) in OpenAI's response formats.

``json`` and ``text`` give the text; ``verbose_json`` adds the segments and the duration; ``srt`` and ``vtt`` are
subtitle files of the segments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..audio import SAMPLE_RATE
from ..transcribe import Segment
from .errors import APIError
from .inputs import decode_audio

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


def add_transcription_route(router: APIRouter, check_model: Callable[[str], None], max_audio_seconds: float) -> None:
    @router.post("/audio/transcriptions", response_model=None)
    async def transcriptions(
        request: Request,
        file: Annotated[UploadFile, File(description="the audio file: wav, flac, ogg or mp3")],
        model: Annotated[str, Form()],
        language: Annotated[str | None, Form(description="the spoken language, e.g. 'en' (default en)")] = None,
        response_format: Annotated[ResponseFormat, Form()] = "json",
    ) -> JSONResponse | PlainTextResponse:
        check_model(model)
        samples = await run_in_threadpool(decode_audio, await file.read(), "file", max_audio_seconds)
        timed = response_format in ("verbose_json", "srt", "vtt")  # Whisper decodes timestamps only when asked
        try:
            result = await run_in_threadpool(request.app.state.model.transcribe, samples, timed, language or "en")
        except ValueError as exc:  # an unknown language
            raise APIError(400, str(exc), "language", "invalid_language") from exc
        if isinstance(result, str):
            return PlainTextResponse(result) if response_format == "text" else JSONResponse({"text": result})
        if response_format == "srt":
            return PlainTextResponse(srt(result), media_type="application/x-subrip")
        if response_format == "vtt":
            return PlainTextResponse(vtt(result), media_type="text/vtt")
        return JSONResponse(verbose(result, len(samples) / SAMPLE_RATE, language or "en"))


def verbose(segments: Sequence[Segment], duration: float, language: str) -> dict[str, Any]:
    text = " ".join(s.text for s in segments)
    return {"task": "transcribe", "language": language, "duration": round(duration, 3), "text": text,
            "segments": [{"id": i, "start": s.start_s, "end": s.end_s, "text": s.text}
                         for i, s in enumerate(segments)]}


def srt(segments: Sequence[Segment]) -> str:
    return "".join(f"{i}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{s.text}\n\n"
                   for i, s in enumerate(segments, start=1))


def vtt(segments: Sequence[Segment]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{s.text}\n\n"
                                  for s in segments)


def _clock(seconds: float, decimal: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{decimal}{rest % 1000:03d}"
