"""Training-step throughput and peak memory, one run, four contenders on the same batch of clips:

- audiollm without the feature cache (the frozen encoder runs every step),
- audiollm with the feature cache warm (later epochs and stages: encoder frames read from disk),
- the same in bf16 autocast (``precision: bf16``; on a CPU only where it has bf16 instructions, else float32),
- audiollm's align stage, feature cache warm (projector only, CTC against the LLM's vocabulary, no LLM layer),
- transformers' ``Qwen2AudioForConditionalGeneration`` at the same dimensions (random weights), frozen audio tower,
  LoRA on the same LLM projections and a trainable projector; it pads every clip to 30 s as Qwen2-Audio does.

A step is: load the batch's audio, build inputs, forward, backward, AdamW step. Throughput: the four step in turn
in this one process (so all see the same machine load), samples/s from each one's median step time. Peak memory:
each runs alone in a child process; on CUDA the GPU memory allocated, on CPU the peak resident memory during its
steps over the child's resident memory before the model was built (weights, optimizer state, activations).

    python bench/train.py [--size small|base] [--batch 4] [--seconds 5] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

import numpy as np
import soundfile as sf

# Whisper encoder (d_model, layers, heads, ffn) and LLM (hidden, layers, heads, kv_heads, intermediate):
# small = whisper-tiny encoder + 4 layers of SmolLM2-135M's shape; base = whisper-base + SmolLM2-135M.
SIZES = {
    "small": ((384, 4, 6, 1536), (576, 4, 9, 3, 1536)),
    "base": ((512, 6, 8, 2048), (576, 30, 9, 3, 1536)),
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPT = "Transcribe the speech."
ANSWER = "the quick brown fox jumps over the lazy dog near the river bank"


def model_config(size: str):
    from audiollm.config import AudioLLMConfig

    (d, el, eh, ef), (h, ll, lh, kv, inter) = SIZES[size]
    return AudioLLMConfig.from_dict({
        "encoder": {"name": None, "random": {"d_model": d, "layers": el, "heads": eh, "ffn_dim": ef}},
        "projector": {"type": "mlp", "stack": 4, "hidden_size": 2048},
        "llm": {"name": None, "random": {"hidden_size": h, "layers": ll, "heads": lh, "kv_heads": kv,
                                         "intermediate_size": inter}},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": LORA_TARGETS},
    })


def write_clips(root: Path, batch: int, seconds: float) -> Path:
    rows = []
    rng = np.random.default_rng(0)
    for i in range(batch):
        t = np.arange(int(seconds * 16_000)) / 16_000
        clip = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(root / f"clip{i}.wav", clip.astype(np.float32), 16_000)
        rows.append({"audio": f"clip{i}.wav", "prompt": PROMPT, "answer": ANSWER, "task": "asr"})
    manifest = root / "bench.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


class PeakMemory:
    """Peak GPU memory allocated, or on CPU the peak resident memory during the measured steps (sampled every 20 ms)
    over the child's resident memory before the model was built: weights, optimizer state and activations,
    without the transient copies of model construction."""

    def __init__(self) -> None:
        import psutil
        import torch

        self.cuda = torch.cuda.is_available()
        self.process = psutil.Process()
        self.base = self.process.memory_info().rss
        self.peak = self.base
        self.running = True
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def start(self) -> None:
        if not self.cuda:
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> int:
        import torch

        self.running = False
        return torch.cuda.max_memory_allocated() if self.cuda else self.peak - self.base


def audiollm_step(size: str, manifest: str, cached: bool, align: bool = False,
                  precision: str = "fp32") -> tuple[Callable[[], int], int]:
    import torch

    from audiollm.data.collate import collate
    from audiollm.data.dataset import ManifestDataset, read_rows
    from audiollm.training.feature_cache import CachedEncoder, FeatureCache, encoder_identity
    from audiollm.model import AudioLLM
    from audiollm.training.backend import Backend
    from audiollm.training.config import TrainConfig
    from audiollm.training.trainer import forward_batch

    torch.manual_seed(0)
    config = model_config(size)
    config.lora.enabled = not align
    model = AudioLLM.from_config(config)
    backend = Backend(model, TrainConfig(micro_batch_size=4, precision=precision))
    rows = read_rows([manifest])
    dataset = ManifestDataset(rows, model.processor, 30.0, 1e-4)
    cache = FeatureCache(Path(manifest).parent / "features", encoder_identity(model)) if cached else None
    encode = CachedEncoder(model, cache)

    def step() -> int:
        samples = [s for i in range(len(dataset)) if (s := dataset[i]) is not None]
        batch = collate(samples, model.processor)
        encoded = encode(batch.clips)
        output = forward_batch(backend, model.processor, batch, encoded, align)
        backend.micro_step(output.loss, boundary=True)
        # What the step ran over: audio tokens alone when aligning, the whole padded sequence otherwise.
        return max(model.projector.output_length(len(f)) for f in encoded) if align else batch.tokens.input_ids.shape[1]

    return step, len(dataset)


def qwen2audio_step(size: str, manifest: str) -> tuple[Callable[[], int], int]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2AudioConfig, Qwen2AudioEncoderConfig, Qwen2AudioForConditionalGeneration, Qwen2Config

    from audiollm.audio import load_audio, log_mel
    from audiollm.data.dataset import read_rows
    from audiollm.llm import byte_tokenizer
    from audiollm.processor import IGNORE_INDEX

    torch.manual_seed(0)
    (d, el, eh, ef), (h, ll, lh, kv, inter) = SIZES[size]
    tokenizer = byte_tokenizer()
    vocab = len(tokenizer) + 1
    audio_id = vocab - 1
    config = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(num_mel_bins=80, d_model=d, encoder_layers=el, encoder_attention_heads=eh,
                                             encoder_ffn_dim=ef),
        text_config=Qwen2Config(vocab_size=vocab, hidden_size=h, num_hidden_layers=ll, num_attention_heads=lh,
                                num_key_value_heads=kv, intermediate_size=inter),
        audio_token_index=audio_id,
    )
    model = Qwen2AudioForConditionalGeneration(config)
    model.requires_grad_(False)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules=rf".*language_model.*\.({'|'.join(LORA_TARGETS)})"))
    model.base_model.model.model.multi_modal_projector.requires_grad_(True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    rows = read_rows([manifest])

    def step() -> int:
        ids_rows, mels, lengths = [], [], []
        for row in rows:
            clip = load_audio(row.example.audio[0])
            mel = log_mel(clip, 80, pad_to_30s=True)  # Qwen2-Audio's feature extractor pads to 30 s
            frames = min(len(clip) // 160, 3000)
            tokens = ((frames - 1) // 2 + 1 - 2) // 2 + 1  # its pooling: 25 audio tokens per second
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False,
                                                   add_generation_prompt=True)
            prefix = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            answer = tokenizer(ANSWER + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
            ids_rows.append(([audio_id] * tokens + prefix + answer, len(prefix) + tokens))
            mels.append(mel)
            lengths.append(frames)
        width = max(len(ids) for ids, _ in ids_rows)
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        labels = torch.full((len(rows), width), IGNORE_INDEX)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (ids, prompt_len) in enumerate(ids_rows):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            labels[r, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
            attention[r, : len(ids)] = 1
        feature_mask = torch.zeros((len(rows), 3000), dtype=torch.long)
        for r, frames in enumerate(lengths):
            feature_mask[r, :frames] = 1
        output = model(input_ids=input_ids, input_features=torch.stack(mels), attention_mask=attention,
                       feature_attention_mask=feature_mask, labels=labels)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return width

    return step, len(rows)


QWEN = "transformers Qwen2Audio"
# Each audiollm contender's settings for audiollm_step; the printed table follows this order.
AUDIOLLM: dict[str, dict[str, Any]] = {
    "audiollm, no feature cache": {"cached": False},
    "audiollm, feature cache": {"cached": True},
    "audiollm align stage, cache": {"cached": True, "align": True},
    "audiollm, feature cache, bf16": {"cached": True, "precision": "bf16"},
}
CONTENDERS = (*list(AUDIOLLM)[:2], QWEN, *list(AUDIOLLM)[2:])


def build(name: str, size: str, manifest: str) -> tuple[Callable[[], int], int]:
    """The contender's training step and its batch size; one warm-up step run (it fills the feature cache)."""
    if name == QWEN:
        step, batch = qwen2audio_step(size, manifest)
    else:
        step, batch = audiollm_step(size, manifest, **AUDIOLLM[name])
    step()
    return step, batch


