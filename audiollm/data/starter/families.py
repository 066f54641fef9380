"""The source family of a starter-corpus row, read from the meta keys its builder writes: what evaluation tables
group by, so synthetic voices, real recordings and music are scored apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def row_family(meta: Mapping[str, Any]) -> str | None:
    """``real speech``, ``music``, ``synthetic voices`` (speech over a background included), ``real sounds``,
    ``recorded words`` or ``sound samples``; None for a row of another corpus."""
    if "speaker" in meta:
        return "real speech"
    if "score" in meta:
        return "music"
    if "voice" in meta:
        return "synthetic voices"
    if "take" in meta:
        return "real sounds"
    if "recording" in meta:
        return "recorded words"
    if "sample" in meta:
        return "sound samples"
    return None
