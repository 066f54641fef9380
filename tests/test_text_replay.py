"""Text replay rows: prompts disjoint from the text-skills test prompts, answered by the model, and trainable
beside audio rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from audiollm import AudioLLM
from audiollm.data.manifest import read_manifest
from audiollm.data.starter.replay_prompts import replay_prompts
from audiollm.data.starter.text_replay import build_text_replay
from audiollm.eval.metrics import task_metrics
from audiollm.training.config import load_train_config
from audiollm.training.trainer import train
from tests.conftest import ROOT
from tests.train_helpers import TINY_TRAIN, losses, overrides, write_manifest

TEST_PROMPTS = [item["prompt"] for item in json.loads((ROOT / "tests" / "data" / "text_prompts.json").read_text())]
OPERATORS = {"+": "+", "plus": "+", "sum": "+", "-": "-", "minus": "-", "times": "*", "x": "*", "multiplied": "*",
             "divided": "/", "/": "/", "half": "half", "double": "double"}


def _normal(prompt: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", prompt.lower()))


def _arithmetic(prompt: str) -> tuple[str, tuple[int, ...]] | None:
    """(operator, operands) of an arithmetic prompt, operands sorted where the order does not matter."""
    words = re.findall(r"\d+|[a-z]+|[+\-/]", prompt.lower())
    numbers = [int(w) for w in words if w.isdigit()]
    operator = next((OPERATORS[w] for w in words if w in OPERATORS), None)
    if operator is None or not numbers:
        return None
    return operator, tuple(sorted(numbers)) if operator in "+*" else tuple(numbers)


def test_prompts_are_deterministic_and_several_hundred():
    prompts = replay_prompts(0)
    assert prompts == replay_prompts(0) and prompts != replay_prompts(1)
    assert 400 <= len(prompts) <= 600
    assert len({p for _, p in prompts}) == len(prompts)
    assert {family for family, _ in prompts} >= {"sum", "difference", "product", "quotient", "fact", "instruction"}


def test_no_prompt_is_a_test_prompt_or_asks_its_arithmetic():
    held_out = {_normal(p) for p in TEST_PROMPTS}
    held_out_sums = {_arithmetic(p) for p in TEST_PROMPTS} - {None}
    assert ("+", (2, 2)) in held_out_sums and ("half", (50,)) in held_out_sums  # the parser reads the test's
    for seed in (0, 1, 2):
        prompts = [p for _, p in replay_prompts(seed)]
        assert not held_out & {_normal(p) for p in prompts}
        assert not held_out_sums & {_arithmetic(p) for p in prompts}
        assert sum(_arithmetic(p) is not None for p in prompts) > 200
    capitals = {m for p in TEST_PROMPTS for m in re.findall(r"capital of (\w+)", p)}
    assert capitals and not any(c in p for c in capitals for _, p in replay_prompts(0))


def test_rows_are_text_only_answered_by_the_model_and_read_back(tiny_config, tmp_path: Path):
    model = AudioLLM.from_config(tiny_config)
    result = build_text_replay(model, tmp_path / "text.jsonl", batch_size=64, max_new_tokens=12, progress=False)
    rows = read_manifest(result.path)
    assert result.rows == len(rows) and result.rows + result.unfinished == len(replay_prompts(0))
    prompts = {p for _, p in replay_prompts(0)}
    for row in rows:
        assert row.task == "text" and row.audio == [] and row.meta["generator"] == "text_replay"
        assert row.prompt_messages[0].text in prompts and row.answer.strip()
    # The answer is the model's own greedy one.
    first = rows[0]
    assert model.generate(None, first.prompt_messages[0].text, max_new_tokens=12).strip() == first.answer
    assert task_metrics("text")[0] == "rouge_l"


def test_text_only_rows_train_beside_audio_rows(tmp_path: Path):
    text_rows = [{"messages": [{"role": "user", "content": f"What is {a} plus {a}?"},
                               {"role": "assistant", "content": str(2 * a)}], "task": "text"} for a in range(11, 17)]
    manifest = write_manifest(tmp_path / "data", extra=text_rows)
    out = tmp_path / "run"
    # Batches of one: some steps see no clip at all.
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=12", "micro_batch_size=1",
                                                           f"eval.manifest={manifest}", "eval.every_steps=12")))
    curve = losses(out)
    assert result.steps == 12 and not result.skipped
    assert sum(curve[-4:]) / 4 < sum(curve[:4]) / 4 - 0.5
