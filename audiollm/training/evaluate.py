"""Periodic dev evaluation during training: each task's headline metric (WER for ASR, accuracy otherwise); in the
align mode, the WER of what the projector alone writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch

from ..data.dataset import Row
from ..eval.metrics import Tally, aggregate, task_metrics, word_errors
from ..eval.runner import answer_rows, check_rows
from ..model import AudioLLM


def evaluate_rows(model: AudioLLM, rows: list[Row], batch_size: int, max_new_tokens: int) -> dict[str, float]:
    """``{"dev/<task>/<metric>": score}`` over rows the model can read (unusable rows are left out and counted),
    answered and scored as ``audiollm eval`` answers them."""
    good, bad = check_rows([row.example for row in rows], progress=False)
    tallies: dict[str, list[Tally]] = defaultdict(list)
    for result in answer_rows(model, good, batch_size, max_new_tokens, progress=False):
        headline = task_metrics(result.task)[0]
        tallies[f"dev/{result.task or 'default'}/{headline}"].append(result.scores[headline])
    return _dev_scores(tallies, len(bad))


def evaluate_alignment(model: AudioLLM, rows: list[Row], encode: Callable[[list[np.ndarray]], list[torch.Tensor]]
                       ) -> dict[str, float]:
    """``{"dev/<task>/ctc_wer": WER}`` of :meth:`AudioLLM.read_alignment` over the rows with one clip."""
    kept, clips = [], []
    for row in rows:
        try:
            audios = model.processor.conversation(row.example.prompt_messages).audios
        except ValueError:
            continue
        if len(audios) == 1:
            kept.append(row.example)
            clips.append(audios[0])
    # One read-out for every clip: the vocabulary embeddings are looked up once, not per row.
    texts = model.read_alignment(encode(clips)) if clips else []
    tallies: dict[str, list[Tally]] = defaultdict(list)
    for example, text in zip(kept, texts):
        tallies[f"dev/{example.task or 'default'}/ctc_wer"].append(word_errors(text, example.answer))
    return _dev_scores(tallies, len(rows) - len(kept))


def _dev_scores(tallies: dict[str, list[Tally]], skipped: int) -> dict[str, float]:
    """Each key's pooled score (keys no row counted are left out), and how many dev rows could not be read."""
    scores = {key: score for key, group in tallies.items() if (score := aggregate(group)) is not None}
    scores["dev/skipped_rows"] = float(skipped)
    return scores
