"""openai-whisper checkpoint (``.pt``) -> transformers Whisper (transformers 5 no longer ships this converter).

The checkpoint is read with ``torch.load(weights_only=True)``: tensors, numbers and strings only, nothing unpickled
that could run code. Its tokenizer is the tiktoken vocabulary inside the ``openai-whisper`` package, rebuilt as a
Hugging Face tokenizer with Whisper's special tokens in openai's order.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from .whisper_files import MULTILINGUAL_VOCAB, save_whisper

# openai-whisper's split pattern (whisper/tokenizer.py), which differs from GPT-4's.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>

# openai-whisper name pieces -> transformers name pieces, applied in order.
RENAMES = (
    ("encoder.positional_embedding", "encoder.embed_positions.weight"),
    ("decoder.positional_embedding", "decoder.embed_positions.weight"),
    ("decoder.token_embedding", "decoder.embed_tokens"),
    ("encoder.ln_post", "encoder.layer_norm"),
    ("decoder.ln.", "decoder.layer_norm."),
    (".blocks.", ".layers."),
    (".cross_attn_ln.", ".encoder_attn_layer_norm."),
    (".cross_attn.", ".encoder_attn."),
    (".attn_ln.", ".self_attn_layer_norm."),
    (".attn.", ".self_attn."),
    (".query.", ".q_proj."),
    (".key.", ".k_proj."),
    (".value.", ".v_proj."),
    (".out.", ".out_proj."),
    (".mlp_ln.", ".final_layer_norm."),
    (".mlp.0.", ".fc1."),
    (".mlp.2.", ".fc2."),
)


def read_checkpoint(path: Path) -> dict:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors of a truncated file come in many types
        raise WeightsError(f"{path}: truncated or corrupt openai-whisper checkpoint ({type(exc).__name__}: "
                           f"{exc})") from exc
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise WeightsError(f"{path}: not an openai-whisper checkpoint (no 'dims' and 'model_state_dict')")
    return checkpoint


def to_transformers(openai_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {}
    for name, tensor in openai_state.items():
        for old, new in RENAMES:
            name = name.replace(old, new)
        state[f"model.{name}"] = tensor.float().contiguous()
    return state


def alignment_heads(checkpoint: dict, dims: dict) -> list[list[int]]:
    """openai stores them as a base85, gzipped boolean (layers, heads) array; default: the last half of layers."""
    layers, heads = dims["n_text_layer"], dims["n_text_head"]
    packed = checkpoint.get("alignment_heads")
    if packed is None:
        return [[layer, head] for layer in range(layers // 2, layers) for head in range(heads)]
    mask = np.frombuffer(gzip.decompress(base64.b85decode(packed)), dtype=bool).reshape(layers, heads)
    return [[int(layer), int(head)] for layer, head in zip(*np.nonzero(mask))]


def openai_tokenizer(n_vocab: int):
    """Whisper's tokenizer for a vocabulary of ``n_vocab`` (multilingual or English-only) as a fast tokenizer."""
    from transformers import WhisperTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("converting an openai-whisper checkpoint needs its tokenizer files from the "
                           "openai-whisper package: pip install --no-deps openai-whisper tiktoken")
    from whisper.tokenizer import LANGUAGES

    multilingual = n_vocab >= MULTILINGUAL_VOCAB
    num_languages = n_vocab - 51765 - int(multilingual)
    specials = ["<|endoftext|>", "<|startoftranscript|>",
                *[f"<|{lang}|>" for lang in list(LANGUAGES)[:num_languages]],
                "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                "<|notimestamps|>", *[f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]]
    vocab_file = Path(next(iter(spec.submodule_search_locations))) / "assets" / \
        f"{'multilingual' if multilingual else 'gpt2'}.tiktoken"
    backend = TikTokenConverter(vocab_file=str(vocab_file), pattern=PATTERN, extra_special_tokens=specials).converted()
    if backend.get_vocab_size() != n_vocab:
        raise WeightsError(f"the openai-whisper tokenizer has {backend.get_vocab_size()} tokens; the checkpoint "
                           f"expects {n_vocab}")
    end = "<|endoftext|>"
    return WhisperTokenizerFast(tokenizer_object=backend, unk_token=end, bos_token=end, eos_token=end, pad_token=end)


def convert(path: Path, out: Path) -> None:
    """Convert the openai-whisper checkpoint at ``path`` into the transformers directory ``out``."""
    checkpoint = read_checkpoint(path)
    dims = checkpoint["dims"]
    tokenizer = openai_tokenizer(dims["n_vocab"])
    ids = tokenizer.get_vocab()
    # openai's decoding suppresses these at every step and at the first step (whisper/decoding.py).
    suppress = [ids[f"<|{t}|>"] for t in ("translate", "transcribe", "startoflm", "startofprev", "startoftranscript",
                                          "nospeech")] + tokenizer_non_speech(tokenizer)
    save_whisper(out, to_transformers(checkpoint["model_state_dict"]), encoder_heads=dims["n_audio_head"],
                 decoder_heads=dims["n_text_head"], tokenizer=tokenizer,
                 alignment_heads=alignment_heads(checkpoint, dims), suppress_tokens=sorted(set(suppress)),
                 begin_suppress_tokens=[tokenizer.encode(" ", add_special_tokens=False)[0], ids["<|endoftext|>"]],
                 source=str(path))


def tokenizer_non_speech(tokenizer) -> list[int]:
    """Tokens of symbols that are not speech, as openai's ``Tokenizer.non_speech_tokens`` lists them."""
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += ["<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", '("', "((", "))", "(((", ")))", "[[", "]]",
                "{{", "}}", "♪♪", "♪♪♪"]
    miscellaneous = set("♩♪♫♬♭♮♯")
    result = {tokenizer.encode(" -", add_special_tokens=False)[0], tokenizer.encode(" '", add_special_tokens=False)[0]}
    for symbol in symbols + list(miscellaneous):
        for tokens in (tokenizer.encode(symbol, add_special_tokens=False),
                       tokenizer.encode(" " + symbol, add_special_tokens=False)):
            if len(tokens) == 1 or symbol in miscellaneous:
                result.add(tokens[0])
    return sorted(result)
