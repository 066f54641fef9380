"""Music: music21 corpus scores rendered with fluidsynth and a General MIDI soundfont, with their labels."""

from __future__ import annotations

import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# music21 corpus folder -> the composer's name as answered (surname) and in full.
COMPOSERS = {
    "bach": ("Bach", "Johann Sebastian Bach"),
    "beethoven": ("Beethoven", "Ludwig van Beethoven"),
    "mozart": ("Mozart", "Wolfgang Amadeus Mozart"),
    "haydn": ("Haydn", "Joseph Haydn"),
    "monteverdi": ("Monteverdi", "Claudio Monteverdi"),
    "palestrina": ("Palestrina", "Giovanni Pierluigi da Palestrina"),
    "josquin": ("Josquin", "Josquin des Prez"),
}
# General MIDI programs (0-based) chosen to sound distinct.
INSTRUMENTS = {
    "piano": 0, "harpsichord": 6, "vibraphone": 11, "marimba": 12, "church organ": 19, "accordion": 21,
    "acoustic guitar": 24, "electric guitar": 27, "violin": 40, "cello": 42, "string ensemble": 48,
    "choir": 52, "trumpet": 56, "french horn": 60, "alto saxophone": 65, "oboe": 68, "clarinet": 71,
    "flute": 73, "pan flute": 75, "steel drums": 114,
}
TEMPOS = (60, 72, 84, 96, 108, 120, 132, 144, 160)
EXCERPT_SECONDS = 20
TAIL_SECONDS = 2.0  # let the last notes ring out
MAX_SECONDS = 30.0  # whole bars at a slow tempo can overrun the excerpt; training skips clips over 30 s
RATE = 16_000


@dataclass(frozen=True)
class Score:
    path: Path
    composer: str  # the corpus folder name, a key of COMPOSERS

    @property
    def name(self) -> str:
        return f"{self.composer}/{self.path.name}"


@dataclass(frozen=True)
class Rendering:
    key: str  # e.g. "A major"
    time_signature: str  # e.g. "3/4"
    seconds: float


def corpus_scores() -> list[Score]:
    """Single-score files of the composers above, in a stable order."""
    from music21 import corpus

    scores = []
    for composer in COMPOSERS:
        for path in corpus.getComposer(composer):
            path = Path(path)
            # .abc and some .krn files are collections of many tunes; keep one-score formats.
            if path.suffix in (".mxl", ".xml", ".musicxml", ".krn", ".mid"):
                scores.append(Score(path, composer))
    return sorted(scores, key=lambda s: s.name)


def render(score: Score, program: int, tempo: int, soundfont: Path, out: Path) -> Rendering:
    """Render the score's opening (about 20 s) at ``tempo`` BPM on one GM ``program`` to the wav file ``out``."""
    from music21 import corpus, instrument, meter, stream
    from music21 import tempo as m21tempo

    parsed = corpus.parse(str(score.path))
    if isinstance(parsed, stream.Opus):
        parsed = parsed.scores[0]
    signatures = list(parsed.recurse().getElementsByClass(meter.TimeSignature))
    signature = signatures[0] if signatures else meter.TimeSignature("4/4")
    bars = max(1, math.ceil(EXCERPT_SECONDS * tempo / 60 / signature.barDuration.quarterLength))
    excerpt = parsed.measures(1, bars) if parsed.parts and parsed.parts[0].getElementsByClass("Measure") else parsed
    for old in list(excerpt.recurse().getElementsByClass((instrument.Instrument, m21tempo.MetronomeMark))):
        old.activeSite.remove(old)
    for part in excerpt.parts or [excerpt]:
        voice = instrument.Instrument()
        voice.midiProgram = program
        part.insert(0, voice)
        part.insert(0, m21tempo.MetronomeMark(number=tempo))
    key = excerpt.analyze("key")
    seconds = float(excerpt.highestTime) * 60 / tempo
    with tempfile.TemporaryDirectory() as scratch:
        midi = Path(scratch) / "score.mid"
        excerpt.write("midi", fp=str(midi))
        samples = _synthesize(midi, soundfont, min(seconds + TAIL_SECONDS, MAX_SECONDS))
    sf.write(out, samples, RATE)
    return Rendering(_key_name(key.tonic.name, key.mode), signature.ratioString, seconds)


def _synthesize(midi: Path, soundfont: Path, max_seconds: float) -> np.ndarray:
    """fluidsynth's raw output, read up to ``max_seconds`` (some scores leave a note sounding for ever)."""
    command = ["fluidsynth", "-ni", "-g", "0.6", "-T", "raw", "-O", "s16", "-r", str(RATE), "-F", "-",
               str(soundfont), str(midi)]
    wanted = int(max_seconds * RATE) * 4  # stereo 16-bit frames
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        data = process.stdout.read(wanted)
        process.kill()
    if len(data) < RATE * 4:
        raise RuntimeError(f"fluidsynth rendered {len(data)} bytes of audio from {midi.name}")
    frames = np.frombuffer(data[: len(data) // 4 * 4], dtype="<i2").reshape(-1, 2)
    return frames.mean(axis=1).astype(np.float32) / 32768


def _key_name(tonic: str, mode: str) -> str:
    return f"{tonic.replace('-', '-flat').replace('#', '-sharp')} {mode}"


def tempo_word(bpm: int) -> str:
    return "slow" if bpm < 80 else "moderate" if bpm < 120 else "fast"
