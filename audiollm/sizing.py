"""Parameter counts, audio tokens per second and memory estimates of a model config, with nothing downloaded.

The encoder, projector and LLM (with LoRA) are built on the meta device (shapes, no storage) from the architecture
tables below, copied from each base's published ``config.json``; parameters are counted on what was built.
Memory follows from the counts by these rules (GiB = 2**30 bytes; activations of one training step at the
``TRAIN_*`` shape below, with gradient checkpointing; CUDA context and allocator slack not included):

- weights: 2 bytes a parameter in bf16; 4-bit (bitsandbytes NF4 with double quantisation) keeps 4.127 bits a
  parameter for the LLM's linear layers (one 8-bit absmax a 64-block, itself quantised), embeddings, output head and
  the encoder stay bf16.
- KV cache (inference): 2 (K and V) x layers x kv heads x head dim x tokens x 2 bytes.
- trainable parameters (projector + LoRA): fp32 weight, gradient and two Adam moments, 16 bytes each.
- activations: each checkpointed layer keeps its bf16 input (tokens x hidden x 2 bytes); the one layer being
  recomputed holds tokens x (7 hidden + 2 kv dim + 4 intermediate) x 2 bytes; the logits cost tokens x vocab x
  10 bytes (bf16 logits, their fp32 copy for the loss, and its gradient).
- ZeRO-2 on N GPUs (LoRA, bf16): frozen weights whole on every GPU; the trainable parameters' bf16 copy whole, their
  gradients (2 bytes) and fp32 weight and moments (12 bytes) split N ways.
- ZeRO-3 on N GPUs: every weight split N ways too, plus the largest module gathered whole at a time (the embedding
  or output head).

    python -m audiollm.sizing configs/models/*.yaml           # print each config's header
    python -m audiollm.sizing --write configs/models/*.yaml   # and rewrite it in the file
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch

from .audio import SAMPLE_RATE
from .config import AudioLLMConfig
from .projector import build_projector, num_audio_tokens
from .quiet import set_verbosity

GIB = 2**30
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # 4-bit codes, an 8-bit absmax per 64 values, an fp32 scale per 256 absmax
# The shapes the estimates are for: one 30 s clip plus a prompt and answer; inference batch 1, training micro batch 4.
CLIP_SECONDS = 30
TEXT_TOKENS = 128
TRAIN_MICRO_BATCH = 4
ZERO_GPUS = 8

# From each repository's config.json (the encoder half of Whisper).
WHISPER_ENCODERS: dict[str, dict[str, int]] = {
    "openai/whisper-small": {"d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12,
                             "encoder_ffn_dim": 3072, "num_mel_bins": 80},
    "openai/whisper-medium": {"d_model": 1024, "encoder_layers": 24, "encoder_attention_heads": 16,
                              "encoder_ffn_dim": 4096, "num_mel_bins": 80},
    "openai/whisper-large-v3": {"d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
                                "encoder_ffn_dim": 5120, "num_mel_bins": 128},
    # Turbo keeps large-v3's encoder and cuts the decoder from 32 layers to 4.
    "openai/whisper-large-v3-turbo": {"d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
                                      "encoder_ffn_dim": 5120, "num_mel_bins": 128},
}
LLMS: dict[str, dict[str, Any]] = {
    "Qwen/Qwen2.5-0.5B-Instruct": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
                                   "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                                   "vocab_size": 151936, "tie_word_embeddings": True},
    "Qwen/Qwen2.5-1.5B-Instruct": {"model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
                                   "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                                   "vocab_size": 151936, "tie_word_embeddings": True},
    "Qwen/Qwen2.5-7B-Instruct": {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
                                 "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
                                 "vocab_size": 152064, "tie_word_embeddings": False},
    "meta-llama/Llama-3.1-8B-Instruct": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
                                         "num_hidden_layers": 32, "num_attention_heads": 32,
                                         "num_key_value_heads": 8, "vocab_size": 128256,
                                         "tie_word_embeddings": False},
}


@dataclasses.dataclass
class Sizes:
    """Parameter counts of one config, and the LLM shapes the memory estimates need."""

    encoder: int
    projector: int
    llm: int
    lora: int
    llm_linear: int  # parameters in the LLM's decoder-layer linear layers: what 4-bit quantises
    largest_module: int
    dims: dict[str, Any]

    @property
    def trainable(self) -> int:
        return self.projector + self.lora

    @property
    def frozen(self) -> int:
        return self.encoder + self.llm


def architecture(cfg: AudioLLMConfig) -> tuple[dict[str, int], dict[str, Any]]:
    """The encoder and LLM dimensions of ``cfg``'s bases; a name not in the tables is an error that lists them."""
    if cfg.encoder.name not in WHISPER_ENCODERS:
        raise ValueError(f"encoder {cfg.encoder.name!r} is not in the sizing table; known: {', '.join(WHISPER_ENCODERS)}")
    if cfg.llm.name not in LLMS:
        raise ValueError(f"LLM {cfg.llm.name!r} is not in the sizing table; known: {', '.join(LLMS)}")
    return WHISPER_ENCODERS[cfg.encoder.name], LLMS[cfg.llm.name]


