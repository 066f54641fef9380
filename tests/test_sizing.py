"""The big-base model configs: each is built on the meta device with the published shapes of its bases, and the
parameter counts, audio rate and memory its header quotes are what that build gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audiollm import AudioLLMConfig
from audiollm.sizing import LLMS, WHISPER_ENCODERS, count, file_header, header, memory

from .conftest import ROOT

BIG_CONFIGS = sorted((ROOT / "configs" / "models").glob("whisper-*.yaml"))
# Totals from each model card (an independent check on the architecture table).
PUBLISHED_LLM_PARAMS = {
    "Qwen/Qwen2.5-0.5B-Instruct": 0.49e9,
    "Qwen/Qwen2.5-1.5B-Instruct": 1.54e9,
    "Qwen/Qwen2.5-7B-Instruct": 7.61e9,
    "meta-llama/Llama-3.1-8B-Instruct": 8.03e9,
}
# Whisper's whole-model totals minus its decoder are not published; the encoder halves as the papers give them.
PUBLISHED_ENCODER_PARAMS = {"openai/whisper-small": 88e6, "openai/whisper-medium": 307e6,
                            "openai/whisper-large-v3": 635e6, "openai/whisper-large-v3-turbo": 635e6}


def test_every_named_base_has_a_config():
    named = {(c.encoder.name, c.llm.name) for c in map(AudioLLMConfig.from_yaml, BIG_CONFIGS)}
    assert {e for e, _ in named} == set(WHISPER_ENCODERS)
    assert {m for _, m in named} == set(LLMS)


@pytest.mark.parametrize("path", BIG_CONFIGS, ids=lambda p: p.stem)
def test_header_quotes_what_the_meta_build_counts(path: Path):
    cfg = AudioLLMConfig.from_yaml(path)
    assert cfg.encoder.n_mels == WHISPER_ENCODERS[cfg.encoder.name]["num_mel_bins"], "mel bins do not fit the encoder"
    sizes = count(cfg)
    quoted = file_header(path)
    assert quoted == header(cfg), f"{path.name}: header is stale; run python -m audiollm.sizing --write {path}"
    numbers = dict(re.findall(r"(encoder|projector|LLM|LoRA) ([\d,.]+) M", quoted))
    for part, built in [("encoder", sizes.encoder), ("projector", sizes.projector), ("LLM", sizes.llm),
                        ("LoRA", sizes.lora)]:
        assert abs(float(numbers[part].replace(",", "")) * 1e6 - built) < 0.05e6 + 1, part
    assert sizes.llm == pytest.approx(PUBLISHED_LLM_PARAMS[cfg.llm.name], rel=0.01)
    assert sizes.encoder == pytest.approx(PUBLISHED_ENCODER_PARAMS[cfg.encoder.name], rel=0.01)
    # LoRA r on q,k,v,o,gate,up,down: r x (in + out) for each of the seven in every layer.
    d = LLMS[cfg.llm.name]
    kv = d["num_key_value_heads"] * d["hidden_size"] // d["num_attention_heads"]
    h, i = d["hidden_size"], d["intermediate_size"]
    per_layer = cfg.lora.r * (2 * (h + h) + 2 * (h + kv) + 2 * (h + i) + (i + h))
    assert sizes.lora == per_layer * d["num_hidden_layers"]


def test_memory_orders_as_a_gpu_user_expects():
    """4-bit below half of bf16, QLoRA below LoRA, ZeRO-3 below ZeRO-2 below one GPU; the 7B model's LoRA fits a
    24 GB card."""
    cfg = AudioLLMConfig.from_yaml(ROOT / "configs" / "models" / "whisper-large-v3-turbo_qwen2.5-7b.yaml")
    mem = memory(cfg, count(cfg))
    assert mem["4bit"] < mem["bf16"] / 2
    assert mem["qlora"] < mem["lora"] and mem["zero3"] < mem["zero2"] < mem["lora"]
    assert 15 < mem["bf16"] < 17  # 8.25 B parameters at 2 bytes is 15.4 GiB before the KV cache
    assert mem["lora"] < 22.3  # 24 GB is 22.35 GiB


def test_a_base_not_in_the_table_is_named():
    cfg = AudioLLMConfig.from_yaml(BIG_CONFIGS[0], ["llm.name=someone/unknown-7b"])
    with pytest.raises(ValueError, match="someone/unknown-7b.*known: Qwen"):
        count(cfg)
