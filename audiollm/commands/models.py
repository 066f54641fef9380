"""``audiollm models list | fetch NAME | path NAME``: base weights from the hub, local files or offline packs."""

from __future__ import annotations

import argparse
import time

from . import HelpFormatter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="the released model, known base names, their offline packs and what is here")
    for action, help_text in (("fetch", "make NAME available (download or convert once) and print its directory"),
                              ("path", "print NAME's directory if it is available, without fetching")):
        child = sub.add_parser(action, help=help_text, formatter_class=HelpFormatter)
        child.add_argument("name", help="a known name (see 'list'), a Hugging Face repository id, or a local path")
        child.add_argument("--kind", choices=("whisper", "llm"), default=None,
                           help="what NAME is (default: guessed from the name)")


def run(args: argparse.Namespace) -> int:
    from ..weights import cached_model, resolve_model

    if args.action == "list":
        return _list()
    if args.action == "path":
        path = cached_model(args.name)
        if path is None:
            raise ValueError(f"{args.name} is not available here yet; run: audiollm models fetch {args.name}")
        print(path)
        return 0
    start = time.perf_counter()
    path = resolve_model(args.name, kind=args.kind or guess_kind(args.name))
    print(path)
    print(f"fetched {args.name} in {time.perf_counter() - start:.2f} s")
    return 0


def guess_kind(name: str):
    from ..packs import find_pack

    pack = find_pack(name)
    if pack is not None:
        return "whisper" if pack.format == "ctranslate2" else "llm"
    return "whisper" if "whisper" in name.lower() else "llm"


def _list() -> int:
    from ..config import AudioLLMConfig
    from ..model import CONFIG_FILE, RELEASED_DIR
    from ..packs import PACKS, is_installed
    from ..weights import cached_model

    released = RELEASED_DIR / "default"
    bases = AudioLLMConfig.from_yaml(released / CONFIG_FILE)
    print("default: the released model (--model default)")
    print(f"  at    {released}")
    print(f"  card  {released / 'MODEL_CARD.md'}")
    print(f"  bases {bases.encoder.name} + {bases.llm.name} (below)")
    print()
    print(f"{'BASE WEIGHTS':<24} {'HUB REPOSITORY':<38} {'PACK':<13} {'AVAILABLE AT'}")
    for name, pack in PACKS.items():
        installed = "installed" if is_installed(pack) else "not installed"
        print(f"{name:<24} {pack.repo:<38} {installed:<13} {cached_model(name) or '-'}")
    missing = [pack for pack in PACKS.values() if not is_installed(pack)]
    for pack in missing:
        print(f"offline pack for {pack.name}: {pack.install_command}")
    return 0
