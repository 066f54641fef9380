"""The wire format: OpenAI chat-completion requests with audio parts, and the response and chunk bodies."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ..generation import Generation

AudioFormat = Literal["wav", "mp3", "flac", "ogg"]


class InputAudio(BaseModel):
    data: str = Field(description="the encoded audio file, base64")
    format: AudioFormat


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class AudioPart(BaseModel):
    type: Literal["input_audio"]
    input_audio: InputAudio


class AudioURL(BaseModel):
    url: str = Field(description="a data: URI (data:audio/wav;base64,...), or http(s) from a host the server allows")


class AudioURLPart(BaseModel):
    """vLLM's form of an audio part."""

    type: Literal["audio_url"]
    audio_url: AudioURL


Part = Annotated[TextPart | AudioPart | AudioURLPart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    # "developer" is OpenAI's newer name for the system role.
    role: Literal["system", "developer", "user", "assistant"]
    content: str | Annotated[list[Part], Field(min_length=1)]


class AudioOutput(BaseModel):
    # Accepted for compatibility; the server speaks with the voice of its speech backend.
    voice: str | None = None
    # Streamed answers always send pcm16 chunks, as OpenAI's do.
    format: Literal["wav", "pcm16"] = "wav"


class StreamOptions(BaseModel):
    # With include_usage a last chunk, with no choices, carries the whole answer's usage.
    include_usage: bool = False


class ChatRequest(BaseModel):
    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    # Greedy when not given, so the same request gets the same answer.
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    # Sampling with a seed gives the same answer to the same request.
    seed: int | None = None
    stop: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=4)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1, description="only one choice per request")] = 1
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOutput | None = None


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(answer: Generation) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"audio_tokens": answer.audio_tokens},
    }


def chat_completion(cid: str, model: str, answer: Generation, audio: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if audio is not None:
        message["audio"] = audio
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason, "logprobs": None}],
        "usage": usage(answer),
    }


def chat_chunk(cid: str, model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(cid: str, model: str, answer: Generation) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model, "choices": [],
            "usage": usage(answer)}


def model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "audiollm"}
