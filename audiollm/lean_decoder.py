"""The one-token decoding step of a Llama-shaped LLM (Llama, SmolLM2, Qwen2) in plain tensor ops, for inference on
the CPU.

Profiled on 2 CPU cores with the released model, transformers' step spends most of a token in its matmuls, and
the matmul kernel matters most (``audiollm/cpu_products.py``). So each product here goes through oneDNN on the
LLM's own weights (no copy), the KV cache is allocated once for the whole answer, and a layer is about twenty tensor
ops with no module calls, mask building or cache bookkeeping. The prompt is still prefilled by transformers (one
call per answer) and its cache copied in. The other arithmetic is transformers' own, value for value (its RMSNorm,
rotary tables and SDPA); the products' summation order differs in the last bit, and greedy answers stay the same
(``bench/latency.py`` compares them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from .cpu_products import linear

# Architectures whose decoder layer is exactly: RMSNorm, q/k/v (optional bias), rotary, attention, o, residual,
# RMSNorm, SiLU-gated MLP, residual. Mistral and Qwen2 can slide their attention window, which is not done here.
SUPPORTED = ("LlamaForCausalLM", "Qwen2ForCausalLM")

Product = Callable[[torch.Tensor], torch.Tensor]


def _product(weight: torch.Tensor, bias: torch.Tensor | None) -> Product:
    return lambda x: linear(x, weight, bias)


def _fused(layers: list[torch.nn.Linear]) -> Product:
    """One product for ``layers`` that read the same input (q/k/v, gate/up), its output the layers' outputs side by
    side: one larger product a step instead of several small ones. The layers' weights become views of the one
    fused weight, so the model holds them once and transformers' prefill reads the same values."""
    fused = torch.cat([layer.weight.detach() for layer in layers])
    # Llama's attention_bias and mlp_bias, and Qwen2's q/k/v biases, are on every layer of a group or on none.
    fused_bias = None if layers[0].bias is None else torch.cat([layer.bias.detach() for layer in layers])
    start = 0
    for layer in layers:
        end = start + layer.weight.shape[0]
        layer.weight.data = fused[start:end]
        if fused_bias is not None:
            layer.bias.data = fused_bias[start:end]
        start = end
    return _product(fused, fused_bias)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # transformers' LlamaRMSNorm (normalised in float32, cast back, then scaled) in one fused kernel.
    return weight * F.rms_norm(x.to(torch.float32), (x.shape[-1],), eps=eps).to(x.dtype)


def _rotation_signs(d: int, dtype: torch.dtype) -> torch.Tensor:
    """``(d, d)`` of 0 and ±1 with ``x @ signs == rotate_half(x)``: the first half of ``x`` moves to the second,
    the second, negated, to the first."""
    half = d // 2
    signs = torch.zeros(d, d, dtype=dtype)
    signs[torch.arange(half, d), torch.arange(half)] = -1
    signs[torch.arange(half), torch.arange(half, d)] = 1
    return signs


@dataclasses.dataclass(frozen=True)
class _Layer:
    input_norm: torch.Tensor
    post_norm: torch.Tensor
    eps: float
    qkv: Product  # q, k and v side by side
    o: Product
    gate_up: Product  # gate and up side by side
    down: Product


