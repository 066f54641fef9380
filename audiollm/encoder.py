"""The frozen Whisper encoder, run at each window's own length, long audio window by window."""

from __future__ import annotations

import torch
from torch import nn
from transformers import WhisperConfig, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .config import EncoderConfig


def build_whisper_encoder(cfg: EncoderConfig) -> WhisperEncoder:
    """The transformers Whisper encoder named by ``cfg`` (random dimensions when ``cfg.random`` is set)."""
    if cfg.random is not None:
        dims = cfg.random
        config = WhisperConfig(
            d_model=dims.d_model,
            encoder_layers=dims.layers,
            encoder_attention_heads=dims.heads,
            encoder_ffn_dim=dims.ffn_dim,
            decoder_layers=1,
            num_mel_bins=cfg.n_mels,
            max_source_positions=1500,
            init_std=dims.init_std,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(dims.seed)
            return WhisperEncoder(config)
    from .weights import resolve_model

    path = resolve_model(cfg.name or "", kind="whisper")
    model = WhisperModel.from_pretrained(path)
    encoder = model.get_encoder()
    if encoder.config.num_mel_bins != cfg.n_mels:
        raise ValueError(f"encoder {cfg.name} expects {encoder.config.num_mel_bins} mel bins, config says {cfg.n_mels}")
    return encoder


class FrozenWhisperEncoder(nn.Module):
    """Whisper's encoder, frozen, accepting any mel length up to 30 s per window.

    transformers' ``WhisperEncoder.forward`` insists on 3000 mel frames; the frozen encoder runs its own modules
    instead, slicing the positional embeddings to the window's length, so a 2 s clip costs 2 s of compute.
    """

    def __init__(self, whisper: WhisperEncoder):
        super().__init__()
        self.whisper = whisper
        self.whisper.requires_grad_(False)
        self.whisper.eval()

    @property
    def hidden_size(self) -> int:
        return self.whisper.config.d_model

    def train(self, mode: bool = True) -> FrozenWhisperEncoder:
        # Frozen means frozen: dropout stays off even while the rest of the model trains.
        super().train(mode)
        self.whisper.eval()
        return self

    @torch.no_grad()
    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """``mels`` ``(batch, n_mels, frames)`` with even ``frames`` <= 3000 -> ``(batch, frames // 2, d_model)``."""
        w = self.whisper
        dtype = w.conv1.weight.dtype
        x = nn.functional.gelu(w.conv1(mels.to(dtype)))
        x = nn.functional.gelu(w.conv2(x)).permute(0, 2, 1)
        x = x + w.embed_positions.weight[: x.shape[1]]
        for layer in w.layers:
            x = layer(x, None)
        return w.layer_norm(x)

    def encode(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """Encode one clip's windows (each ``(n_mels, frames)``) and concatenate them: ``(total_frames, d)``."""
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
