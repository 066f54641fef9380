"""The Python API refuses bad requests with a ValueError that names the field, before any work: the prompt, the parts,
the sampling settings, and a prompt (or clip) longer than the LLM's context, with the numbers."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiollm import AudioLLM
from audiollm.generation import GenerationRequest

from .conftest import TINY_CONFIG, tone
from .server_helpers import flac_bytes


@pytest.fixture(scope="module")
def model() -> AudioLLM:
    return AudioLLM.from_config(TINY_CONFIG)


def user(*content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(content)}]


@pytest.mark.parametrize("kwargs, words", [
    ({"prompt": None}, "prompt must be a string or a list of strings, got NoneType"),
    ({"prompt": 7}, "prompt must be a string"),
    ({"prompt": ["fine", None], "audio": [tone(0.2), tone(0.2)]}, "prompt must be a string"),
    ({"max_new_tokens": 0}, "max_new_tokens must be an integer of at least 1"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer"),
    ({"temperature": -1.0}, "temperature must be a finite number, 0 (greedy) or more, got -1.0"),
    ({"temperature": math.nan}, "temperature must be a finite number, 0 (greedy) or more, got nan"),
    ({"temperature": math.inf}, "temperature must be a finite number"),
    ({"temperature": "hot"}, "temperature must be a finite number"),
    ({"top_p": math.nan}, "top_p must be in (0, 1]"),
    ({"seed": "7"}, "seed must be an integer"),
], ids=lambda v: repr(v)[:40])
def test_generate_names_the_bad_field(model: AudioLLM, kwargs: dict[str, Any], words: str) -> None:
    call = {"audio": tone(0.2), "max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError) as error:
        model.generate(**call)
    assert words in str(error.value)


@pytest.mark.parametrize("messages, words", [
    (user({"type": "text"}), "message 0 part 0: a text part needs 'text', a string; got NoneType"),
    (user({"type": "audio"}), "message 0 part 0: an audio part needs 'audio'"),
    (user({"type": "audio", "audio": None}), "message 0 part 0: an audio part's audio is None"),
    (user({}), "message 0 part 0: expected a text part (type 'text' with 'text') or an audio part"),
    (user({"text": "no type"}), "expected a text part"),
    (user("a bare string"), "expected a text part"),
    ([{"role": "user", "content": "What is \ud800?"}], "lone UTF-16 surrogate U+D800 at character 8"),
    ([{"role": "user", "content": None}], "content must be a string or a non-empty list of parts"),
    ([], "the conversation has no messages"),
], ids=lambda v: repr(v)[:40])
def test_chat_names_the_bad_part(model: AudioLLM, messages: list[Any], words: str) -> None:
    with pytest.raises(ValueError) as error:
        model.chat(messages, max_new_tokens=2)
    assert words in str(error.value)


def test_a_request_without_a_conversation_is_refused() -> None:
    with pytest.raises(ValueError, match="conversation must be a list of messages, got NoneType"):
        GenerationRequest(None)  # type: ignore[arg-type]


def test_an_hour_long_clip_is_refused_from_its_header_with_the_numbers(model: AudioLLM, tmp_path: Path) -> None:
    path = tmp_path / "hour.flac"
    # An hour of silence is 200 KB of FLAC; decoded it would be 230 MB, encoded 45,000 audio tokens.
    path.write_bytes(flac_bytes(np.zeros(3600 * 16_000, np.float32)))
    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        model.generate(audio=str(path), max_new_tokens=4)
    assert time.perf_counter() - start < 1.0, "the clip was decoded before it was refused"
    assert str(error.value) == ("request 0: the audio lasts 3600.0 s (about 45000 audio tokens) and up to 4 new tokens "
                                "are asked for; the LLM's context holds 8192 tokens (at most 655 s of audio)")


def test_a_headerless_stream_over_the_context_is_refused_while_decoding(model: AudioLLM) -> None:
    clip = flac_bytes(np.zeros(700 * 16_000, np.float32), length_in_header=False)
    with pytest.raises(ValueError, match="decoding stopped there"):
        model.generate(audio=clip, max_new_tokens=4)


def test_a_prompt_over_the_context_is_refused_with_the_numbers(model: AudioLLM) -> None:
    with pytest.raises(ValueError) as error:
        model.generate(prompt="x " * 10_000, max_new_tokens=4)
    message = str(error.value)
    assert message.startswith("request 0: the prompt is ") and "the LLM's context holds 8192 tokens" in message


def test_a_clip_that_fits_with_its_answer_is_answered(model: AudioLLM) -> None:
    answer = model.generate(audio=tone(600.0), max_new_tokens=4)  # 7500 audio tokens of 8192
    assert isinstance(answer, str)
    with pytest.raises(ValueError, match="up to 1000 new tokens"):
        model.generate(audio=tone(600.0), max_new_tokens=1000)  # the answer would not fit beside it
