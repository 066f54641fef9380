"""GGUF (llama.cpp) causal LM -> transformers safetensors directory.

transformers reads GGUF (with the ``gguf`` package) and dequantizes it to float32, but a GGUF-loaded model cannot
``save_pretrained`` (it still remembers its GGUF origin), so the model is rebuilt from its config, given the
dequantized state dict, and saved. The tokenizer, with the chat template stored in the GGUF, is saved beside it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from unittest import mock

import torch

from ...quiet import verbose
from ..errors import WeightsError

MAGIC = b"GGUF"


def convert(gguf_file: Path, out: Path) -> None:
    """Write the model and tokenizer of ``gguf_file`` as a transformers directory ``out``."""
    import transformers.modeling_gguf_pytorch_utils as gguf_reader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # transformers draws its de-quantizing bar with tqdm itself, past its own progress-bar switch.
    quiet_bar = mock.patch.object(gguf_reader, "tqdm", functools.partial(gguf_reader.tqdm, disable=not verbose()))
    with gguf_file.open("rb") as stream:
        if stream.read(4) != MAGIC:
            raise WeightsError(f"{gguf_file}: not a GGUF file (it does not start with {MAGIC!r})")
    try:
        check_complete(gguf_file)
        with quiet_bar:
            tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
            loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name,
                                                          dtype=torch.float32)
    except WeightsError:
        raise
    except Exception as exc:  # the gguf parser fails in many ways on a bad file; name the file
        raise WeightsError(f"{gguf_file}: unreadable GGUF model ({type(exc).__name__}: {exc})") from exc
    if tokenizer.chat_template is None:
        raise WeightsError(f"{gguf_file}: the GGUF holds no chat template; audiollm needs an instruct/chat model")
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def check_complete(gguf_file: Path) -> None:
    """Raise when the file is shorter than its own tensor table says (a truncated download or copy)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(gguf_file)
    except Exception as exc:  # as above
        raise WeightsError(f"{gguf_file}: truncated or corrupt GGUF file ({type(exc).__name__}: {exc})") from exc
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    size = gguf_file.stat().st_size
    if end > size:
        raise WeightsError(f"{gguf_file}: truncated GGUF ({size} bytes, its tensors need {end})")