class LeanLlama:
    """One LLM's decoding step; :meth:`start` opens the KV cache of one batch of answers."""

    def __init__(self, llm: PreTrainedModel):
        config = llm.config
        self.llm = llm
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        body = llm.model
        self.layers = []
        for layer in body.layers:
            attention, mlp = layer.self_attn, layer.mlp
            self.layers.append(_Layer(
                layer.input_layernorm.weight, layer.post_attention_layernorm.weight,
                layer.input_layernorm.variance_epsilon, _fused([attention.q_proj, attention.k_proj, attention.v_proj]),
                _product(attention.o_proj.weight, attention.o_proj.bias), _fused([mlp.gate_proj, mlp.up_proj]),
                _product(mlp.down_proj.weight, mlp.down_proj.bias)))
        self.final_norm = body.norm.weight
        self.final_eps = body.norm.variance_epsilon
        self.lm_head = _product(llm.lm_head.weight, llm.lm_head.bias)
        self.embed_tokens = body.embed_tokens
        self.rotary = body.rotary_emb
        self.rotation_signs = _rotation_signs(self.head_dim, llm.dtype)

    @classmethod
    def of(cls, llm: torch.nn.Module) -> LeanLlama | None:
        """The lean step for ``llm``, or None where transformers' own step must run: another architecture, a
        sliding attention window, an activation other than SiLU, quantized weights, or a device other than the CPU."""
        if type(llm).__name__ not in SUPPORTED:
            return None
        if getattr(llm.config, "use_sliding_window", False) or llm.config.hidden_act != "silu":
            return None
        if llm.device.type != "cpu":
            return None
        # A 4-bit or 8-bit LLM holds integer weights; one read from a GGUF pack is dequantized and plain.
        if any(p.dtype not in (torch.float32, torch.bfloat16) for p in llm.parameters()):
            return None
        return cls(llm)

    def start(self, cache: object, attention: torch.Tensor, capacity: int) -> LeanCache:
        """A cache for ``capacity`` positions holding what transformers' prefill left in ``cache`` (its
        ``layers[i].keys`` / ``.values``, ``(rows, kv_heads, length, head_dim)``)."""
        filled = attention.shape[1]
        first = cache.layers[0].keys  # type: ignore[attr-defined]
        shape = (len(self.layers), first.shape[0], self.kv_heads, max(capacity, filled), self.head_dim)
        keys, values = first.new_empty(shape), first.new_empty(shape)
        for i, layer in enumerate(cache.layers):  # type: ignore[attr-defined]
            keys[i, :, :, :filled] = layer.keys
            values[i, :, :, :filled] = layer.values
        return LeanCache(self, keys, values)


class LeanCache:
    """The KV cache of one batch of rows decoding together; calling it runs one step."""

    def __init__(self, model: LeanLlama, keys: torch.Tensor, values: torch.Tensor):
        self.model = model
        self.keys = keys
        self.values = values

    def keep(self, index: torch.Tensor) -> None:
        """Only the rows at ``index`` go on."""
        self.keys = self.keys[:, index]
        self.values = self.values[:, index]

    @torch.inference_mode()
    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(rows, vocab)`` after ``tokens`` ``(rows,)`` at ``position`` ``(rows, 1)``;
        ``attention`` ``(rows, length)`` masks the left padding and includes the new token."""
        m = self.model
        rows, at = tokens.shape[0], attention.shape[1] - 1
        if at >= self.keys.shape[3]:
            raise ValueError(f"the KV cache holds {self.keys.shape[3]} positions; step {at + 1} does not fit")
        h, kv, d = m.heads, m.kv_heads, m.head_dim
        x = m.embed_tokens(tokens)
        cos, sin = m.rotary(x, position)
        # transformers' rotary, q * cos + rotate_half(q) * sin, as a product with the step's signed sines (shared by
        # every layer): three ops a layer instead of six, the same values, since each output is one input times
        # one ±sin and the product adds only zeros to it.
        cos, rotation = cos.view(rows, 1, d), m.rotation_signs * sin.reshape(rows, 1, d)
        # A left-padded row must not attend to its padding; a batch without padding needs no mask.
        mask = None if bool(attention.all()) else attention.bool().view(rows, 1, 1, -1)
        for i, layer in enumerate(m.layers):
            normed = _rms_norm(x, layer.input_norm, layer.eps)
            q, k, v = layer.qkv(normed).split((h * d, kv * d, kv * d), dim=1)
            q, k = q.reshape(rows, h, d), k.reshape(rows, kv, d)
            self.keys[i, :, :, at] = k * cos + torch.bmm(k, rotation)
            self.values[i, :, :, at] = v.reshape(rows, kv, d)
            attended = F.scaled_dot_product_attention(
                (q * cos + torch.bmm(q, rotation)).unsqueeze(2), self.keys[i, :, :, : at + 1],
                self.values[i, :, :, : at + 1], attn_mask=mask, scale=d**-0.5, enable_gqa=True)
            x = x + layer.o(attended.reshape(rows, h * d))
            normed = _rms_norm(x, layer.post_norm, layer.eps)
            gate, up = layer.gate_up(normed).chunk(2, dim=1)
            x = x + layer.down(F.silu(gate) * up)
        return m.lm_head(_rms_norm(x, m.final_norm, m.final_eps))
