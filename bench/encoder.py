"""Frozen-encoder cost per clip length: encoded at the clip's own length vs padded to 30 s (Whisper-base size).

    python bench/encoder.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

import numpy as np
import torch

from audiollm.audio import audio_features
from audiollm.config import EncoderConfig, RandomWhisperConfig
from audiollm.encoder import FrozenWhisperEncoder, build_whisper

# Whisper-base encoder dimensions; random weights cost the same as trained ones.
WHISPER_BASE = RandomWhisperConfig(d_model=512, layers=6, heads=8, ffn_dim=2048)


def time_encode(encoder: FrozenWhisperEncoder, samples: np.ndarray, pad_to_30s: bool, repeats: int) -> float:
    windows = audio_features(samples, pad_to_30s=pad_to_30s)
    encoder.encode(windows)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode(windows)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder = FrozenWhisperEncoder(*build_whisper(EncoderConfig(name=None, random=WHISPER_BASE)))
    rng = np.random.default_rng(0)
    print(f"Whisper-base-sized encoder, CPU, {args.threads} threads, median of {args.repeats}")
    print(f"{'clip':>6} {'own length':>12} {'padded 30 s':>12} {'speed-up':>9}")
    for seconds in (2, 5, 10, 30):
        samples = (0.1 * rng.standard_normal(seconds * 16_000)).astype(np.float32)
        own = time_encode(encoder, samples, pad_to_30s=False, repeats=args.repeats)
        padded = time_encode(encoder, samples, pad_to_30s=True, repeats=args.repeats)
        print(f"{seconds:>5}s {own * 1e3:>10.1f}ms {padded * 1e3:>10.1f}ms {padded / own:>8.1f}x")


if __name__ == "__main__":
    main()
