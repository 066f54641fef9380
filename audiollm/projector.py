"""Projectors from Whisper frames to LLM embeddings, and the one function that counts audio tokens."""

from __future__ import annotations

import math

import torch
from torch import nn

from .audio import encoder_frames, window_lengths
from .config import EncoderConfig, ProjectorConfig


class Projector(nn.Module):
    """Maps ``(frames, encoder_dim)`` to ``(output_length(frames), llm_dim)``.

    With ``encoder_layers`` above 1 it reads ``(frames, encoder_layers, encoder_dim)`` and first mixes the layers
    with learned softmax weights (starting equal), saved with the projector as ``layer_weights``.
    """

    def __init__(self, cfg: ProjectorConfig, encoder_layers: int = 1):
        super().__init__()
        self.cfg = cfg
        self.layer_weights = nn.Parameter(torch.zeros(encoder_layers)) if encoder_layers > 1 else None

    def output_length(self, frames: int) -> int:
        return projector_output_length(frames, self.cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.mix(x))

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer_weights is None:
            return x
        if x.dim() != 3 or x.shape[1] != self.layer_weights.shape[0]:
            raise ValueError(f"the projector mixes {self.layer_weights.shape[0]} encoder layers; got frames of "
                             f"shape {tuple(x.shape)}")
        return torch.einsum("fld,l->fd", x, self.layer_weights.softmax(0).to(x.dtype))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def num_audio_tokens(num_samples: int, encoder: EncoderConfig, projector: ProjectorConfig) -> int:
    """Audio tokens a clip of ``num_samples`` (16 kHz) becomes: the processor and the model both use this."""
    frames = sum(encoder_frames(n, encoder.pad_to_30s) for n in window_lengths(num_samples))
    return projector_output_length(frames, projector)


def projector_output_length(frames: int, cfg: ProjectorConfig) -> int:
    if cfg.type == "qformer":
        return math.ceil(frames / cfg.window_frames) * cfg.num_queries
    return math.ceil(frames / cfg.stack)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class LinearProjector(Projector):
    """Average-pool ``stack`` frames, then one linear layer (Qwen2-Audio)."""

    def __init__(self, cfg: ProjectorConfig, encoder_dim: int, llm_dim: int, encoder_layers: int = 1):
        super().__init__(cfg, encoder_layers)
        self.norm = nn.LayerNorm(encoder_dim)
        self.linear = nn.Linear(encoder_dim, llm_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        # ceil_mode keeps the trailing partial group, averaged over the frames it has.
        pooled = nn.functional.avg_pool1d(x.T.unsqueeze(0), self.cfg.stack, self.cfg.stack, ceil_mode=True)
        return self.linear(self.norm(pooled[0].T))


class MLPProjector(Projector):
    """Stack ``stack`` consecutive frames, RMSNorm, SwiGLU MLP, RMSNorm (Ultravox)."""

    def __init__(self, cfg: ProjectorConfig, encoder_dim: int, llm_dim: int, encoder_layers: int = 1):
        super().__init__(cfg, encoder_layers)
        stacked = encoder_dim * cfg.stack
        self.ln_pre = RMSNorm(stacked)
        self.linear_1 = nn.Linear(stacked, cfg.hidden_size, bias=False)
        self.linear_2 = nn.Linear(cfg.hidden_size // 2, llm_dim, bias=False)
        self.ln_post = RMSNorm(llm_dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        frames, dim = x.shape
        k = self.cfg.stack
        padded = nn.functional.pad(x, (0, 0, 0, -frames % k))
        stacked = padded.reshape(-1, k * dim)
        gate, value = self.linear_1(self.ln_pre(stacked)).chunk(2, dim=-1)
        hidden = self.dropout(nn.functional.silu(gate) * value)
        return self.ln_post(self.linear_2(hidden))


class QFormerProjector(Projector):
    """Window-level Q-Former (SALMONN): learnable queries cross-attend to each ~0.33 s window of frames."""

    def __init__(self, cfg: ProjectorConfig, encoder_dim: int, llm_dim: int, encoder_layers: int = 1):
        super().__init__(cfg, encoder_layers)
        self.ln_audio = nn.LayerNorm(encoder_dim)
        self.audio_in = nn.Linear(encoder_dim, cfg.qformer_dim)
        self.queries = nn.Parameter(torch.randn(cfg.num_queries, cfg.qformer_dim) * 0.02)
        self.window_pos = nn.Parameter(torch.randn(cfg.window_frames, cfg.qformer_dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(
                cfg.qformer_dim,
                cfg.qformer_heads,
                dim_feedforward=4 * cfg.qformer_dim,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.qformer_layers)
        )
        self.ln_out = nn.LayerNorm(cfg.qformer_dim)
        self.out = nn.Linear(cfg.qformer_dim, llm_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        frames, _ = x.shape
        size = self.cfg.window_frames
        windows = math.ceil(frames / size)
        memory = self.audio_in(self.ln_audio(x))
        memory = nn.functional.pad(memory, (0, 0, 0, windows * size - frames)).reshape(windows, size, -1)
        memory = memory + self.window_pos
        padding = torch.arange(windows * size, device=x.device).reshape(windows, size) >= frames
        queries = self.queries.expand(windows, -1, -1)
        for layer in self.layers:
            queries = layer(queries, memory, memory_key_padding_mask=padding)
        return self.out(self.ln_out(queries)).reshape(windows * self.cfg.num_queries, -1)


PROJECTORS: dict[str, type[Projector]] = {"linear": LinearProjector, "mlp": MLPProjector, "qformer": QFormerProjector}


def build_projector(cfg: ProjectorConfig, encoder_dim: int, llm_dim: int, encoder_layers: int = 1) -> Projector:
    return PROJECTORS[cfg.type](cfg, encoder_dim, llm_dim, encoder_layers)
