"""Importers: public data sets converted to the manifest format (see :mod:`audiollm.data.manifest`).

- :func:`import_librispeech`: a LibriSpeech directory tree -> ``asr`` rows
- :func:`import_captions`: an AudioCaps or Clotho CSV -> ``caption`` rows
- :func:`import_hf`: a ``datasets`` audio data set (LibriSpeech/AudioCaps/Clotho-style columns)
- :func:`import_airbench`, :func:`import_mmau`: multiple-choice benchmarks -> ``mcq`` rows with ``choices``

Each writes ``OUT/NAME.jsonl`` and returns an :class:`ImportResult` (manifest path, row count, skipped items; the
skipped items are also listed in ``OUT/NAME.skipped.txt``). Items whose audio is missing or unreadable are skipped,
never fatal. Audio paths in the manifest are absolute, except audio an importer writes itself (relative).
"""

from .benchmarks import import_airbench, import_mmau
from .captions import import_captions
from .common import ImportResult
from .hf import import_hf
from .librispeech import import_librispeech

__all__ = ["ImportResult", "import_airbench", "import_captions", "import_hf", "import_librispeech", "import_mmau"]