def peak_memory(name: str, size: str, manifest: str, out: dict) -> None:
    memory = PeakMemory()
    step, _ = build(name, size, manifest)
    memory.start()
    for _ in range(2):
        step()
    out["peak_bytes"] = memory.stop()


def _child_peak(name: str, size: str, manifest: str) -> int:
    context = mp.get_context("spawn")
    with context.Manager() as manager:
        out = manager.dict()
        process = context.Process(target=peak_memory, args=(name, size, manifest, out))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"{name} failed (exit {process.exitcode})")
        return int(out["peak_bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per contender")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = str(write_clips(Path(tmp), args.batch, args.seconds))
        peaks = {name: _child_peak(name, args.size, manifest) for name in CONTENDERS}
        steps = {name: build(name, args.size, manifest) for name in CONTENDERS}
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        widths: dict[str, int] = {}
        for _ in range(args.steps):
            for name, (step, _) in steps.items():
                start = time.perf_counter()
                widths[name] = step()
                times[name].append(time.perf_counter() - start)
    results = {name: {"samples_per_s": steps[name][1] / statistics.median(times[name]), "peak_bytes": peaks[name],
                      "sequence": widths[name]} for name in CONTENDERS}
    print(f"size={args.size} batch={args.batch} clips={args.seconds:g}s steps={args.steps}")
    print(f"{'contender':30} {'samples/s':>10} {'peak MiB':>10} {'seq len':>8}")
    for name, r in results.items():
        print(f"{name:30} {r['samples_per_s']:10.2f} {r['peak_bytes'] / 2**20:10.1f} {r['sequence']:8d}")
    base, cached, qwen, align, bf16 = results.values()
    print(f"feature cache vs none:    {cached['samples_per_s'] / base['samples_per_s']:.2f}x samples/s, "
          f"{cached['peak_bytes'] / base['peak_bytes']:.2f}x peak memory")
    print(f"audiollm (cache) vs Qwen2Audio: {cached['samples_per_s'] / qwen['samples_per_s']:.2f}x samples/s, "
          f"{cached['peak_bytes'] / qwen['peak_bytes']:.2f}x peak memory")
    print(f"audiollm (no cache) vs Qwen2Audio: {base['samples_per_s'] / qwen['samples_per_s']:.2f}x samples/s, "
          f"{base['peak_bytes'] / qwen['peak_bytes']:.2f}x peak memory")
    print(f"align stage vs language-model stage (both cached): {align['samples_per_s'] / cached['samples_per_s']:.2f}x "
          f"samples/s, {align['peak_bytes'] / cached['peak_bytes']:.2f}x peak memory")
    print(f"bf16 vs fp32 (both cached): {bf16['samples_per_s'] / cached['samples_per_s']:.2f}x samples/s, "
          f"{bf16['peak_bytes'] / cached['peak_bytes']:.2f}x peak memory")


if __name__ == "__main__":
    main()
