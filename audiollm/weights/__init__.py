"""Model weights: names (:mod:`.names`), where they resolve to (:mod:`.resolve`), the offline packs
(:mod:`.packs`) and the converters from other formats (:mod:`.convert`). Every failure is a
:class:`.errors.WeightsError`. Callers import what they need from here.
"""

from .errors import WeightsError
from .names import guess_kind
from .resolve import cached_model, resolve_model, resolve_saved

__all__ = ["WeightsError", "cached_model", "guess_kind", "resolve_model", "resolve_saved"]
