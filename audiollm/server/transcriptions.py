"""``/v1/audio/transcriptions`` and ``/v1/audio/translations``: Whisper's own decoding (``AudioLLM.transcribe``,
its transcribe and translate tasks) in OpenAI's response formats.

``json`` and ``text`` give the text; ``verbose_json`` adds the segments and the duration; ``srt`` and ``vtt`` are
subtitle files of the segments. A translation is in English, whatever language is spoken (told, or detected by
Whisper when not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..audio import SAMPLE_RATE
from ..transcribe import Segment, Task
from .engine import Engine, EngineDep
from .errors import APIError
from .inputs import decode_audio

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
router = APIRouter()


@router.post("/audio/transcriptions", response_model=None)
async def transcriptions(
    engine: EngineDep,
    file: Annotated[UploadFile, File(description="the audio file: wav, flac, ogg or mp3")],
    model: Annotated[str, Form()],
    language: Annotated[str | None, Form(description="the spoken language, e.g. 'en' (default en)")] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
) -> JSONResponse | PlainTextResponse:
    return await _whisper(engine, file, model, language or "en", response_format, "transcribe")


@router.post("/audio/translations", response_model=None)
async def translations(
    engine: EngineDep,
    file: Annotated[UploadFile, File(description="the audio file: wav, flac, ogg or mp3")],
    model: Annotated[str, Form()],
    language: Annotated[str | None, Form(description="the spoken language (default: Whisper detects it)")] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
) -> JSONResponse | PlainTextResponse:
    return await _whisper(engine, file, model, language, response_format, "translate")


async def _whisper(engine: Engine, file: UploadFile, model: str, language: str | None, response_format: str,
                   task: Task) -> JSONResponse | PlainTextResponse:
    engine.check_model(model)
    samples = await run_in_threadpool(decode_audio, await file.read(), "file", engine.config.max_audio_seconds)
    timed = response_format in ("verbose_json", "srt", "vtt")  # Whisper decodes timestamps only when asked
    try:
        result = await run_in_threadpool(engine.model.transcribe, samples, timed, language, True, task)
    except ValueError as exc:  # an unknown language
        raise APIError(400, str(exc), "language", "invalid_language") from exc
    if isinstance(result, str):
        return PlainTextResponse(result) if response_format == "text" else JSONResponse({"text": result})
    if response_format == "srt":
        return PlainTextResponse(srt(result), media_type="application/x-subrip")
    if response_format == "vtt":
        return PlainTextResponse(vtt(result), media_type="text/vtt")
    return JSONResponse(verbose(result, len(samples) / SAMPLE_RATE, language or "detected", task))


def verbose(segments: Sequence[Segment], duration: float, language: str, task: Task) -> dict[str, Any]:
    text = " ".join(s.text for s in segments)
    return {"task": task, "language": language, "duration": round(duration, 3), "text": text,
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
