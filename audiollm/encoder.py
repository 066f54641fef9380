"""The frozen Whisper encoder, run at each window's own length, long audio window by window; and its decoder."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer, GenerationConfig, WhisperConfig, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperDecoder, WhisperEncoder

from .config import EncoderConfig, RandomWhisperConfig
from .llm import byte_tokenizer
from .transcribe import WhisperTextDecoder, WhisperVocab


def build_whisper(cfg: EncoderConfig) -> tuple[WhisperEncoder, WhisperTextDecoder]:
    """The transformers Whisper encoder and decoder named by ``cfg`` (random and tiny when ``cfg.random`` is set)."""
    if cfg.random is not None:
        return _random_whisper(cfg, cfg.random)
    from .weights import resolve_model

    path = resolve_model(cfg.name or "", kind="whisper")
    model = WhisperModel.from_pretrained(path)
    encoder = model.get_encoder()
    if encoder.config.num_mel_bins != cfg.n_mels:
        raise ValueError(f"encoder {cfg.name} expects {encoder.config.num_mel_bins} mel bins, config says {cfg.n_mels}")
    return encoder, WhisperTextDecoder(model.get_decoder(), _vocab(path))


def _random_whisper(cfg: EncoderConfig, dims: RandomWhisperConfig) -> tuple[WhisperEncoder, WhisperTextDecoder]:
    text = byte_tokenizer()
    # Byte tokens first, then Whisper's special tokens and its 1501 timestamps, in Whisper's order.
    specials = len(text.get_vocab())
    end, start, english, transcribe, no_speech, no_timestamps = range(specials, specials + 6)
    vocab = WhisperVocab(start=start, end=end, transcribe=transcribe, no_timestamps=no_timestamps,
                         no_speech=no_speech, timestamp_begin=no_timestamps + 1, languages={"en": english},
                         suppress=(), begin_suppress=(end,), decode_text=text.decode)
    config = WhisperConfig(
        d_model=dims.d_model,
        encoder_layers=dims.layers,
        encoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn_dim,
        decoder_layers=1,
        decoder_attention_heads=dims.heads,
        decoder_ffn_dim=dims.ffn_dim,
        vocab_size=vocab.timestamp_begin + 1501,
        num_mel_bins=cfg.n_mels,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=end,
        bos_token_id=end,
        eos_token_id=end,
        decoder_start_token_id=start,
        init_std=dims.init_std,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(dims.seed)
        encoder = WhisperEncoder(config)
        decoder = WhisperDecoder(config)
    return encoder, WhisperTextDecoder(decoder, vocab)


def _vocab(path: Path) -> WhisperVocab:
    """Whisper's token ids from a transformers directory's tokenizer and generation config."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    generation = GenerationConfig.from_pretrained(path)
    ids = tokenizer.get_vocab()
    languages = {token[2:-2]: idx for token, idx in (getattr(generation, "lang_to_id", None) or {}).items()}
    no_timestamps = ids["<|notimestamps|>"]
    return WhisperVocab(
        start=ids["<|startoftranscript|>"],
        end=ids["<|endoftext|>"],
        transcribe=ids["<|transcribe|>"],
        no_timestamps=no_timestamps,
        no_speech=ids.get("<|nospeech|>", ids.get("<|nocaptions|>", no_timestamps)),
        timestamp_begin=no_timestamps + 1,
        languages=languages,
        suppress=tuple(generation.suppress_tokens or ()),
        begin_suppress=tuple(generation.begin_suppress_tokens or ()),
        decode_text=lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True),
    )


def resolve_layers(layers: str | list[int], count: int) -> list[int]:
    """The encoder layer numbers (1 to ``count``) that ``encoder.layers`` names, checked."""
    if layers == "last":
        return [count]
    if layers == "all":
        return list(range(1, count + 1))
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"encoder.layers: expected last, all or a list of layer numbers, got {layers!r}")
    bad = [i for i in layers if not 1 <= i <= count]
    if bad or len(set(layers)) != len(layers):
        raise ValueError(f"encoder.layers: {layers} must name distinct layers between 1 and {count}, "
                         "the encoder's layer count")
    return sorted(layers)


