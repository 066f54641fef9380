"""Regenerate the demo's example clips (``python examples/make_examples.py``), 16 kHz mono FLAC.

speech.flac   the hibari-tts voice "heart" (Apache-2.0) reading one sentence
chord.flac    a C major chord (C4 E4 G4) of decaying harmonic tones
doorbell.flac a two-note "ding-dong" chime with decay
rain.flac     real recorded rain: the first 6 s of Scorched 3D's rain.wav (Debian package scorched3d-data, GPL-2+);
              its package holds the starter corpus's test clips for rain, so no model trained on it has heard it
footsteps.flac real recorded footsteps: Hedgewars' steps.ogg, all 0.3 s of it (Debian package hedgewars-data,
              GFDL-1.3); its package holds the test clips for footsteps, so training never heard it
"""

from pathlib import Path

import numpy as np
import soundfile as sf

from audiollm.audio import SAMPLE_RATE, load_audio
from audiollm.speech import load_speech

HERE = Path(__file__).resolve().parent
RAIN = Path("/usr/share/games/scorched3d/data/globalmods/none/data/wav/misc/rain.wav")
STEPS = Path("/usr/share/games/hedgewars/Data/Sounds/steps.ogg")


def note(freq: float, seconds: float, decay: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    harmonics = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return (harmonics * np.exp(-t / decay)).astype(np.float32)


def main() -> None:
    spoken, rate = load_speech("hibari").speak("Turn off the lights before you leave.")
    sf.write(HERE / "speech.flac", load_audio((spoken, rate)), SAMPLE_RATE)
    chord = sum(note(f, 2.5, 0.9) for f in (261.63, 329.63, 392.0))
    sf.write(HERE / "chord.flac", 0.25 * chord, SAMPLE_RATE)
    ding, dong = note(659.25, 0.8, 0.35), note(523.25, 1.4, 0.5)
    sf.write(HERE / "doorbell.flac", 0.4 * np.concatenate([ding, dong]), SAMPLE_RATE)
    for source, package in ((RAIN, "scorched3d-data"), (STEPS, "hedgewars-data")):
        if not source.is_file():
            raise SystemExit(f"{source} not found: apt-get install {package} (or keep the committed clips)")
    sf.write(HERE / "rain.flac", load_audio(RAIN)[: 6 * SAMPLE_RATE], SAMPLE_RATE)
    sf.write(HERE / "footsteps.flac", load_audio(STEPS), SAMPLE_RATE)


if __name__ == "__main__":
    main()
