"""One GPU check, one part per call (bench/gpu_check.sh runs them in turn, each in a fresh process):

    python bench/gpu_check.py train --shapes large [--checkpointing] [--batch 4] [--seconds 10] [--steps 6]
    python bench/gpu_check.py infer --shapes large [--seconds 5] [--tokens 32]

``train``: training samples/s, peak memory and MFU of a Whisper-large-v3-shaped encoder + a 7B Llama-shaped LLM with
LoRA (random weights, no download), the projector and LoRA trained, under DeepSpeed ZeRO-2 on one device (bf16 on
CUDA). MFU counts the model's own FLOPs per step (frozen encoder forward, 2 per parameter per frame; LLM forward and
backward through its activations, 4 per parameter per token; recomputation under checkpointing not counted) over
``--peak-tflops`` (read from the GPU's name when known).

``infer``: time to first token (a clip of ``--seconds`` through encoder, projector and prefill) and decode tokens/s
of the same shapes, LoRA merged, in bf16 on CUDA (the model config's dtype on a CPU).

``--shapes tiny`` runs the same code on the tiny shapes, so the script is tested where there is no GPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from latency import ours  # noqa: E402  (bench/ is a folder of scripts, not a package)

# Whisper encoder (d_model, layers, heads, ffn, mel bins) and Llama (hidden, layers, heads, kv heads, intermediate).
SHAPES = {
    "large": ((1280, 32, 20, 5120, 128), (4096, 32, 32, 32, 11008)),
    "tiny": ((64, 2, 2, 128, 80), (64, 2, 4, 2, 128)),
}
# Dense bf16 tensor-core peaks in TFLOP/s, by a word in the GPU's name.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "4090": 165.0, "L4": 121.0}
PROMPT = "Transcribe the speech."
ANSWER = "the quick brown fox jumps over the lazy dog near the river bank"


def model_config(shapes: str, checkpointing: bool):
    from audiollm.config import AudioLLMConfig

    (d, el, eh, ef, mels), (h, ll, lh, kv, inter) = SHAPES[shapes]
    return AudioLLMConfig.from_dict({
        "encoder": {"name": None, "n_mels": mels, "random": {"d_model": d, "layers": el, "heads": eh, "ffn_dim": ef}},
        "projector": {"type": "mlp", "stack": 4, "hidden_size": 4096 if shapes == "large" else 128},
        "llm": {"name": None, "dtype": "bfloat16" if torch.cuda.is_available() else "float32",
                "random": {"hidden_size": h, "layers": ll, "heads": lh, "kv_heads": kv, "intermediate_size": inter}},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "gradient_checkpointing": checkpointing,
    })


def clip(seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def peak_memory_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def peak_tflops(given: float | None) -> float | None:
    if given is not None:
        return given
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for word, peak in PEAK_TFLOPS.items() if word in name), None)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train(args: argparse.Namespace) -> None:
    from audiollm.model import AudioLLM
    from audiollm.training.config import TrainConfig
    from audiollm.training.deepspeed_backend import DeepSpeedBackend

    started = time.perf_counter()
    model = AudioLLM.from_config(model_config(args.shapes, args.checkpointing))
    built = time.perf_counter() - started
    cfg = TrainConfig(mode="projector_lora", micro_batch_size=args.batch, max_steps=args.steps + 2,
                      precision="bf16" if torch.cuda.is_available() else "fp32",
                      gradient_checkpointing=args.checkpointing, deepspeed=str(ROOT / "configs/deepspeed/zero2.json"))
    backend = DeepSpeedBackend(model, cfg)
    conversations = [model.processor.conversation([
        {"role": "user", "content": [{"type": "audio", "audio": clip(args.seconds, i)}, {"type": "text", "text": PROMPT}]},
        {"role": "assistant", "content": ANSWER}]) for i in range(args.batch)]
    batch = model.processor(conversations, add_generation_prompt=False, padding_side="right")
    inputs = {"input_ids": batch.input_ids.to(backend.device), "attention_mask": batch.attention_mask.to(backend.device),
              "labels": batch.labels.to(backend.device), "audio_clips": batch.clips}
    times = []
    for step in range(args.steps + 2):
        sync()
        start = time.perf_counter()
        loss = backend.forward(**inputs).loss
        backend.micro_step(loss, True)
        sync()
        if step >= 2:  # two warm-up steps: allocator, kernels
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    llm_params = sum(p.numel() for n, p in model.llm.named_parameters() if "lora_" not in n)
    encoder_params = sum(p.numel() for p in model.encoder.whisper.parameters())
    frames = sum(model.encoder.encode(model.processor.features(c)).shape[0] for c in batch.clips)
    flops = 2 * encoder_params * frames + 4 * llm_params * int(batch.attention_mask.sum())
    peak = peak_tflops(args.peak_tflops)
    mfu = f"{100 * flops / step_s / (peak * 1e12):.1f} %" if peak else "n/a (no --peak-tflops)"
    print(f"train  shapes={args.shapes} zero=2 checkpointing={'on' if args.checkpointing else 'off'} "
          f"batch={args.batch} clip={args.seconds:g}s  encoder {encoder_params / 1e9:.2f}B + LLM {llm_params / 1e9:.2f}B "
          f"params (built in {built:.0f} s)", flush=True)
    print(f"       {args.batch / step_s:.2f} samples/s ({step_s:.3f} s/step, median of {len(times)})   "
          f"peak memory {peak_memory_gb():.1f} GiB   MFU {mfu}   loss {loss.item():.3f}", flush=True)
    backend.close()


def infer(args: argparse.Namespace) -> None:
    from audiollm.model import AudioLLM

    started = time.perf_counter()
    model = AudioLLM.from_config(model_config(args.shapes, False))
    model._merge_lora_in_place()
    model._place("auto", "auto").eval()
    built = time.perf_counter() - started
    audio = clip(args.seconds, 0)
    ttfts = []
    for _ in range(3):
        sync()
        start = time.perf_counter()
        next(iter(model.stream(audio=audio, prompt=PROMPT, max_new_tokens=1)), None)
        sync()
        ttfts.append(time.perf_counter() - start)
    ids = model.tokenizer.encode(PROMPT, add_special_tokens=False)
    rates = [ours(model.llm, model._lean_step(), model.tokenizer, ids, args.tokens)[0] for _ in range(3)]
    dtype = next(model.llm.parameters()).dtype
    print(f"infer  shapes={args.shapes} {dtype} on {next(model.llm.parameters()).device} (built in {built:.0f} s)   "
          f"first token {1000 * statistics.median(ttfts[1:]):.0f} ms ({args.seconds:g} s clip)   "
          f"decode {statistics.median(rates[1:]):.1f} tokens/s   peak memory {peak_memory_gb():.1f} GiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("part", choices=["train", "infer"])
    parser.add_argument("--shapes", choices=sorted(SHAPES), default="large")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing in the LLM")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps (after 2 warm-up steps)")
    parser.add_argument("--tokens", type=int, default=32, help="tokens decoded per timed answer")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOP/s, for MFU")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    train(args) if args.part == "train" else infer(args)


if __name__ == "__main__":
    main()