def count(cfg: AudioLLMConfig) -> Sizes:
    """Build ``cfg``'s encoder, projector and LLM with LoRA on the meta device and count their parameters."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    whisper_dims, llm_dims = architecture(cfg)
    with torch.device("meta"):
        encoder = WhisperEncoder(WhisperConfig(**whisper_dims, max_source_positions=1500))
        llm_config = AutoConfig.for_model(**llm_dims)
        llm = AutoModelForCausalLM.from_config(llm_config)
        projector = build_projector(cfg.projector, whisper_dims["d_model"], llm_dims["hidden_size"])
        llm_total = numel(llm)
        linear = sum(m.weight.numel() for m in llm.model.layers.modules() if isinstance(m, torch.nn.Linear))
        largest = max(llm.get_input_embeddings().weight.numel(), llm.get_output_embeddings().weight.numel())
        lora = 0
        if cfg.lora.enabled:
            peft_model = get_peft_model(llm, LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                                                        target_modules=list(cfg.lora.target_modules)))
            lora = numel(peft_model) - llm_total
    return Sizes(numel(encoder), numel(projector), llm_total, lora, linear, largest, llm_dims)


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())  # tied weights are one parameter, counted once


def audio_tokens_per_second(cfg: AudioLLMConfig) -> float:
    hour = 3600  # long enough that the rounding up of a clip's last token does not show
    return num_audio_tokens(hour * SAMPLE_RATE, cfg.encoder, cfg.projector) / hour


def memory(cfg: AudioLLMConfig, sizes: Sizes) -> dict[str, float]:
    """GiB for inference (bf16, 4-bit) and for one training step per GPU (LoRA, QLoRA, ZeRO-2, ZeRO-3)."""
    d = sizes.dims
    tokens = num_audio_tokens(CLIP_SECONDS * SAMPLE_RATE, cfg.encoder, cfg.projector) + TEXT_TOKENS
    head_dim = d["hidden_size"] // d["num_attention_heads"]
    kv_dim = d["num_key_value_heads"] * head_dim
    kv_cache = 2 * d["num_hidden_layers"] * kv_dim * tokens * 2
    bf16 = 2 * (sizes.frozen + sizes.projector)
    four_bit = bf16 - 2 * sizes.llm_linear + sizes.llm_linear * NF4_BITS / 8
    trainable = 16 * sizes.trainable
    batch_tokens = TRAIN_MICRO_BATCH * tokens
    activations = batch_tokens * 2 * (d["num_hidden_layers"] * d["hidden_size"]
                                      + 7 * d["hidden_size"] + 2 * kv_dim + 4 * d["intermediate_size"])
    activations += batch_tokens * d["vocab_size"] * 10
    n = ZERO_GPUS
    zero2 = 2 * sizes.frozen + 2 * sizes.trainable + 14 * sizes.trainable / n + activations
    zero3 = (2 * sizes.frozen + 16 * sizes.trainable) / n + 2 * sizes.largest_module + activations
    return {
        "bf16": (bf16 + kv_cache) / GIB,
        "4bit": (four_bit + kv_cache) / GIB,
        "lora": (2 * sizes.frozen + trainable + activations) / GIB,
        "qlora": (four_bit + trainable + activations) / GIB,
        "zero2": zero2 / GIB,
        "zero3": zero3 / GIB,
    }


def header(cfg: AudioLLMConfig) -> str:
    """The comment block a model config opens with: what it is, its parameters, audio rate and memory."""
    sizes = count(cfg)
    mem = memory(cfg, sizes)
    rate = audio_tokens_per_second(cfg)
    clip_tokens = num_audio_tokens(CLIP_SECONDS * SAMPLE_RATE, cfg.encoder, cfg.projector)
    encoder = cfg.encoder.name.split("/")[-1]  # type: ignore[union-attr]
    llm = cfg.llm.name.split("/")[-1]  # type: ignore[union-attr]
    lora = f"LoRA r={cfg.lora.r} on {len(cfg.lora.target_modules)} projections a layer" if cfg.lora.enabled else "no LoRA"
    return "\n".join([
        f"# {encoder} (frozen) -> {cfg.projector.type} projector -> {llm} with {lora}.",
        f"# Parameters: encoder {m(sizes.encoder)}, projector {m(sizes.projector)}, LLM {m(sizes.llm)}, "
        f"LoRA {m(sizes.lora)}; trained: {m(sizes.trainable)}",
        f"# Audio: {rate:g} tokens/s ({clip_tokens} for a {CLIP_SECONDS} s clip)",
        f"# Inference, one {CLIP_SECONDS} s clip + {TEXT_TOKENS} text tokens: bf16 {mem['bf16']:.1f} GiB, "
        f"LLM in 4-bit {mem['4bit']:.1f} GiB",
        f"# Training per GPU, micro batch {TRAIN_MICRO_BATCH} x {clip_tokens + TEXT_TOKENS} tokens, gradient checkpointing: "
        f"LoRA {mem['lora']:.1f} GiB, QLoRA {mem['qlora']:.1f} GiB,",
        f"#   ZeRO-2 on {ZERO_GPUS} GPUs {mem['zero2']:.1f} GiB, ZeRO-3 on {ZERO_GPUS} GPUs {mem['zero3']:.1f} GiB",
        "# (python -m audiollm.sizing writes these lines; audiollm/sizing.py says how they are estimated)",
    ])


def m(params: int) -> str:
    return f"{params / 1e6:,.1f} M"


def file_header(path: Path) -> str:
    """The comment lines a YAML file opens with."""
    lines = path.read_text().splitlines()
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    return "\n".join(head)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiollm.sizing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", type=Path, help="model config YAML files")
    parser.add_argument("--write", action="store_true", help="replace each file's opening comment with the header")
    args = parser.parse_args(argv)
    set_verbosity(False)
    for path in args.configs:
        text = header(AudioLLMConfig.from_yaml(path))
        print(f"{path}:\n{text}\n")
        if args.write:
            old = file_header(path)
            path.write_text(text + path.read_text()[len(old):])
    return 0


if __name__ == "__main__":
    sys.exit(main())
