"""``audiollm serve``: the OpenAI-compatible HTTP API (chat completions with audio, transcriptions).

Its flags are the fields of :class:`audiollm.server.settings.ServeConfig`.
"""

from __future__ import annotations

import argparse

from ..server.settings import ServeConfig
from .options import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, ServeConfig)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..model import load_model
    from ..server.app import create_app

    config = config_from_args(ServeConfig, args)
    # Loaded before uvicorn starts, so a model that cannot load is a one-line error, not a startup traceback.
    model = load_model(config.model, device=config.device, dtype=config.dtype)
    uvicorn.run(create_app(config, model), host=config.host, port=config.port, log_level="info")
    return 0
