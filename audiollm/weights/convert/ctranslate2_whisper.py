"""CTranslate2 Whisper (faster-whisper) -> transformers Whisper.

CTranslate2's ``model.bin`` (binary version 6) is: version, spec name, revision, then named variables (rank, dims,
dtype id, byte count, raw bytes), then aliases. Its Whisper spec fuses self-attention Q/K/V into ``linear_0``
and cross-attention K/V into ``linear_1``; the key projection has no bias in Whisper, so its slice of the fused bias
is zero and is dropped. A large model may be split into parts that are simply concatenated.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import WeightsError
from .whisper_files import save_whisper, whisper_tokenizer

# CTranslate2's DataType enum, in order (include/ctranslate2/types.h).
DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
SUPPORTED_VERSIONS = (5, 6)


def read_model_bin(parts: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The variables of a CTranslate2 ``model.bin`` (given as one file or its parts in order), aliases resolved."""
    names = ", ".join(str(p) for p in parts)
    data = memoryview(b"".join(p.read_bytes() for p in parts))
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        length = take("<H")
        text = bytes(data[offset:offset + length - 1]).decode("utf-8")
        offset += length
        return text

    try:
        version = take("<I")
        if version not in SUPPORTED_VERSIONS:
            raise WeightsError(f"{names}: not a CTranslate2 model.bin this reader knows (binary version {version})")
        spec = string()
        take("<I")  # spec revision
        variables: dict[str, torch.Tensor] = {}
        for _ in range(take("<I")):
            name = string()
            shape = [take("<I") for _ in range(take("<B"))]
            dtype = DTYPES[take("<B")]
            size = take("<I")
            if offset + size > len(data):
                raise struct.error("variable runs past the end of the file")
            tensor = torch.frombuffer(bytearray(data[offset:offset + size]), dtype=dtype) if size else torch.empty(0)
            variables[name] = tensor.reshape(shape)
            offset += size
        for _ in range(take("<I")):
            alias, target = string(), string()
            variables[alias] = variables[target]
    except (struct.error, UnicodeDecodeError, IndexError, RuntimeError) as exc:
        raise WeightsError(f"{names}: truncated or corrupt CTranslate2 model ({exc})") from exc
    if offset != len(data):
        raise WeightsError(f"{names}: {len(data) - offset} unexpected bytes after the CTranslate2 model (corrupt)")
    if spec != "WhisperSpec":
        raise WeightsError(f"{names}: a CTranslate2 {spec}, not a Whisper model")
    if any(name.endswith("weight_scale") for name in variables):
        raise WeightsError(f"{names}: int8-quantized CTranslate2 models are not supported; use a float16/float32 one")
    return variables


def to_transformers(variables: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CTranslate2 Whisper variables -> a ``WhisperForConditionalGeneration`` state dict (float32)."""
    state: dict[str, torch.Tensor] = {}

    def put(name: str, tensor: torch.Tensor) -> None:
        state[name] = tensor.float().contiguous()

    def linear(src: str, dst: str) -> None:
        put(f"{dst}.weight", variables[f"{src}/weight"])
        put(f"{dst}.bias", variables[f"{src}/bias"])

    def norm(src: str, dst: str) -> None:
        put(f"{dst}.weight", variables[f"{src}/gamma"])
        put(f"{dst}.bias", variables[f"{src}/beta"])

    def fused(src: str, dst: str, projections: Sequence[str]) -> None:
        weights = variables[f"{src}/weight"].chunk(len(projections))
        biases = variables[f"{src}/bias"].chunk(len(projections))
        for proj, weight, bias in zip(projections, weights, biases):
            put(f"{dst}.{proj}.weight", weight)
            if proj != "k_proj":  # Whisper's key projection has no bias
                put(f"{dst}.{proj}.bias", bias)

    def block(src: str, dst: str) -> None:
        fused(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"))
        linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
        norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
        linear(f"{src}/ffn/linear_1", f"{dst}.fc2")
        norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")

    try:
        for conv in ("conv1", "conv2"):
            linear(f"encoder/{conv}", f"model.encoder.{conv}")
        put("model.encoder.embed_positions.weight", variables["encoder/position_encodings/encodings"])
        norm("encoder/layer_norm", "model.encoder.layer_norm")
        for i in range(count_layers(variables, "encoder")):
            block(f"encoder/layer_{i}", f"model.encoder.layers.{i}")
        put("model.decoder.embed_tokens.weight", variables["decoder/embeddings/weight"])
        put("model.decoder.embed_positions.weight", variables["decoder/position_encodings/encodings"])
        norm("decoder/layer_norm", "model.decoder.layer_norm")
        for i in range(count_layers(variables, "decoder")):
            src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
            block(src, dst)
            linear(f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
            fused(f"{src}/attention/linear_1", f"{dst}.encoder_attn", ("k_proj", "v_proj"))
            linear(f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
            norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
    except KeyError as exc:
        raise WeightsError(f"CTranslate2 Whisper model lacks variable {exc}") from exc
    return state


def count_layers(variables: dict[str, torch.Tensor], stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    return len({m.group(1) for name in variables if (m := pattern.match(name))})


def convert(parts: Sequence[Path], directory: Path, out: Path) -> None:
    """Convert a CTranslate2 Whisper model (weights in ``parts``, config and tokenizer in ``directory``) to ``out``."""
    variables = read_model_bin(parts)
    config_file, tokenizer_file = directory / "config.json", directory / "tokenizer.json"
    for needed in (config_file, tokenizer_file):
        if not needed.is_file():
            raise WeightsError(f"{directory}: CTranslate2 Whisper model without {needed.name}")
    try:
        settings = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{config_file}: not valid JSON ({exc})") from exc
    decoder_layers = count_layers(variables, "decoder")
    alignment_heads = settings.get("alignment_heads") or [[layer, head] for layer in range(decoder_layers // 2,
                                                                                         decoder_layers)
                                                           for head in range(int(variables["decoder/num_heads"]))]
    save_whisper(
        out,
        to_transformers(variables),
        encoder_heads=int(variables["encoder/num_heads"]),
        decoder_heads=int(variables["decoder/num_heads"]),
        tokenizer=whisper_tokenizer(tokenizer_file),
        alignment_heads=alignment_heads,
        suppress_tokens=settings.get("suppress_ids", []),
        begin_suppress_tokens=settings.get("suppress_ids_begin", []),
        source=", ".join(str(p) for p in parts),
    )
