"""Text-only skills: the judge of the 30 prompts, and the released model held against its LLM alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiollm.eval.text_skills import TextPrompt, answers, judged_right, load_prompts, text_llm_alone

PROMPTS = Path(__file__).resolve().parent / "data" / "text_prompts.json"


def test_the_judge_wants_the_answer_on_word_boundaries():
    four = TextPrompt("What is 2 + 2?", ["4", "four"])
    assert judged_right("The answer is 4.", four)
    assert judged_right("Four", four)
    assert not judged_right("14", four)
    assert not judged_right("8", four)
    capitals = TextPrompt("Write 'hello' in capital letters.", ["HELLO"], case=True)
    assert judged_right("HELLO!", capitals)
    assert not judged_right("Hello", capitals)


def test_thirty_prompts_of_arithmetic_facts_and_instructions():
    prompts = load_prompts(PROMPTS)
    assert len(prompts) == 30
    assert len({p.prompt for p in prompts}) == 30
    assert all(p.accept for p in prompts)


def test_the_llm_alone_is_the_same_model_without_its_lora(tiny_model):
    prompts = load_prompts(PROMPTS)[:2]
    with text_llm_alone(tiny_model):
        alone = answers(tiny_model, prompts, max_new_tokens=4)
    assert alone == answers(tiny_model, prompts, max_new_tokens=4)  # a fresh LoRA changes nothing yet
    for module in tiny_model.llm.modules():
        if hasattr(module, "lora_B"):
            for weight in module.lora_B.values():
                weight.weight.data.normal_(0, 0.5)
    with text_llm_alone(tiny_model):
        assert answers(tiny_model, prompts, max_new_tokens=4) == alone
    assert answers(tiny_model, prompts, max_new_tokens=4) != alone
    tiny_model.lora_merged = True  # as from_pretrained leaves it: nothing left to switch off
    with pytest.raises(ValueError, match="merge_lora=False"), text_llm_alone(tiny_model):
        pass


@pytest.mark.weights
def test_the_released_model_keeps_its_llms_text_skills():
    from audiollm import AudioLLM

    prompts = load_prompts(PROMPTS)
    model = AudioLLM.from_pretrained("default", merge_lora=False)
    ours = sum(judged_right(a, p) for a, p in zip(answers(model, prompts), prompts))
    with text_llm_alone(model):
        own = sum(judged_right(a, p) for a, p in zip(answers(model, prompts), prompts))
    assert ours >= own, f"right on {ours} of {len(prompts)} text prompts; the LLM alone on {own}"
