"""Products ``x @ weight.T + bias`` of a few rows against a large weight, as inference on the CPU computes them.

Decoding one token at a time multiplies a row or a few by every weight, so a token costs what reading the weights
costs. On 2 cores of an AMD EPYC, MKL's products (what ``F.linear`` calls) read a weight at 9 to 14 GB/s, oneDNN's
at 13 to 21 GB/s (CTranslate2 uses oneDNN there too). The two sum in different orders, so results may differ in
the last bit; ``bench/latency.py`` and the tests compare the answers that come out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ONEDNN = torch.backends.mkldnn.is_available()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias`` for ``x`` of shape ``(rows, in)``: through oneDNN for float32 on the CPU (on the
    weight as it is, no packed copy), else ``F.linear``. Where the weight lives is read at each call, so a model
    moved after this was chosen still gets the right kernel."""
    if ONEDNN and weight.dtype == torch.float32 and weight.device.type == "cpu":
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)
