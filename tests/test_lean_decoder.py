"""The lean CPU decoding step answers as transformers' own step does: greedy and seeded samples, batched with left
padding and rows leaving at their own limits, for the Llama shape of the released LLM and Qwen2's (q/k/v biases); and
the CPU products under it (and under Whisper's logits) give F.linear's values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, Qwen2Config, Qwen2ForCausalLM

from audiollm import AudioLLM, GenerationRequest
from audiollm.conversation import user_prompt
from audiollm.generation import AnswerText, Row, decode, sampler
from audiollm.lean_decoder import LeanLlama
from audiollm.llm import byte_tokenizer

from .conftest import TINY_CONFIG, tone


@pytest.fixture(scope="module")
def placed() -> AudioLLM:
    """The tiny random model as inference loads one: LoRA merged, placed on the CPU."""
    model = AudioLLM.from_config(TINY_CONFIG)
    model._merge_lora_in_place()
    return model._place("cpu", None)


def test_the_lean_step_gives_transformers_answers_to_a_mixed_batch(placed: AudioLLM) -> None:
    rows = [(0.4, 300, "Hi", 5, 0.0), (2.7, 900, "What do you hear in this long clip?", 24, 0.0),
            (1.1, 500, "Describe it.", 11, 0.9), (0.2, 1500, "?", 17, 1.3)]
    requests = [GenerationRequest(user_prompt(tone(seconds, freq), prompt), max_new_tokens=limit,
                                  temperature=temperature, seed=7)
                for seconds, freq, prompt, limit, temperature in rows]
    assert placed._lean_step() is not None, "an inference model on the CPU should decode through the lean step"
    lean = placed.generate_batch(requests)
    steps, placed.lean = placed.lean, None
    try:
        reference = placed.generate_batch(requests)
    finally:
        placed.lean = steps
    assert lean == reference
    assert len({a.completion_tokens for a in lean}) > 1, "the rows should leave the batch at different steps"
    assert all(a.completion_tokens > 1 for a in lean), lean


def _greedy(llm: PreTrainedModel, prompts: list[list[int]], limit: int, lean: LeanLlama | None) -> list[list[int]]:
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    tokenizer = byte_tokenizer()
    rows = [Row(limit - 7 * i, 0.0, 1.0, sampler(None, torch.device("cpu")), AnswerText(tokenizer, ()), len(p), 0)
            for i, p in enumerate(prompts)]
    with torch.no_grad():
        list(decode(llm, -1, llm.get_input_embeddings()(ids), attention, rows, lean=lean))
    return [row.text.ids for row in rows]


@pytest.mark.parametrize("shape", ["llama, one query per key head, untied head", "qwen2, q/k/v biases"])
def test_the_lean_step_follows_each_llm_shape_token_for_token(shape: str) -> None:
    common = dict(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2, max_position_embeddings=256,
                  initializer_range=0.3)
    torch.manual_seed(0)
    if shape.startswith("llama"):
        llm: PreTrainedModel = LlamaForCausalLM(LlamaConfig(**common, num_attention_heads=4, num_key_value_heads=4,
                                                            tie_word_embeddings=False, rope_theta=500.0))
    else:
        llm = Qwen2ForCausalLM(Qwen2Config(**common, num_attention_heads=6, num_key_value_heads=2))
        with torch.no_grad():  # transformers starts biases at zero; make them count
            for layer in llm.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.5)
    llm.eval()
    lean = LeanLlama.of(llm)
    assert lean is not None
    prompts = [[5, 17, 250, 3, 99, 42, 7], [11, 12], [200, 201, 202, 203]]
    got = _greedy(llm, prompts, 20, lean)
    assert got == _greedy(llm, prompts, 20, None)
    assert len(set(map(len, got))) > 1, "the rows should leave the batch at different steps"


def test_a_model_kept_for_training_decodes_through_transformers(tmp_path: Path) -> None:
    model = AudioLLM.from_config(TINY_CONFIG)
    model.save_pretrained(tmp_path)
    kept = AudioLLM.from_pretrained(tmp_path, merge_lora=False, device="cpu")
    assert kept._lean_step() is None, "LoRA kept apart (peft) is not what the lean step reads"
    merged = AudioLLM.from_pretrained(tmp_path, device="cpu")
    assert merged._lean_step() is not None
    request = GenerationRequest(user_prompt(tone(0.5), "Hi"), max_new_tokens=6)
    assert kept.generate_batch([request])[0].text == merged.generate_batch([request])[0].text


def test_cpu_products_give_f_linear_values_in_float32_and_its_own_result_otherwise() -> None:
    from audiollm.cpu_products import linear

    torch.manual_seed(0)
    x, weight, bias = torch.randn(3, 96), torch.randn(200, 96), torch.randn(200)
    torch.testing.assert_close(linear(x, weight, bias), torch.nn.functional.linear(x, weight, bias))
    torch.testing.assert_close(linear(x[:1], weight), x[:1] @ weight.T)
    half = weight.bfloat16()
    assert torch.equal(linear(x.bfloat16(), half), torch.nn.functional.linear(x.bfloat16(), half))
