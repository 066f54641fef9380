"""Audio input: formats, mix-down, resampling, Whisper log-mel parity, long clips, and clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiollm import AudioError, AudioLLMConfig
from audiollm.audio import SAMPLE_RATE, audio_seconds, load_audio, log_mel, split_windows
from audiollm.projector import num_audio_tokens

from .conftest import tone
from .server_helpers import flac_bytes


def dominant_frequency(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(("fmt", "subtype"), [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_every_file_format_loads_as_16k_mono(tmp_path: Path, fmt: str, subtype: str):
    path = tmp_path / f"clip.{fmt}"
    sf.write(path, tone(2.0, 440, rate=44_100), 44_100, format=fmt.upper() if fmt != "mp3" else "MP3", subtype=subtype)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 2 * SAMPLE_RATE) < 0.02 * SAMPLE_RATE  # mp3 adds encoder delay
    assert abs(dominant_frequency(samples) - 440) < 5


def test_stereo_is_mixed_down_and_rates_resampled(tmp_path: Path):
    left, right = tone(1.0, 300, rate=48_000), tone(1.0, 1200, rate=48_000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 48_000)
    samples = load_audio(path)
    assert len(samples) == SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    top_two = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert top_two == pytest.approx([300, 1200], abs=3)
    # An (array, rate) pair and a channels-first int16 array are handled the same way.
    pair = load_audio((np.stack([left, right]), 48_000))
    np.testing.assert_allclose(pair, samples, atol=1e-3)
    ints = load_audio(((tone(1.0, 500) * 32767).astype(np.int16), SAMPLE_RATE))
    assert ints.dtype == np.float32 and np.abs(ints).max() <= 1.0 and abs(dominant_frequency(ints) - 500) < 2


def test_log_mel_matches_openai_whisper():
    whisper_audio = pytest.importorskip("whisper.audio")
    rng = np.random.default_rng(0)
    samples = (0.2 * rng.standard_normal(7 * SAMPLE_RATE)).astype(np.float32)
    samples += tone(7.0, 220)
    for n_mels in (80, 128):
        ours = log_mel(samples, n_mels=n_mels).numpy()
        theirs = whisper_audio.log_mel_spectrogram(samples, n_mels=n_mels).numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    padded = log_mel(samples, pad_to_30s=True).numpy()
    reference = whisper_audio.log_mel_spectrogram(whisper_audio.pad_or_trim(samples)).numpy()
    np.testing.assert_allclose(padded, reference, atol=1e-5)


def test_long_clip_is_split_and_fully_tokenised():
    cfg = AudioLLMConfig()
    tokens_30 = num_audio_tokens(30 * SAMPLE_RATE, cfg.encoder, cfg.projector)
    tokens_75 = num_audio_tokens(75 * SAMPLE_RATE, cfg.encoder, cfg.projector)
    assert tokens_75 / tokens_30 == pytest.approx(2.5, rel=0.01)
    windows = split_windows(np.zeros(75 * SAMPLE_RATE, dtype=np.float32))
    assert [len(w) / SAMPLE_RATE for w in windows] == [30, 30, 15]


def bad_inputs(tmp_path: Path) -> list[tuple[object, str, str]]:
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    truncated = tmp_path / "cut.flac"
    sf.write(truncated, tone(1.0), SAMPLE_RATE)
    truncated.write_bytes(truncated.read_bytes()[:60])
    empty_file = tmp_path / "empty.wav"
    sf.write(empty_file, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    nan = tone(1.0)
    nan[100] = np.nan
    inf = tone(1.0)
    inf[5] = np.inf
    return [
        (tmp_path / "missing.wav", "missing.wav", "not found"),
        (text, "notes.wav", "not a readable audio file"),
        (truncated, "cut.flac", "not a readable audio file"),
        (empty_file, "empty.wav", "empty"),
        (np.zeros(0, dtype=np.float32), "array", "empty"),
        (nan, "array", "NaN"),
        (inf, "array", "infinite"),
        ((tone(1.0), 10), "10 Hz", "outside"),
        ((tone(1.0), 10_000_000), "10000000 Hz", "outside"),
        (np.array(["a", "b"]), "array", "non-numeric"),
        (b"", "0 bytes", "empty"),
        (12345, "int", "unsupported"),
    ]


def test_bad_inputs_raise_audio_error_naming_input_and_reason(tmp_path: Path):
    for source, name, reason in bad_inputs(tmp_path):
        with pytest.raises(AudioError) as info:
            load_audio(source)
        message = str(info.value)
        assert name in message and reason in message, message
        assert isinstance(info.value, ValueError)


def test_flac_without_its_length_in_the_header_loads(tmp_path: Path):
    """As ffmpeg writes FLAC to a pipe: the header's sample count is 0, read as unknown."""
    clip = tone(2.5, 440, rate=22_050)
    streamed, whole = flac_bytes(clip, 22_050, length_in_header=False), flac_bytes(clip, 22_050)
    assert sf.info(io.BytesIO(streamed)).frames > 2**62  # libsndfile reports the length as unknown
    assert audio_seconds(streamed) is None and audio_seconds(whole) == 2.5
    path = tmp_path / "piped.flac"
    path.write_bytes(streamed)
    for source in (streamed, path):
        np.testing.assert_array_equal(load_audio(source), load_audio(whole))


def test_too_long_audio_is_refused_from_the_header_or_while_decoding(tmp_path: Path):
    path = tmp_path / "long.flac"
    path.write_bytes(flac_bytes(np.zeros(16_000 * 20, np.float32)))
    with pytest.raises(AudioError, match=r"long.flac: the audio lasts 20.0 s; the limit is 5 s"):
        load_audio(path, max_seconds=5)
    with pytest.raises(AudioError, match="lasts over 5 s .its header does not say how long; decoding stopped there"):
        load_audio(flac_bytes(np.zeros(16_000 * 20, np.float32), length_in_header=False), max_seconds=5)
    assert len(load_audio(path, max_seconds=20)) == 16_000 * 20
