"""Quiet dependencies: their warnings, log lines and weight-loading bars stay hidden unless asked for (``-v``).

Called first thing by every entry point, before transformers, bitsandbytes or DeepSpeed is imported (the first two
read their settings from the environment at import). Our own progress bars use tqdm directly and stay; so do
errors from anyone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

# Set in the environment, so processes started under a launcher (deepspeed, torchrun) are as quiet as their parent.
VERBOSE_ENV = "AUDIOLLM_VERBOSE"
# Dependencies that log warnings we cannot act on (a missing optional kernel, DeepSpeed's accelerator guess).
NOISY_LOGGERS = ("bitsandbytes", "kernels", "DeepSpeed", "torch.distributed", "accelerate", "peft", "httpx")
VERBOSE_FLAGS = ("-v", "--verbose")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def set_verbosity(loud: bool) -> None:
    """Show everything (``loud``), or only what dependencies say at ERROR and above."""
    if loud or verbose():
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # transformers draws its "Loading weights" bars with huggingface_hub's switch.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    # Already imported (a Python session that loaded a model before calling the CLI): they read the environment
    # only at import, so switch them off directly.
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    # Filters are matched newest first: dependencies' warnings are ignored, ours are shown.
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"audiollm(\.|$)")
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        # DeepSpeed resets its logger's level when it is imported; a filter survives that.
        logger.addFilter(lambda record: record.levelno >= logging.ERROR)


def quiet_unless_verbose(argv: Sequence[str] | None = None) -> None:
    """A script's first call, before it imports a dependency: quiet unless ``argv`` (default: the command line)
    holds ``-v`` or ``--verbose``."""
    set_verbosity(any(arg in VERBOSE_FLAGS for arg in (sys.argv[1:] if argv is None else argv)))


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """The ``-v`` that :func:`quiet_unless_verbose` reads, so that the script's parser accepts it."""
    parser.add_argument(*VERBOSE_FLAGS, action="store_true", help="show dependencies' warnings, logs and bars")


@contextlib.contextmanager
def hushed_stdout() -> Iterator[None]:
    """Swallow what a dependency prints (DeepSpeed announces each op it builds), unless verbose."""
    if verbose():
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield
