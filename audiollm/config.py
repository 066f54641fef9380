"""Typed configuration: dataclasses loaded from YAML, with dotted ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")

# What a model spec (``--model``, ``ServeConfig.model``) names unless told otherwise: the released model.
DEFAULT_MODEL = "default"
MODEL_HELP = "'default' (the released model), a saved model directory, a hub id, or a model config YAML"
# The question asked about a clip when none is given.
DEFAULT_PROMPT = "What do you hear?"


class ConfigError(ValueError):
    """A configuration file or override that does not fit its schema."""


# The most decimals a tag line's percentages take: past two, a calibrated probability's digits are noise.
MAX_TAG_DECIMALS = 2


def is_model_config(spec: str | Path) -> bool:
    """Whether a ``--model`` spec names a model config YAML (a fresh model) rather than saved weights."""
    return str(spec).endswith((".yaml", ".yml"))


@dataclasses.dataclass
class RandomWhisperConfig:
    """Dimensions of a randomly initialised Whisper encoder (tests, no download)."""

    d_model: int = 64
    layers: int = 2
    heads: int = 2
    ffn_dim: int = 128
    seed: int = 0
    # Weight scale. At Whisper's 0.02 the fixed positional embeddings drown what the clip holds; larger, a test can
    # ask for frames that tell clips apart one by one.
    init_std: float = 0.02


@dataclasses.dataclass
class EncoderConfig:
    # A Whisper name (``whisper-base``), hub id, or local directory; ignored when ``random`` is set.
    name: str | None = "whisper-base"
    random: RandomWhisperConfig | None = None
    n_mels: int = 80
    # Pad every window to 30 s as Whisper was trained (and Qwen2-Audio does); off encodes clips at their length.
    pad_to_30s: bool = False
    # Which encoder states the projector reads: ``last`` (the final layer, after Whisper's layer norm), ``all`` (the
    # output of every layer, 1 to the layer count), or a list of layer numbers; several are mixed with learned
    # softmax weights saved with the projector. Intermediate layers are layer-normed (no weights) before the mix.
    layers: Literal["last", "all"] | list[int] = "last"
    # ``whisper``: Whisper's own decoder transcribes each clip that holds speech, and the transcript is put in the
    # prompt after that clip's audio tokens as a line ``Transcript: ...``. ``none``: audio tokens only.
    transcript: Literal["none", "whisper"] = "none"
    # How many of the sound tagger's best labels (audiollm/tagger.py, fitted by ``audiollm train``) follow the
    # audio tokens of a clip (and its transcript, when it has one), as a line ``Sounds: rain (71%); thunder (12%)``;
    # 0: none.
    tags: int = 0
    # With ``tags``, a further line ``Sounds named: goose (1%); chop (0%)``: each of the tagger's labels that the
    # prompt's words name (a question's options, the sound a yes/no question asks about), likeliest first, so the
    # LLM reads them against what the tagger heard even when they are not among its best.
    named_tags: bool = False
    # Decimals of the tag lines' percentages: at 0 a label at 0.7 % and one at 0.05 % both read "1%" or "0%", where a
    # held-out clip's own label is often below 2 % and the others far below it; 1 reads "0.7%" and "0.1%".
    tag_decimals: int = 0
    # Which 30 s windows hold speech (the others get no transcript, so a doorbell or a dog gets none): silero-vad
    # (measured best, audiollm/vad.py), or Whisper's no-speech probability (the <|nocaptions|> token at the first
    # step) below ``no_speech_threshold``.
    speech_detector: Literal["silero-vad", "whisper"] = "silero-vad"
    no_speech_threshold: float = 0.6

    def __post_init__(self) -> None:
        # Checked here, not at the first prompt: a saved model with a bad value would load and then fail per request.
        if self.tags < 0:
            raise ConfigError(f"encoder.tags must be 0 (no tag line) or more, got {self.tags}")
        if not 0 <= self.tag_decimals <= MAX_TAG_DECIMALS:
            raise ConfigError(f"encoder.tag_decimals must be 0 to {MAX_TAG_DECIMALS}, got {self.tag_decimals}")
        if not 0 <= self.no_speech_threshold <= 1:
            raise ConfigError(f"encoder.no_speech_threshold is a probability (0 to 1), got {self.no_speech_threshold}")


@dataclasses.dataclass
class ProjectorConfig:
    type: Literal["linear", "mlp", "qformer"] = "mlp"
    # Encoder frames merged into one audio token (linear: average pool; mlp: stacked frames).
    stack: int = 4
    hidden_size: int = 1024
    # Q-Former: encoder frames per window (~0.33 s at 50 frames/s), queries per window, layers and width.
    window_frames: int = 17
    num_queries: int = 1
    qformer_layers: int = 2
    qformer_heads: int = 4
    qformer_dim: int = 256
    dropout: float = 0.0


@dataclasses.dataclass
class RandomLLMConfig:
    """A randomly initialised Llama-style LM over a byte-level tokenizer (tests, no download)."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 128
    # Weight init std. transformers' 0.02 suits wide models; at width 64 the tied output embeddings would be too
    # small for confident predictions (logits stay below ~1.5), so tiny models use more.
    init_std: float = 0.02
    seed: int = 0


