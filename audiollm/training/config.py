"""Training configuration: dataclasses read from ``configs/train/`` recipes (``extends:`` chains) with ``key=value``
overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from ..config import ConfigError, is_model_config, load_yaml
from ..data.augment import SPEED_SENSITIVE_TASKS

# What a run trains (its ``mode``); the model config's LoRA switch follows from it. "align" trains the projector
# alone with CTC against the LLM's vocabulary on transcription rows (no LLM layer runs); "projector" and
# "projector_lora" learn the answers with the language-model loss.
MODE_LORA = {"align": False, "projector": False, "projector_lora": True}
# DeepSpeed JSONs shipped with the package, named in a config by their stem (``deepspeed: zero2``).
DEEPSPEED_DIR = Path(__file__).parent / "deepspeed"


@dataclasses.dataclass
class DataConfig:
    # JSONL manifests (see TrainConfig for how relative paths resolve); rows of all of them are pooled.
    train: list[str] = dataclasses.field(default_factory=list)
    # Train only on rows of these tasks (empty: every row), e.g. [asr, caption] for the projector recipe.
    tasks: list[str] = dataclasses.field(default_factory=list)
    # How often a task's rows are drawn per epoch (default 1): 5 shows each row five times, 0.25 a random quarter of
    # them; balances a mix in which some tasks have a hundred times more rows than others.
    task_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    # Multiplies the task weight of a source family's rows (families as evaluation tables name them:
    # audiollm/data/starter/families.py), so ``{real sounds: 8}`` draws questions about the real recordings eight
    # times as often without also drawing the synthetic corpus's far more numerous questions of the same tasks.
    family_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    # Rows with a clip longer than this are skipped (and reported), not truncated.
    max_audio_seconds: float = 30.0
    # Clips whose peak amplitude stays below this are silent: nothing to learn, skipped and reported.
    silence_peak: float = 1e-4
    # Frozen-encoder outputs on disk, reused across epochs and stages. null: <cache root>/features.
    feature_cache: bool = True
    cache_dir: str | None = None
    # Speed perturbation: each time a row of ``speed_tasks`` is drawn, its clips play at one of these speeds, picked
    # at random ([0.9, 1.0, 1.1] as Kaldi). A perturbed clip is a new clip to the feature cache (at most one entry
    # per speed). Tempo and key answers move with the speed, so those tasks are refused.
    speed_factors: list[float] = dataclasses.field(default_factory=lambda: [1.0])
    speed_tasks: list[str] = dataclasses.field(default_factory=list)
    # With the model's encoder.transcript: whisper, the probability of hiding a clip's transcript each time its row
    # is drawn, so one model answers with or without it (generate(..., transcript=False)). Transcripts of the
    # training clips are decoded once and cached beside the feature cache (when feature_cache is on).
    transcript_dropout: float = 0.0
    # Where the training clips' transcripts come from: whisper decodes each once (cached; about 3 s a speech clip
    # on a CPU), reference takes the words the manifest gives (a transcription, word or mixture row's answer, or
    # meta.sentence), so nothing is decoded and the LLM learns to use a transcript it can trust. Inference always
    # reads Whisper's own.
    transcript_source: Literal["whisper", "reference"] = "whisper"
    # With the model's encoder.tags, the probability of hiding a clip's sound tags each time its row is drawn, so
    # the audio tokens keep carrying the sound. The tagger is fitted on the train rows of these tasks (one clip,
    # the answer as its label) before the first step; a training clip's tags come from a tagger fitted without its
    # source (meta.soundfont, else meta.source), as a test clip's come from one that never heard its package (a
    # label of one source only: from one that never heard the clip, so that its tags can name the label).
    tag_dropout: float = 0.0
    # The probability that a row about a clip of the audio_swap_tasks rows plays another such clip's audio under
    # its own clip's tags and answer, so that the LLM learns to read the tags where the audio is new to it (a
    # held-out package's clip) rather than answer from training audio it has memorised.
    audio_swap: float = 0.0
    audio_swap_tasks: list[str] = dataclasses.field(default_factory=lambda: ["sound_event", "sound_class"])
    tag_tasks: list[str] = dataclasses.field(default_factory=lambda: ["sound_event", "sound_class", "instrument"])
    tag_folds: int = 5
    # So that the tagger knows speech as a sound (and its tags beside a transcript say so), this many clips of the
    # train rows of tag_speech_tasks, a fixed sample, join its clips labelled "speech".
    tag_speech_clips: int = 0
    tag_speech_tasks: list[str] = dataclasses.field(default_factory=lambda: ["asr", "word", "spoken_qa"])


@dataclasses.dataclass
class OptimizerConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    # The schedule's length in steps (null: max_steps). A stage stopped before its schedule ended sets this to
    # the schedule it ran and max_steps to where it stopped, so a re-run takes the same learning rates.
    schedule_steps: int | None = None


@dataclasses.dataclass
class CheckpointConfig:
    every_steps: int = 500
    keep_last: int = 2


@dataclasses.dataclass
class EvalConfig:
    # A dev manifest scored every ``every_steps`` (WER for transcription, accuracy for classification tasks).
    manifest: str | None = None
    every_steps: int = 500
    max_rows: int = 200
    batch_size: int = 8
    max_new_tokens: int = 64


@dataclasses.dataclass
class TrainConfig:
    # Paths it reads (model, data.train, eval.manifest, deepspeed) may be relative: they are looked up beside the
    # config file, then in each folder above it, then in the working directory, so a run starts from any directory.
    # What it writes (output_dir, data.cache_dir) goes under the working directory.
    # A model config YAML (fresh projector) or a saved model directory (e.g. the previous stage's output).
    model: str = "configs/models/base.yaml"
    model_overrides: list[str] = dataclasses.field(default_factory=list)
    mode: Literal["align", "projector", "projector_lora"] = "projector"
    output_dir: str = "runs/train"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    max_steps: int = 1000
    # Per process; the global batch is micro_batch_size * grad_accum * world size.
    micro_batch_size: int = 8
    grad_accum: int = 1
    seed: int = 0
    # A model soup: train once per seed listed, each run in <output_dir>/seed-<n>, and save the average of their
    # trained weights as the model (training/soup.py). Empty: one run with ``seed``.
    soup_seeds: list[int] = dataclasses.field(default_factory=list)
    # Mixed precision on GPU; on a CPU, bf16 autocast where the CPU has bf16 instructions, else float32.
    precision: Literal["fp32", "bf16", "fp16"] = "bf16"
    gradient_checkpointing: bool = False
    # A packaged DeepSpeed config by name (zero0, zero2, zero3) or a JSON file; null trains with plain PyTorch.
    deepspeed: str | None = None
    log_every: int = 10

    def model_config_overrides(self) -> list[str]:
        """The model overrides this run applies: the mode's LoRA switch and precision settings, then the user's."""
        # A saved model's LoRA stays as it is in projector mode: applied, frozen (the trainer freezes the LLM).
        keeps_lora = self.mode == "projector" and not is_model_config(self.model)
        return [
            *([] if keeps_lora else [f"lora.enabled={str(MODE_LORA[self.mode]).lower()}"]),
            f"gradient_checkpointing={str(self.gradient_checkpointing).lower()}",
            *self.model_overrides,
        ]


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    cfg = load_yaml(TrainConfig, path, overrides)
    resolve_inputs(cfg, Path(path))
    if not cfg.data.train:
        raise ConfigError(f"{path}: data.train lists no manifest")
    for name in ("max_steps", "micro_batch_size", "grad_accum", "log_every"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{path}: {name} must be at least 1, got {getattr(cfg, name)}")
    if any(w <= 0 for w in cfg.data.task_weights.values()):
        raise ConfigError(f"{path}: data.task_weights must be positive (drop a task with data.tasks): "
                          f"{cfg.data.task_weights}")
    if any(w <= 0 for w in cfg.data.family_weights.values()):
        raise ConfigError(f"{path}: data.family_weights must be positive: {cfg.data.family_weights}")
    if any(not 0.5 <= f <= 2.0 for f in cfg.data.speed_factors) or not cfg.data.speed_factors:
        raise ConfigError(f"{path}: data.speed_factors must be speeds between 0.5 and 2.0, got "
                          f"{cfg.data.speed_factors}")
    if falsified := sorted(set(cfg.data.speed_tasks) & set(SPEED_SENSITIVE_TASKS)):
        raise ConfigError(f"{path}: data.speed_tasks lists {falsified}: a speed change moves the tempo and key, "
                          "so those answers would be wrong")
    for name in ("transcript_dropout", "tag_dropout", "audio_swap"):
        if not 0.0 <= getattr(cfg.data, name) <= 1.0:
            raise ConfigError(f"{path}: data.{name} is a probability between 0 and 1, got "
                              f"{getattr(cfg.data, name)}")
    if cfg.data.tag_speech_clips < 0:
        raise ConfigError(f"{path}: data.tag_speech_clips must be 0 or more, got {cfg.data.tag_speech_clips}")
    if cfg.data.tag_folds < 2:
        raise ConfigError(f"{path}: data.tag_folds must be at least 2 (a clip's tags come from the other folds), "
                          f"got {cfg.data.tag_folds}")
    if len(cfg.soup_seeds) == 1 or len(set(cfg.soup_seeds)) != len(cfg.soup_seeds):
        raise ConfigError(f"{path}: soup_seeds lists the seeds of the runs to average, at least two and each once, "
                          f"got {cfg.soup_seeds}")
    if cfg.checkpoint.every_steps < 1 or cfg.checkpoint.keep_last < 1:
        raise ConfigError(f"{path}: checkpoint.every_steps and checkpoint.keep_last must be at least 1")
    return cfg


def resolve_inputs(cfg: TrainConfig, path: Path) -> None:
    """Turn the relative paths ``cfg`` reads into the files they name (see :class:`TrainConfig`)."""
    folders = [path.resolve().parent, *path.resolve().parent.parents, Path.cwd()]
    cfg.model = find_input(cfg.model, folders)
    cfg.data.train = [find_input(p, folders) for p in cfg.data.train]
    if cfg.eval.manifest is not None:
        cfg.eval.manifest = find_input(cfg.eval.manifest, folders)
    if cfg.deepspeed is not None:
        cfg.deepspeed = deepspeed_file(cfg.deepspeed, folders, path)


def find_input(name: str, folders: list[Path]) -> str:
    """The first of ``folders`` holding relative ``name`` as a file or a saved model; else ``name`` unchanged (the
    released model ``default``, a hub id, or a missing file whose error names it as written)."""
    if Path(name).is_absolute() or name == "default":
        return name
    for folder in folders:
        candidate = folder / name
        if candidate.is_file() or (candidate / "config.yaml").is_file():
            return str(candidate)
    return name


def deepspeed_file(name: str, folders: list[Path], path: Path) -> str:
    if "/" not in name and not name.endswith(".json"):
        packaged = DEEPSPEED_DIR / f"{name}.json"
        if not packaged.is_file():
            known = ", ".join(sorted(p.stem for p in DEEPSPEED_DIR.glob("*.json")))
            raise ConfigError(f"{path}: deepspeed: {name!r} is not a packaged config ({known}) or a JSON file")
        return str(packaged)
    found = find_input(name, folders)
    if not Path(found).is_file():
        raise ConfigError(f"{path}: deepspeed config {name} not found beside the config or in the working directory")
    return found
