"""``audiollm train CONFIG.yaml [key=value ...]``: fine-tune on manifests (one process; see train/finetune.py for
launchers)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config YAML (configs/train/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides as dotted key=value, e.g. max_steps=100")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")


def run(args: argparse.Namespace) -> int:
    from ..training.config import load_train_config
    from ..training.soup import train_recipe

    cfg = load_train_config(args.config, args.overrides)  # config errors before anything heavy loads
    train_recipe(cfg, resume=args.resume)
    return 0
