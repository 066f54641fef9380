"""Build the causal LLM and its tokenizer: pretrained (optionally 4-bit) or tiny and random for tests."""

from __future__ import annotations

import hashlib
import json
import dataclasses
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from .cache import atomic_directory, cache_root
from .config import LLMConfig, QuantizationConfig, RandomLLMConfig

# ChatML, the template SmolLM2 and Qwen use; the tiny tokenizer gets it so tests exercise a real template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (256 byte tokens, no merges) with ChatML special tokens: needs no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def random_llm_dir(cfg: RandomLLMConfig) -> Path:
    """A cached directory holding the random Llama of ``cfg`` and its tokenizer, identical on every build."""
    key = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest()[:16]
    final = cache_root() / "random-llm" / key
    if final.is_dir():
        return final
    tokenizer = byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        initializer_range=cfg.init_std,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = LlamaForCausalLM(config)
    with atomic_directory(final) as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
    return final


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_llm(cfg: LLMConfig, quant: QuantizationConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the LLM named by ``cfg`` (4-bit NF4 when ``quant.load_in_4bit``) and its tokenizer."""
    if cfg.random is not None:
        path = random_llm_dir(cfg.random)
    else:
        from .weights import resolve_model

        path = resolve_model(cfg.name or "", kind="llm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.chat_template is None:
        raise ValueError(f"LLM {cfg.name or path}: its tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, object] = {"dtype": DTYPES[cfg.dtype]}
    if quant.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant.quant_type,
            bnb_4bit_use_double_quant=quant.double_quant,
            bnb_4bit_compute_dtype=DTYPES[quant.compute_dtype],
        )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model, tokenizer
