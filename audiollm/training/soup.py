"""A model soup of seeds (Wortsman et al., 2022): one recipe trained once per seed of ``soup_seeds``, and the
uniform average of the runs' trained weights saved as the stage's model. A short stage's answers move by a few
points from seed to seed on a few hundred held-out rows; in the released model's stage 17 the average of two seeds
scored above either on the dev split's four-option and yes/no questions (the model card has the numbers).

Each seed's run is an ordinary run under ``<output_dir>/seed-<n>`` (its own checkpoints, metrics and loss plot,
resumed with ``--resume``); the averaged model is written to ``output_dir`` itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from ..config import AudioLLMConfig, ConfigError, is_model_config
from ..model import CONFIG_FILE, AudioLLM, load_model
from .checkpoint import checkpoints
from .config import MODE_LORA, TrainConfig
from .metrics import LOSS_PNG, METRICS_CSV, plot_metrics
from .trainer import REPORT_FILE, train


def seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def train_recipe(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train ``cfg`` (once per seed of ``cfg.soup_seeds`` and average them, when it lists any); the model's folder."""
    if not cfg.soup_seeds:
        return train(cfg, resume=resume).output_dir
    check_shared_start(cfg)
    out = Path(cfg.output_dir)
    runs = [seed_dir(out, seed) for seed in cfg.soup_seeds]
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # A launcher's rendezvous serves one process group; a second seed's run could not form its own.
        raise ConfigError(f"soup_seeds trains its seeds one after another in one process; under a launcher, train "
                          f"each seed as its own launch (soup_seeds=[] seed=N output_dir={out}/seed-N), "
                          "then `audiollm train` this config with --resume, in one process, averages them")
    for seed, run in zip(cfg.soup_seeds, runs):
        if resume and finished(run, cfg.max_steps):
            continue  # its model is saved (and a run a launcher trained could not be reloaded in one process)
        # A seed's run resumes where it has checkpoints; one not started yet starts fresh.
        train(dataclasses.replace(cfg, seed=seed, output_dir=str(run), soup_seeds=[]),
              resume=resume and bool(checkpoints(run)))
    average_runs(runs, out)
    return out


def finished(run: Path, max_steps: int) -> bool:
    """Whether ``run`` saved its model after ``max_steps`` steps."""
    report = run / REPORT_FILE
    return report.is_file() and json.loads(report.read_text())["steps"] >= max_steps


def check_shared_start(cfg: TrainConfig) -> None:
    """Refuse a soup whose seeds would not start from the same weights: an average of unrelated weights is noise."""
    if is_model_config(cfg.model):
        raise ConfigError(f"soup_seeds: every seed's run starts from {cfg.model}, a model config, so each would build "
                          "its own random projector; train a stage first and start the soup from its folder")
    saved = Path(cfg.model) / CONFIG_FILE
    if MODE_LORA[cfg.mode] and saved.is_file() and not AudioLLMConfig.from_yaml(saved).lora.enabled:
        raise ConfigError(f"soup_seeds: every seed's run starts from {cfg.model}, which has no LoRA yet, so each "
                          "would draw its own random LoRA factors; add the LoRA in a stage of its own first")


def trained_weights(model: AudioLLM) -> dict[str, torch.Tensor]:
    """What a run trains: the projector (with its layer mix) and the LoRA factors; the frozen encoder and LLM are
    the same in every run."""
    weights = {f"projector.{k}": v for k, v in model.projector.state_dict().items()}
    weights.update({f"llm.{k}": v for k, v in model.llm.state_dict().items() if "lora_" in k})
    return weights


def average_runs(runs: list[Path], out: Path) -> None:
    """Save into ``out`` the first run's model with the uniform average of every run's trained weights, and the
    runs' loss curves in one plot. The LoRA factors are averaged one by one: runs that start from one model and take
    a short stage's steps stay close enough for the average of the products to be near the product of the averages
    (the rank stays as it is)."""
    models = [load_model(run, device=None, dtype=None, merge_lora=False) for run in runs]
    first = models[0]
    if any(not _same_tagger(first, other) for other in models[1:]):
        raise ValueError(f"the runs {', '.join(map(str, runs))} fitted different sound taggers, and the LLM of each "
                         "learnt its own tagger's numbers: start the stage from a saved model with a tagger, which "
                         "every seed keeps")
    weights = [trained_weights(model) for model in models]
    mean = {name: torch.stack([w[name].float() for w in weights]).mean(0) for name in weights[0]}
    with torch.no_grad():
        for name, tensor in trained_weights(first).items():
            tensor.copy_(mean[name].to(tensor.dtype))
    first.save_pretrained(out)
    plot_metrics({run.name: run / METRICS_CSV for run in runs}, out / LOSS_PNG)


def _same_tagger(a: AudioLLM, b: AudioLLM) -> bool:
    if a.tagger is None or b.tagger is None:
        return a.tagger is b.tagger
    left, right = a.tagger.state_dict(), b.tagger.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left) \
        and a.tagger.labels == b.tagger.labels
