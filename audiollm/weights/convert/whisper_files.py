"""What a transformers Whisper directory holds besides weights: config, tokenizer, feature extractor, generation config.

Both Whisper converters (CTranslate2 and openai-whisper) end here, so a converted directory loads with
``WhisperForConditionalGeneration.from_pretrained`` and transcribes through ``generate(language=..., task=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    PreTrainedTokenizerFast,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperTokenizerFast,
)
from transformers.generation import GenerationConfig

from ..errors import WeightsError

ENDOFTEXT = "<|endoftext|>"
MULTILINGUAL_VOCAB = 51865  # English-only Whisper models have one token fewer
# Special tokens that are not languages, in Whisper's vocabulary order after <|endoftext|>.
TASKS = {"translate": "<|translate|>", "transcribe": "<|transcribe|>"}
NOT_LANGUAGES = {ENDOFTEXT, "<|startoftranscript|>", *TASKS.values(), "<|startoflm|>", "<|startofprev|>",
                 "<|nocaptions|>", "<|nospeech|>", "<|notimestamps|>"}


def whisper_config(state: dict[str, torch.Tensor], encoder_heads: int, decoder_heads: int,
                   token_ids: dict[str, int]) -> WhisperConfig:
    """A config whose dimensions come from the weights (``state`` in transformers names) and token ids."""
    d_model = state["model.encoder.conv1.weight"].shape[0]
    encoder_layers = _count_layers(state, "model.encoder.layers.")
    decoder_layers = _count_layers(state, "model.decoder.layers.")
    eot = token_ids[ENDOFTEXT]
    return WhisperConfig(
        vocab_size=state["model.decoder.embed_tokens.weight"].shape[0],
        num_mel_bins=state["model.encoder.conv1.weight"].shape[1],
        d_model=d_model,
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=encoder_heads,
        decoder_attention_heads=decoder_heads,
        encoder_ffn_dim=state["model.encoder.layers.0.fc1.weight"].shape[0],
        decoder_ffn_dim=state["model.decoder.layers.0.fc1.weight"].shape[0],
        max_source_positions=state["model.encoder.embed_positions.weight"].shape[0],
        max_target_positions=state["model.decoder.embed_positions.weight"].shape[0],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=token_ids["<|startoftranscript|>"],
    )


def _count_layers(state: dict[str, torch.Tensor], prefix: str) -> int:
    return len({key[len(prefix):].split(".", 1)[0] for key in state if key.startswith(prefix)})


def save_whisper(out: Path, state: dict[str, torch.Tensor], encoder_heads: int, decoder_heads: int,
                 tokenizer: PreTrainedTokenizerFast, alignment_heads: Sequence[Sequence[int]],
                 suppress_tokens: Sequence[int], begin_suppress_tokens: Sequence[int], source: str) -> None:
    """Write a complete transformers Whisper directory from a state dict in transformers names."""
    token_ids = {token: idx for token, idx in tokenizer.get_vocab().items() if token.startswith("<|")}
    needed = (ENDOFTEXT, "<|startoftranscript|>", "<|notimestamps|>", *TASKS.values())
    missing = [token for token in needed if token not in token_ids]
    if missing:
        raise WeightsError(f"{source}: the tokenizer lacks Whisper's special tokens {missing}")
    config = whisper_config(state, encoder_heads, decoder_heads, token_ids)
    config.suppress_tokens = list(suppress_tokens)
    config.begin_suppress_tokens = list(begin_suppress_tokens)
    model = WhisperForConditionalGeneration(config)
    state = {**state, "proj_out.weight": state["model.decoder.embed_tokens.weight"]}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{source}: weights do not form a Whisper model ({str(exc).splitlines()[0]})") from exc
    model.generation_config = generation_config(config, token_ids, alignment_heads)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out)


def whisper_tokenizer(tokenizer_file: Path) -> WhisperTokenizerFast:
    """Whisper's tokenizer from a ``tokenizer.json`` (as shipped with CTranslate2 and Hugging Face models)."""
    try:
        return WhisperTokenizerFast(tokenizer_file=str(tokenizer_file), unk_token=ENDOFTEXT, bos_token=ENDOFTEXT,
                                    eos_token=ENDOFTEXT, pad_token=ENDOFTEXT)
    except Exception as exc:  # the tokenizers library raises its own exception types
        raise WeightsError(f"{tokenizer_file}: not a readable tokenizer ({exc})") from exc


def generation_config(config: WhisperConfig, token_ids: dict[str, int],
                      alignment_heads: Sequence[Sequence[int]]) -> GenerationConfig:
    """Whisper's generation settings: languages and tasks by token id, timestamps, suppressed tokens."""
    settings: dict[str, object] = {}
    if config.vocab_size >= MULTILINGUAL_VOCAB:
        # English-only models keep language tokens in their vocabulary but must not be given (or detect) one.
        languages = {token: idx for token, idx in token_ids.items()
                     if token not in NOT_LANGUAGES and not token[2:3].isdigit() and idx > token_ids[ENDOFTEXT]}
        settings["lang_to_id"] = dict(sorted(languages.items(), key=lambda item: item[1]))
        settings["task_to_id"] = {task: token_ids[token] for task, token in TASKS.items()}
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=list(config.suppress_tokens),
        begin_suppress_tokens=list(config.begin_suppress_tokens),
        alignment_heads=[list(pair) for pair in alignment_heads],
        is_multilingual=config.vocab_size >= MULTILINGUAL_VOCAB,
        no_timestamps_token_id=token_ids["<|notimestamps|>"],
        prev_sot_token_id=token_ids.get("<|startofprev|>"),
        max_initial_timestamp_index=50,
        return_timestamps=False,
        **settings,
    )
