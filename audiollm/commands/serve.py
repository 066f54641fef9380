"""``audiollm serve``: the OpenAI-compatible HTTP API (chat completions with audio, transcriptions).

Its flags are the fields of :class:`audiollm.server.settings.ServeConfig`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from ..server.settings import API_KEY_ENV, ServeConfig
from .options import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, ServeConfig)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..model import load_model
    from ..server.app import create_app

    if args.api_key is None:
        args.api_key = os.environ.get(API_KEY_ENV) or None
    config = config_from_args(ServeConfig, args)
    if config.api_key is None and not is_loopback(config.host):
        print(f"audiollm serve: warning: {config.host} is reachable from other machines and no API key is asked; "
              f"set {API_KEY_ENV} (or --api-key) to require one", file=sys.stderr)
    # Loaded before uvicorn starts, so a model that cannot load is a one-line error, not a startup traceback.
    model = load_model(config.model, device=config.device, dtype=config.dtype)
    uvicorn.run(create_app(config, model), host=config.host, port=config.port, log_level="info")
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
