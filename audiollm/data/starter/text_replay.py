"""Text replay: text-only rows whose answer is the base LLM's own greedy answer to the prompt.

Mixed into audio training, they teach the LoRA to leave the LLM's text-only behaviour as it was (sequence-level
self-distillation against the text LLM, the cheap form of Ultravox's knowledge distillation). The prompts come
from :mod:`.replay_prompts`; each row is long-form with no audio, task ``text``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ...config import AudioLLMConfig, EncoderConfig, LLMConfig, LoRAConfig, RandomWhisperConfig
from ...conversation import user_prompt
from ...generation import GenerationRequest
from ...model import AudioLLM
from ..manifest import write_manifest
from .replay_prompts import replay_prompts

GENERATOR = "text_replay"
TASK = "text"


@dataclasses.dataclass(frozen=True)
class ReplayResult:
    path: Path
    rows: int
    unfinished: int  # prompts left out because the answer ran past max_new_tokens or repeated itself


def base_llm(name: str) -> AudioLLM:
    """The LLM ``name`` alone, without LoRA, behind the project's engine. Text-only prompts never reach the
    encoder, so a tiny random one stands in for Whisper rather than loading it."""
    config = AudioLLMConfig(encoder=EncoderConfig(name=None, random=RandomWhisperConfig()),
                            llm=LLMConfig(name=name), lora=LoRAConfig(enabled=False))
    return AudioLLM.from_config(config)


def replay_rows(model: AudioLLM, seed: int = 0, batch_size: int = 16, max_new_tokens: int = 64,
                progress: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One row per prompt the model answers to the end (greedy, ``batch_size`` prompts decoded together), and
    how many were left out for an answer that did not stop."""
    prompts = replay_prompts(seed)
    llm_name = model.config.llm.name or "random"
    rows: list[dict[str, Any]] = []
    unfinished = 0
    with tqdm(total=len(prompts), desc="text replay", unit="prompt", disable=not progress) as bar:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            requests = [GenerationRequest(user_prompt(None, prompt), max_new_tokens) for _, prompt in chunk]
            for (family, prompt), answer in zip(chunk, model.generate_batch(requests)):
                text = answer.text.strip()
                if answer.finish_reason != "stop" or not text:
                    unfinished += 1
                    continue
                rows.append({"id": f"text-{len(rows):04d}", "task": TASK,
                             "messages": [{"role": "user", "content": prompt},
                                          {"role": "assistant", "content": text}],
                             "meta": {"generator": GENERATOR, "family": family, "llm": llm_name, "seed": seed}})
            bar.update(len(chunk))
    return rows, unfinished


def build_text_replay(model: AudioLLM, out: Path, seed: int = 0, batch_size: int = 16, max_new_tokens: int = 64,
                      progress: bool = True) -> ReplayResult:
    """Write the text replay manifest to ``out``, answered by ``model`` (:func:`base_llm` for the real one)."""
    rows, unfinished = replay_rows(model, seed, batch_size, max_new_tokens, progress)
    return ReplayResult(out, write_manifest(rows, out), unfinished)
