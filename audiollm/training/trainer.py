"""The training loop: manifests -> length-grouped batches -> cached encoder frames -> projector (+ LoRA) steps.

Everything that can be wrong with the inputs is checked before the model loads: the config, every manifest's
schema, the resume point. Rows whose audio turns out unusable while training are skipped, counted and reported.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..cache import cache_root
from ..data.augment import SpeedPerturbation
from ..data.collate import TrainBatch, collate
from ..data.dataset import ClipTags, ManifestDataset, Row, read_rows, reference_transcripts
from ..data.sampler import LengthGroupedBatches
from ..data.starter.families import row_family
from ..model import AudioLLM, load_model
from ..processor import AudioProcessor
from .backend import Backend
from .checkpoint import RankData, TrainerState, checkpoints, load_checkpoint, save_checkpoint
from .config import MODE_LORA, TrainConfig
from .deepspeed_backend import DeepSpeedBackend
from .evaluate import evaluate_alignment, evaluate_rows
from .feature_cache import (CachedEncoder, FeatureCache, TranscriptCache, encoder_identity,
                             training_transcripts, transcript_identity)
from .metrics import MetricsLogger
from .tagging import training_tags

REPORT_FILE = "train_report.json"


@dataclasses.dataclass
class TrainResult:
    output_dir: Path
    steps: int
    # Mean training loss over the last logging window and throughput; None when a resumed run found its checkpoint
    # already at max_steps and only saved that checkpoint's model.
    loss: float | None
    samples_per_second: float | None
    skipped: dict[str, str]  # "manifest:line" -> why the row was not used
    cache_hits: int
    cache_misses: int


def row_weights(rows: list[Row], tasks: dict[str, float], families: dict[str, float]) -> list[float] | None:
    """Each row's draws per epoch: its task's weight times its source family's (1 where unnamed), or None (every row
    once) when neither is set."""
    if not tasks and not families:
        return None
    return [tasks.get(r.example.task or "", 1.0) * families.get(row_family(r.example.meta) or "", 1.0) for r in rows]


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    out = Path(cfg.output_dir)
    rows = [r for r in read_rows(cfg.data.train) if not cfg.data.tasks or r.example.task in cfg.data.tasks]
    if not rows:
        raise ValueError(f"no row of {', '.join(cfg.data.train)} has a task in data.tasks {cfg.data.tasks}")
    unknown = sorted(set(cfg.data.task_weights) - {r.example.task for r in rows})
    if unknown:
        raise ValueError(f"data.task_weights names task(s) {', '.join(unknown)} that no training row has")
    unknown = sorted(set(cfg.data.family_weights) - {row_family(r.example.meta) for r in rows})
    if unknown:
        raise ValueError(f"data.family_weights names {', '.join(unknown)}: no training row is of that source family")
    dev_rows = read_rows([cfg.eval.manifest]) if cfg.eval.manifest else []
    if cfg.mode == "align" and cfg.data.tasks:  # the read-out is a transcript: score it on transcription rows
        dev_rows = [r for r in dev_rows if r.example.task in cfg.data.tasks]
    dev_rows = dev_rows[: cfg.eval.max_rows]
    existing = checkpoints(out)
    if resume and not existing:
        raise FileNotFoundError(f"{out}: no checkpoint to resume from")
    if not resume and existing:
        raise ValueError(f"{out} already holds checkpoints (newest {existing[-1].name}); "
                         "pass --resume to continue that run, or choose another output_dir")

    torch.manual_seed(cfg.seed)
    # The backend places the model; LoRA stays separate, to be trained.
    model = load_model(cfg.model, cfg.model_config_overrides(), device=None, dtype=None, merge_lora=False)
    if cfg.data.audio_swap and not model.config.encoder.tags:
        raise ValueError("data.audio_swap leaves the tags to answer swapped rows, but the model shows none: set "
                         "encoder.tags (model_overrides)")
    if not MODE_LORA[cfg.mode]:
        model.llm.requires_grad_(False)  # only the projector learns; a saved model's LoRA applies unchanged
    backend = build_backend(model, cfg)
    main = backend.rank == 0
    try:
        state, data = load_checkpoint(existing[-1], backend) if resume else (TrainerState(), RankData())
        if resume and main:
            print(f"resuming from {existing[-1]} (step {state.step}, epoch {state.epoch})", flush=True)
        if main:
            out.mkdir(parents=True, exist_ok=True)
        perturb = (SpeedPerturbation(cfg.data.speed_factors, cfg.data.speed_tasks, cfg.seed + backend.rank)
                   if cfg.data.speed_tasks else None)
        dataset = ManifestDataset(rows, model.processor, cfg.data.max_audio_seconds, cfg.data.silence_peak, perturb,
                                  transcript_dropout=cfg.data.transcript_dropout, seed=cfg.seed + backend.rank,
                                  tag_dropout=cfg.data.tag_dropout, audio_swap=cfg.data.audio_swap,
                                  swap_tasks=cfg.data.audio_swap_tasks)
        dataset.skipped.update(state.skipped)
        if data.rng is not None:
            dataset.set_rng_state(data.rng)
        if cfg.mode == "align":
            # CTC aligns one clip with one transcript; other rows are reported, not guessed at.
            dataset.skipped.update({r.where: f"align mode needs one clip per row, this row has "
                                    f"{len(r.example.audio)}" for r in rows if len(r.example.audio) != 1})
        weights = row_weights(rows, cfg.data.task_weights, cfg.data.family_weights)
        batches = LengthGroupedBatches(dataset.lengths(), cfg.micro_batch_size, cfg.seed, backend.rank,
                                       backend.world_size, weights)
        cache = None
        transcript_cache = None
        root = Path(cfg.data.cache_dir) if cfg.data.cache_dir else cache_root() / "features"
        if cfg.data.feature_cache:
            with backend.gather_encoder():  # the identity fingerprints full weights, not a ZeRO-3 shard
                cache = FeatureCache(root, encoder_identity(model))
                transcript_cache = TranscriptCache(root, transcript_identity(model))
        if model.config.encoder.transcript == "whisper":
            dataset.transcripts = (reference_transcripts(rows) if cfg.data.transcript_source == "reference" else
                                   training_transcripts(model, dataset.audio_paths(), transcript_cache,
                                                        backend.gather_encoder))
        encode = CachedEncoder(model, cache, backend.gather_encoder)
        if model.config.encoder.tags:
            dataset.tags = ClipTags(training_tags(model, rows, encode, cfg.data, cfg.seed, progress=main),
                                    model.tag_lines)
        logger = MetricsLogger(out, main)
        loss: float | None = None
        rate: float | None = None
        if state.step < cfg.max_steps:
            loop = Loop(cfg, backend, model.processor, dataset, batches, encode, logger, state, dev_rows, out,
                        data.last_good)
            loss, rate = loop.run()
        skipped: dict[str, str] = {}
        for part in backend.gather_objects(dataset.skipped):
            skipped.update(part)
        with backend.gather_trainable():
            if main:
                model.save_pretrained(out)
        result = TrainResult(out, state.step, loss, rate, skipped, cache.hits if cache else 0,
                             cache.misses if cache else 0)
        if main:
            logger.close()
            _report(result)
        backend.barrier()
        return result
    finally:
        backend.close()


class Loop:
    """The training loop, one named step at a time: a micro-batch forward and backward (ranks in lockstep), then at
    each optimizer step the log line, the dev evaluation and the checkpoint that are due."""

    def __init__(self, cfg: TrainConfig, backend: Backend, processor: AudioProcessor, dataset: ManifestDataset,
                 batches: LengthGroupedBatches, encode: CachedEncoder, logger: MetricsLogger, state: TrainerState,
                 dev_rows: list[Row], out: Path, last_good: TrainBatch | None = None):
        self.cfg, self.backend, self.processor, self.dataset = cfg, backend, processor, dataset
        self.batches, self.encode, self.logger, self.state = batches, encode, logger, state
        self.dev_rows, self.out = dev_rows, out
        self.main = backend.rank == 0
        self.micro = 0
        # What a rank whose rows all fail repeats with zero weight (kept in checkpoints, so a resumed run does too).
        self.last_good = last_good
        # What the next log line averages: losses and samples since the last one.
        self.window: list[float] = []
        self.samples_window = self.samples_total = 0
        self.loss_mean = float("nan")
        self.started = self.window_start = time.perf_counter()
        self.bar = tqdm(total=cfg.max_steps, initial=state.step, disable=not self.main, desc="train",
                        dynamic_ncols=True)

    def run(self) -> tuple[float, float]:
        """Train to ``max_steps``; the last logged mean loss and the run's samples per second."""
        while self.state.step < self.cfg.max_steps:
            self.run_epoch()
        self.bar.close()
        elapsed = max(1e-9, time.perf_counter() - self.started)
        return self.loss_mean, self.samples_total / elapsed * self.backend.world_size

    def run_epoch(self) -> None:
        state = self.state
        epoch = self.batches.epoch(state.epoch)
        steps_before, fresh_epoch = self.micro, state.batch < len(epoch)
        while state.batch < len(epoch) and state.step < self.cfg.max_steps:
            indices = epoch[state.batch]
            state.batch += 1
            if self.micro_batch(indices):
                self.optimizer_step_done()
        if state.batch >= len(epoch):
            if fresh_epoch and self.micro == steps_before:
                raise ValueError("an epoch passed without one usable row; skipped rows: "
                                 f"{_listing(self.dataset.skipped)}")
            state.epoch, state.batch = state.epoch + 1, 0

    def micro_batch(self, indices: list[int]) -> bool:
        """Forward and backward one micro-batch; True when it ended an optimizer step."""
        samples = [s for i in indices if (s := self.dataset[i]) is not None]
        # Ranks stay in lockstep: a rank whose rows all failed repeats its last batch with zero weight;
        # if one has none yet, every rank skips this batch together.
        if not self.backend.all_true(bool(samples) or self.last_good is not None):
            return False
        batch = collate(samples, self.processor) if samples else self.last_good
        assert batch is not None
        self.last_good = batch
        output = forward_batch(self.backend, self.processor, batch, self.encode(batch.clips), self.cfg.mode == "align")
        self.micro += 1
        boundary = self.micro % self.cfg.grad_accum == 0
        self.backend.micro_step(output.loss * (1.0 if samples else 0.0), boundary)
        if samples:
            self.window.append(float(output.loss.detach()))
        self.samples_window += len(samples)
        self.samples_total += len(samples)
        self.state.samples += len(samples)
        return boundary

    def optimizer_step_done(self) -> None:
        state, cfg = self.state, self.cfg
        state.step += 1
        self.bar.update(1)
        last = state.step == cfg.max_steps
        if state.step % cfg.log_every == 0 or last:
            self.log()
        if self.dev_rows and (state.step % cfg.eval.every_steps == 0 or last):
            self.evaluate()
        if state.step % cfg.checkpoint.every_steps == 0:
            self.checkpoint()

    def log(self) -> None:
        backend = self.backend
        elapsed = time.perf_counter() - self.window_start
        self.loss_mean = backend.mean(sum(self.window) / len(self.window) if self.window else float("nan"))
        rate = backend.mean(self.samples_window / elapsed) * backend.world_size
        self.logger.log(self.state.step, {"train/loss": self.loss_mean, "train/lr": backend.lr(),
                                          "train/samples_per_s": rate})
        self.bar.set_postfix(loss=f"{self.loss_mean:.4f}", lr=f"{backend.lr():.2e}", samples_s=f"{rate:.1f}")
        self.window, self.samples_window, self.window_start = [], 0, time.perf_counter()

    def evaluate(self) -> None:
        # Every rank scores the same rows (under ZeRO-3 each forward needs all ranks); rank 0 logs.
        backend, cfg = self.backend, self.cfg
        with backend.gather_encoder():
            if cfg.mode == "align":
                scores = evaluate_alignment(backend.model, self.dev_rows, self.encode)
            else:
                scores = evaluate_rows(backend.model, self.dev_rows, cfg.eval.batch_size, cfg.eval.max_new_tokens)
        self.logger.log(self.state.step, scores)
        if self.main:
            self.bar.write(f"step {self.state.step} dev: " + ", ".join(f"{k[4:]}={v:.4g}" for k, v in scores.items()))

    def checkpoint(self) -> None:
        self.state.skipped = dict(self.dataset.skipped)
        path = save_checkpoint(self.out, self.state, self.backend, self.cfg.checkpoint.keep_last,
                               RankData(self.dataset.rng_state(), self.last_good))
        if self.main:
            self.bar.write(f"checkpoint {path.name} saved")
            sys.stdout.flush()