class FrozenWhisperEncoder(nn.Module):
    """Whisper's encoder, frozen, accepting any mel length up to 30 s per window; its decoder rides along.

    transformers' ``WhisperEncoder.forward`` insists on 3000 mel frames; the frozen encoder runs its own modules
    instead, slicing the positional embeddings to the window's length, so a 2 s clip costs 2 s of compute.
    It returns the states of ``layers`` (layer numbers from 1): one layer gives ``(batch, frames, d_model)``,
    several ``(batch, frames, layers, d_model)`` for the projector's mix.
    """

    def __init__(self, whisper: WhisperEncoder, decoder: WhisperTextDecoder, layers: str | list[int] = "last"):
        super().__init__()
        self.whisper = whisper
        self.whisper.requires_grad_(False)
        self.whisper.eval()
        self.decoder = decoder
        self.layers = resolve_layers(layers, len(whisper.layers))

    @property
    def hidden_size(self) -> int:
        return self.whisper.config.d_model

    def train(self, mode: bool = True) -> FrozenWhisperEncoder:
        # Frozen means frozen: dropout stays off even while the rest of the model trains.
        super().train(mode)
        self.whisper.eval()
        self.decoder.eval()
        return self

    @torch.no_grad()
    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """``mels`` ``(batch, n_mels, frames)`` with even ``frames`` <= 3000 -> the states of :attr:`layers`."""
        states = self.states(mels, self.layers)
        return states[:, :, 0] if len(self.layers) == 1 else states

    @torch.no_grad()
    def states(self, mels: torch.Tensor, layers: list[int], lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, frames // 2, len(layers), d_model)``: the last layer after Whisper's final layer norm (what the
        decoder reads), earlier ones layer-normed without weights so that no layer's scale dominates a mix.
        ``lengths`` (output frames per row) masks each row's padding out of attention."""
        w = self.whisper
        dtype = w.conv1.weight.dtype
        x = nn.functional.gelu(w.conv1(mels.to(dtype)))
        x = nn.functional.gelu(w.conv2(x)).permute(0, 2, 1)
        x = x + w.embed_positions.weight[: x.shape[1]]
        mask = None
        if lengths is not None:
            padding = torch.arange(x.shape[1], device=x.device)[None, :] >= lengths[:, None]
            mask = torch.zeros(padding.shape, dtype=x.dtype, device=x.device).masked_fill(
                padding, torch.finfo(x.dtype).min)[:, None, None, :]
        count = len(w.layers)
        found: dict[int, torch.Tensor] = {}
        for number, layer in enumerate(w.layers[: max(layers)], start=1):
            x = layer(x, mask)
            if number in layers:
                found[number] = w.layer_norm(x) if number == count else nn.functional.layer_norm(x, x.shape[-1:])
        return torch.stack([found[number] for number in layers], dim=2)

    def final(self, window: torch.Tensor) -> torch.Tensor:
        """The last layer's frames ``(frames, d_model)`` of one window ``(n_mels, frames)``: what the decoder reads."""
        device = self.whisper.conv1.weight.device
        return self.states(window.unsqueeze(0).to(device), [len(self.whisper.layers)])[0, :, 0]

    def encode(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """Encode one clip's windows (each ``(n_mels, frames)``) and concatenate them along time."""
        device = self.whisper.conv1.weight.device
        outputs: list[torch.Tensor] = []
        # Windows of equal length (every full 30 s window) run as one batch.
        start = 0
        while start < len(windows):
            end = start
            while end < len(windows) and windows[end].shape[-1] == windows[start].shape[-1]:
                end += 1
            batch = torch.stack(windows[start:end]).to(device)
            outputs.extend(self(batch))
            start = end
        return torch.cat(outputs, dim=0)

    def encode_together(self, clips: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Encode several clips' windows in one forward (inference): windows zero-padded to the longest, the padding
        masked out of attention, so each clip's frames are :meth:`encode`'s to float rounding. Training encodes clip
        by clip (:meth:`encode`), so every rank of a sharded run calls the encoder alike."""
        windows = [window for clip in clips for window in clip]
        device = self.whisper.conv1.weight.device
        longest = max(w.shape[-1] for w in windows)
        # Zero padding is what each window's own convolutions saw past its end, so its frames do not change.
        mels = torch.stack([nn.functional.pad(w, (0, longest - w.shape[-1])) for w in windows]).to(device)
        lengths = [w.shape[-1] // 2 for w in windows]  # Whisper's second convolution halves the frames
        padded = len(set(lengths)) > 1
        states = self.states(mels, self.layers, torch.tensor(lengths, device=device) if padded else None)
        states = states[:, :, 0] if len(self.layers) == 1 else states
        frames = [row[:n] for row, n in zip(states, lengths)]
        out, start = [], 0
        for clip in clips:
            out.append(torch.cat(frames[start:start + len(clip)], dim=0))
            start += len(clip)
        return out