@dataclasses.dataclass
class LLMConfig:
    # A model name (``smollm2-135m-instruct``), hub id, or local directory; ignored when ``random`` is set.
    name: str | None = "smollm2-135m-instruct"
    random: RandomLLMConfig | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


@dataclasses.dataclass
class LoRAConfig:
    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = dataclasses.field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


@dataclasses.dataclass
class QuantizationConfig:
    """QLoRA: the LLM's linear layers in 4-bit (bitsandbytes), LoRA on top."""

    load_in_4bit: bool = False
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["float32", "bfloat16", "float16"] = "float32"


@dataclasses.dataclass
class AudioLLMConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    projector: ProjectorConfig = dataclasses.field(default_factory=ProjectorConfig)
    llm: LLMConfig = dataclasses.field(default_factory=LLMConfig)
    lora: LoRAConfig = dataclasses.field(default_factory=LoRAConfig)
    quantization: QuantizationConfig = dataclasses.field(default_factory=QuantizationConfig)
    gradient_checkpointing: bool = False
    audio_token: str = "<|audio|>"
    max_new_tokens: int = 128

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> AudioLLMConfig:
        return load_yaml(cls, path, overrides)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioLLMConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def option(default: Any, help: str) -> Any:
    """A dataclass field whose command-line flag (generated from the dataclass) shows ``help``."""
    return dataclasses.field(default=default, metadata={"help": help})


def load_yaml(cls: type[T], path: str | Path, overrides: list[str] | None = None) -> T:
    """Read ``path`` (and the files it ``extends``) into dataclass ``cls``, then apply ``a.b=value`` overrides (values
    parsed as YAML)."""
    path = Path(path)
    data = read_yaml(path)
    for item in overrides or []:
        apply_override(data, item)
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping in ``path``, on top of the file its ``extends:`` names (relative to ``path``'s folder): nested
    mappings merge key by key, anything else (lists included) replaces what the base file says."""
    if path.resolve() in (p.resolve() for p in chain):
        raise ConfigError("extends loops: " + " -> ".join(str(p) for p in (*chain, path)))
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found" + (f" (extended by {chain[-1]})" if chain else ""))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends names one config file, got {base!r}")
    return merged(read_yaml(path.parent / base, (*chain, path)), data)


def merged(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in delta.items():
        both_mappings = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both_mappings else value
    return out


def apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
        node = child
    node[leaf] = yaml.safe_load(raw)


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass ``cls`` from plain data, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {key: _convert(hints[key], value, f"{where}{key}") for key, value in data.items()}
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        problems = []
        for option in inner:  # the first type the value fits, in the order the hint names them
            try:
                return _convert(option, value, where)
            except ConfigError as exc:
                problems.append(str(exc))
        raise ConfigError(problems[0] if len(problems) == 1 else f"{where}: {value!r} fits none of: "
                          + "; ".join(problems))
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where + ".")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value