def build_backend(model: AudioLLM, cfg: TrainConfig) -> Backend:
    return DeepSpeedBackend(model, cfg) if cfg.deepspeed else Backend(model, cfg)


def forward_batch(backend: Backend, processor: AudioProcessor, batch: TrainBatch, encoded: list[torch.Tensor],
                  align: bool) -> CausalLMOutputWithPast:
    """One micro-batch's loss: the language-model loss on the answers, or (``align``) the CTC alignment of each clip
    to its answer's tokens."""
    if align:
        targets = [processor.tokenizer(a, add_special_tokens=False).input_ids for a in batch.answers]
        return backend.forward(audio_encoded=encoded, align_targets=targets)
    tokens = batch.tokens
    return backend.forward(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, labels=tokens.labels,
                           audio_encoded=encoded)


def _listing(skipped: dict[str, str]) -> str:
    return "\n".join(f"  {where}: {why}" for where, why in sorted(skipped.items()))


def _report(result: TrainResult) -> None:
    report = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()}
    (result.output_dir / REPORT_FILE).write_text(json.dumps(report, indent=1))
    if result.loss is None or result.samples_per_second is None:
        print(f"the checkpoint is at step {result.steps}, max_steps: nothing left to train (raise max_steps to go on); "
              f"its model saved to {result.output_dir}")
        return
    print(f"trained {result.steps} steps, final loss {result.loss:.4f}, {result.samples_per_second:.1f} samples/s; "
          f"feature cache {result.cache_hits} hits / {result.cache_misses} misses; model saved to {result.output_dir}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} unusable row(s):\n{_listing(result.skipped)}")
