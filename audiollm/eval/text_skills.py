"""Text-only prompts with the answers judged right: whether an audio model keeps its LLM's own text skills.

Each item is ``{"prompt": ..., "accept": [...], "case": false}``; an answer is right when it holds one of the
accepted answers on word boundaries (after the answer normaliser, or verbatim with ``"case": true``). The same model
with its LoRA switched off is the text LLM's own baseline, scored the same way on the same prompts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .metrics import contains_match

if TYPE_CHECKING:
    from ..model import AudioLLM


@dataclasses.dataclass(frozen=True)
class TextPrompt:
    prompt: str
    accept: list[str]
    case: bool = False


def load_prompts(path: str | Path) -> list[TextPrompt]:
    return [TextPrompt(**item) for item in json.loads(Path(path).read_text())]


def judged_right(answer: str, item: TextPrompt) -> bool:
    if item.case:
        return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", answer) for a in item.accept)
    return any(contains_match(answer, a).value == 1.0 for a in item.accept)


def answers(model: AudioLLM, prompts: Sequence[TextPrompt], max_new_tokens: int = 48) -> list[str]:
    """Greedy answers to each prompt, no audio."""
    return [str(model.generate(None, item.prompt, max_new_tokens=max_new_tokens)) for item in prompts]


@contextlib.contextmanager
def text_llm_alone(model: AudioLLM) -> Iterator[None]:
    """The model's LLM without its LoRA: the text LLM's own answers (a model without LoRA already is)."""
    disable = getattr(model.llm, "disable_adapter", None)
    with disable() if disable is not None else contextlib.nullcontext():
        yield
