"""The one inference engine: batched decoding equals one at a time, streams join to the answers, stop strings, seeds
and token counts, on tiny models (one trained to give known answers, one random whose answers run long)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import soundfile as sf

from audiollm import AudioLLM, AudioPart, Generation, GenerationRequest, Message, TextPart
from audiollm.audio import load_audio
from audiollm.conversation import user_prompt
from audiollm.server.app import create_app
from bench.serving import serve_in_thread
from audiollm.server.settings import ServeConfig

from .conftest import TINY_CONFIG, tone
from .test_model import PAIRS


@pytest.fixture(scope="module")
def random_model() -> AudioLLM:
    return AudioLLM.from_config(TINY_CONFIG)


def ask(audio: Any, prompt: str, **settings: Any) -> GenerationRequest:
    return GenerationRequest(user_prompt(audio, prompt), **settings)


def streamed(model: AudioLLM, requests: list[GenerationRequest]) -> tuple[list[str], list[Generation]]:
    """Each request's pieces joined, and its final Generation, from one ``stream_batch`` call."""
    texts = [""] * len(requests)
    finals: list[Generation | None] = [None] * len(requests)
    for index, item in model.stream_batch(requests):
        assert finals[index] is None, f"request {index} got text after its Generation"
        if isinstance(item, Generation):
            finals[index] = item
        else:
            texts[index] += item
    assert all(final is not None for final in finals)
    return texts, finals  # type: ignore[return-value]


def test_batched_greedy_equals_one_at_a_time_with_each_row_at_its_own_limit(trained: AudioLLM) -> None:
    requests = [ask(audio, prompt) for audio, prompt, _ in PAIRS]
    # "low hum" cut after three tokens, a text-only prompt, and one clip asked twice with different limits.
    requests += [ask(PAIRS[0][0], PAIRS[0][1], max_new_tokens=3), ask(None, "Hello there", max_new_tokens=5),
                 ask(PAIRS[3][0], PAIRS[3][1], max_new_tokens=1)]
    batched = trained.generate_batch(requests)
    assert batched == [trained.generate_batch([r])[0] for r in requests]
    assert [g.text for g in batched[:4]] == [answer for _, _, answer in PAIRS]
    assert [g.finish_reason for g in batched[:4]] == ["stop"] * 4
    assert (batched[4].text, batched[4].completion_tokens, batched[4].finish_reason) == ("low", 3, "length")
    assert batched[5].completion_tokens <= 5
    assert (batched[6].text, batched[6].finish_reason) == ("a", "length")


def test_batched_random_answers_equal_one_at_a_time_for_mixed_clips_prompts_and_limits(random_model: AudioLLM) -> None:
    # The random model's answers are long and arbitrary: a strict check of padding, positions and the KV cache.
    limits = [5, 24, 11, 17]
    rows = [(0.4, 300, "Hi"), (2.7, 900, "What do you hear in this long clip?"), (1.1, 500, "Describe it."),
            (0.2, 1500, "?")]
    requests = [ask(tone(seconds, freq), prompt, max_new_tokens=limit)
                for (seconds, freq, prompt), limit in zip(rows, limits)]
    batched = random_model.generate_batch(requests)
    assert batched == [random_model.generate_batch([r])[0] for r in requests]
    for answer, limit in zip(batched, limits):
        assert answer.completion_tokens <= limit
        assert (answer.finish_reason == "length") == (answer.completion_tokens == limit), answer
    assert sum(a.finish_reason == "length" for a in batched) >= 2, "too few rows ran to their limit to test it"


@pytest.mark.parametrize("which", ["trained", "random_model"])
def test_stream_batch_pieces_join_to_the_batched_answers(which: str, request: pytest.FixtureRequest) -> None:
    model: AudioLLM = request.getfixturevalue(which)
    requests = [ask(audio, prompt, max_new_tokens=limit) for (audio, prompt, _), limit in zip(PAIRS, [32, 7, 19, 3])]
    texts, finals = streamed(model, requests)
    assert finals == model.generate_batch(requests)
    assert texts == [g.text for g in finals]
    assert list(model.stream(audio=PAIRS[1][0], prompt=PAIRS[1][1])) != []


def test_a_stop_string_ends_the_answer_before_it(trained: AudioLLM) -> None:
    audio, prompt, answer = PAIRS[1]  # "high beep"
    assert trained.generate(audio=audio, prompt=prompt) == answer
    requests = [ask(audio, prompt, stop=[" be", "zzz"]), ask(audio, prompt, stop="ee"), ask(audio, prompt, stop="q")]
    stopped = trained.generate_batch(requests)
    assert [(g.text, g.finish_reason) for g in stopped] == [("high", "stop"), ("high b", "stop"), (answer, "stop")]
    texts, finals = streamed(trained, requests)
    assert texts == ["high", "high b", answer], "a streamed piece ran into the stop string"
    assert finals == stopped
    assert stopped[0].completion_tokens == len("high be")  # the tokens read up to the stop (one byte each here)


