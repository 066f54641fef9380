"""A model's text-only answers beside its LLM's own (LoRA off) on the prompts of ``tests/data/text_prompts.json``:

    python bench/text_skills.py [--model default] [--prompts tests/data/text_prompts.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.eval.text_skills import answers, judged_right, load_prompts, text_llm_alone
from audiollm.model import load_model

PROMPTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "text_prompts.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--model", default="default")
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    args = parser.parse_args()
    prompts = load_prompts(args.prompts)
    model = load_model(args.model, merge_lora=False)  # its LoRA is switched off for the LLM's own answers
    ours = answers(model, prompts)
    with text_llm_alone(model):
        own = answers(model, prompts)
    print(f"| prompt | {args.model} | LLM alone |\n|---|---|---|")
    for item, a, b in zip(prompts, ours, own):
        mark = lambda text: ("ok " if judged_right(text, item) else "-- ") + text.replace("\n", " ")[:60]
        print(f"| {item.prompt} | {mark(a)} | {mark(b)} |")
    right = [sum(judged_right(t, item) for t, item in zip(texts, prompts)) for texts in (ours, own)]
    print(f"\nright: {args.model} {right[0]}/{len(prompts)}, its LLM alone {right[1]}/{len(prompts)}")


if __name__ == "__main__":
    main()
