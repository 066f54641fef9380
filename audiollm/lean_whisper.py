"""Whisper's decoder one token at a time in plain tensor ops, for transcription on the CPU.

The prompt (a few tokens) goes through transformers, which also projects the encoder frames into each layer's
cross-attention keys and values; after it, a token of Whisper-base costs reading about 87 MB of decoder weights and
106 MB of output projection (float32), so those products go through oneDNN (``audiollm/cpu_products.py``) and a
layer is a dozen tensor ops with no module calls or cache bookkeeping. The rest is transformers' arithmetic op for
op (its layer norms, the query scaled before attention, SDPA at scale 1, GELU): with transformers' products in
place of oneDNN's it gives transformers' hidden states bit for bit (tests/test_hearing.py checks it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import EncoderDecoderCache
from transformers.models.whisper.modeling_whisper import WhisperDecoder

from .cpu_products import linear

# ``product(x, weight, bias)``: ``x @ weight.T + bias``.
Product = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class _Attention:
    norm: nn.LayerNorm
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    out: nn.Linear
    scaling: float


@dataclasses.dataclass(frozen=True)
class _Layer:
    own: _Attention
    cross: _Attention
    final_norm: nn.LayerNorm
    fc1: nn.Linear
    fc2: nn.Linear
    activation: nn.Module


def _attention(norm: nn.LayerNorm, attention: nn.Module) -> _Attention:
    return _Attention(norm, attention.q_proj, attention.k_proj, attention.v_proj, attention.out_proj, attention.scaling)


def _norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


class LeanWhisperDecoder:
    """Whisper's decoding step; :meth:`start` takes over the cache transformers' prompt pass left. ``product(x,
    weight, bias)`` computes each layer's ``x @ weight.T + bias`` (``F.linear`` gives transformers' own values)."""

    def __init__(self, decoder: WhisperDecoder, product: Product = linear):
        self.decoder = decoder
        self.product = product
        self.heads = decoder.config.decoder_attention_heads
        self.layers = [_Layer(_attention(layer.self_attn_layer_norm, layer.self_attn),
                              _attention(layer.encoder_attn_layer_norm, layer.encoder_attn), layer.final_layer_norm,
                              layer.fc1, layer.fc2, layer.activation_fn)
                       for layer in decoder.layers]

    @classmethod
    def of(cls, decoder: WhisperDecoder) -> LeanWhisperDecoder | None:
        """The lean step, or None where transformers' own step must run: off the CPU or outside float32/bfloat16."""
        weight = decoder.embed_tokens.weight
        if weight.device.type != "cpu" or weight.dtype not in (torch.float32, torch.bfloat16):
            return None
        return cls(decoder)

    def start(self, cache: EncoderDecoderCache, capacity: int) -> LeanWhisperCache:
        """A cache of ``capacity`` positions holding the prompt's self-attention keys and values and every layer's
        cross-attention ones (each ``(1, heads, length, head_dim)`` in transformers' cache)."""
        own, cross = cache.self_attention_cache, cache.cross_attention_cache
        first = own.layers[0].keys
        filled = first.shape[2]
        shape = (len(self.layers), 1, self.heads, max(capacity, filled), first.shape[3])
        keys, values = first.new_empty(shape), first.new_empty(shape)
        for i, layer in enumerate(own.layers):
            keys[i, :, :, :filled] = layer.keys
            values[i, :, :, :filled] = layer.values
        crossed = [(layer.keys, layer.values) for layer in cross.layers]
        return LeanWhisperCache(self, keys, values, crossed, filled)


class LeanWhisperCache:
    """One window's decoding state; calling it with the next token gives the decoder's last hidden state."""

    def __init__(self, model: LeanWhisperDecoder, keys: torch.Tensor, values: torch.Tensor,
                 crossed: list[tuple[torch.Tensor, torch.Tensor]], filled: int):
        self.model = model
        self.keys = keys
        self.values = values
        self.crossed = crossed
        self.length = filled

    @torch.inference_mode()
    def __call__(self, token: int) -> torch.Tensor:
        """The final layer norm's output ``(1, d_model)`` for ``token`` at the next position."""
        m, at = self.model, self.length
        if at >= self.keys.shape[3]:
            raise ValueError(f"the decoder's cache holds {self.keys.shape[3]} positions; step {at + 1} does not fit")
        product, decoder = m.product, m.decoder
        embed = decoder.embed_tokens.weight
        x = embed[token: token + 1] + decoder.embed_positions.weight[at: at + 1]
        for i, layer in enumerate(m.layers):
            own = layer.own
            h = _norm(x, own.norm)
            q = self._heads(product(h, own.q.weight, own.q.bias) * own.scaling)
            self.keys[i, :, :, at] = product(h, own.k.weight, own.k.bias).view(1, m.heads, -1)
            self.values[i, :, :, at] = product(h, own.v.weight, own.v.bias).view(1, m.heads, -1)
            attended = F.scaled_dot_product_attention(q, self.keys[i, :, :, : at + 1], self.values[i, :, :, : at + 1],
                                                      scale=1.0)
            x = x + product(attended.reshape(1, -1), own.out.weight, own.out.bias)
            cross = layer.cross
            h = _norm(x, cross.norm)
            q = self._heads(product(h, cross.q.weight, cross.q.bias) * cross.scaling)
            keys, values = self.crossed[i]
            attended = F.scaled_dot_product_attention(q, keys, values, scale=1.0)
            x = x + product(attended.reshape(1, -1), cross.out.weight, cross.out.bias)
            h = _norm(x, layer.final_norm)
            x = x + product(layer.activation(product(h, layer.fc1.weight, layer.fc1.bias)), layer.fc2.weight,
                            layer.fc2.bias)
        self.length = at + 1
        return _norm(x, decoder.layer_norm)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(1, self.model.heads, 1, -1)