def test_a_seed_makes_sampling_repeatable(random_model: AudioLLM) -> None:
    def sample(seed: int | None) -> str:
        return random_model.generate_batch([ask(tone(1.0), "Describe it.", max_new_tokens=16, temperature=1.0,
                                                top_p=0.9, seed=seed)])[0].text

    assert sample(7) == sample(7)
    assert len({sample(7), sample(8), sample(9)}) > 1, "different seeds sampled the same answer"
    greedy = random_model.generate_batch([ask(tone(1.0), "Describe it.", max_new_tokens=16)])[0].text
    assert sample(7) != greedy


def test_token_counts_are_the_tokenizers_own(trained: AudioLLM) -> None:
    low, high = tone(1.0, 220), tone(1.6, 880)
    conversation = [Message("user", (AudioPart(low), TextPart("Compare with"), AudioPart(high))),
                    Message.text_only("assistant", "The second is higher."),
                    Message("user", (AudioPart(PAIRS[2][0]), TextPart(PAIRS[2][1])))]
    answer, known = trained.generate_batch([GenerationRequest(conversation), ask(PAIRS[2][0], PAIRS[2][1])])
    processor = trained.processor
    ids, _ = processor.tokenize(processor.conversation(conversation), add_generation_prompt=True)
    assert answer.prompt_tokens == len(ids)
    assert answer.audio_tokens == sum(processor.num_audio_tokens(len(c)) for c in (low, high, PAIRS[2][0]))
    assert answer.audio_tokens == ids.count(processor.audio_token_id)
    assert known.text == PAIRS[2][2]
    assert known.completion_tokens == len(trained.tokenizer(known.text, add_special_tokens=False)["input_ids"])


def test_bad_requests_are_named() -> None:
    for settings, words in [({"max_new_tokens": 0}, "max_new_tokens"), ({"top_p": 0.0}, "top_p"),
                            ({"temperature": -1.0}, "temperature"), ({"stop": [""]}, "stop strings"),
                            ({"num_beams": 0}, "beams")]:
        with pytest.raises(ValueError, match=words):
            ask(None, "hi", **settings)
    with pytest.raises(ValueError, match="role must be"):
        GenerationRequest([{"role": "robot", "content": "hi"}])


def wav_b64(clip: Any) -> tuple[str, Any]:
    buf = io.BytesIO()
    sf.write(buf, clip, 16_000, format="WAV")
    return base64.b64encode(buf.getvalue()).decode(), load_audio(buf.getvalue())


@pytest.fixture(scope="module")
def served(trained: AudioLLM) -> Iterator[httpx.Client]:
    config = ServeConfig(model=str(TINY_CONFIG), max_tokens=32, batch_window_ms=20)
    with serve_in_thread(create_app(config, trained)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def test_the_servers_usage_and_finish_reason_are_the_generations(trained: AudioLLM, served: httpx.Client) -> None:
    data, samples = wav_b64(PAIRS[1][0])
    content = [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
               {"type": "text", "text": PAIRS[1][1]}]
    body = {"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 32}
    expected = trained.generate_batch([ask(samples, PAIRS[1][1], max_new_tokens=32)])[0]
    reply = served.post("/v1/chat/completions", json=body).json()
    assert reply["choices"][0]["message"]["content"] == expected.text
    assert reply["choices"][0]["finish_reason"] == expected.finish_reason
    assert reply["usage"] == {"prompt_tokens": expected.prompt_tokens, "completion_tokens": expected.completion_tokens,
                              "total_tokens": expected.prompt_tokens + expected.completion_tokens,
                              "prompt_tokens_details": {"audio_tokens": expected.audio_tokens}}

    stopped = served.post("/v1/chat/completions", json={**body, "stop": " be"}).json()
    assert stopped["choices"][0]["message"]["content"] == "high"

    lines = served.post("/v1/chat/completions", json={**body, "stream": True,
                                                      "stream_options": {"include_usage": True}}).text.splitlines()
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == expected.text
    assert chunks[-2]["choices"][0]["finish_reason"] == expected.finish_reason
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == reply["usage"]

    sampled = served.post("/v1/chat/completions", json={**body, "temperature": 2.0, "top_p": 0.95, "seed": 3}).json()
    alone = trained.generate_batch([ask(samples, PAIRS[1][1], max_new_tokens=32, temperature=2.0, top_p=0.95,
                                        seed=3)])[0]
    assert sampled["choices"][0]["message"]["content"] == alone.text


def test_a_manifest_rows_clips_include_those_named_inline(tmp_path: Any, wav_file: Any) -> None:
    from audiollm.data.manifest import read_manifest

    listed, inline = wav_file(0.5, 300), wav_file(0.7, 600)
    row = {"audio": listed.name, "messages": [
        {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "and"},
                                     {"type": "audio", "audio": inline.name}]},
        {"role": "assistant", "content": "two tones"}]}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    example = read_manifest(tmp_path / "m.jsonl")[0]
    assert example.audio == [listed.resolve(), inline.resolve()]
    assert example.prompt_messages[0].content[1] == TextPart("and") and example.answer == "two tones"
