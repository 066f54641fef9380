"""Shared fixtures: the tiny random model (no downloads) and synthetic audio clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiollm import AudioLLMConfig

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "configs" / "models" / "tiny.yaml"


def tone(seconds: float, freq: float = 440.0, rate: int = 16_000, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone with a little noise, as float32."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(freq * 1000 + seconds * 10))
    return (amplitude * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def tiny_config() -> AudioLLMConfig:
    return AudioLLMConfig.from_yaml(TINY_CONFIG)


@pytest.fixture
def tiny_model(tiny_config: AudioLLMConfig):
    from audiollm import AudioLLM

    return AudioLLM.from_config(tiny_config)


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained for 60 steps to give known answers to test_model's PAIRS."""
    from audiollm import AudioLLM

    from .test_model import tiny, train

    model = AudioLLM.from_config(tiny("mlp"))
    train(model, 60)
    return model


@pytest.fixture
def wav_file(tmp_path: Path):
    """Write a tone to a wav file and return its path: ``wav_file(seconds, freq=..., rate=...)``."""

    def write(seconds: float, freq: float = 440.0, rate: int = 16_000, name: str | None = None) -> Path:
        path = tmp_path / (name or f"tone-{freq:g}-{seconds:g}s-{rate}.wav")
        sf.write(path, tone(seconds, freq, rate), rate)
        return path

    return write
