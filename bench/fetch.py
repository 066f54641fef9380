"""First fetch (conversion of an offline pack) vs second fetch (cache hit), per model.

    python bench/fetch.py [NAME ...]       # default: every known pack that is installed

Runs against a fresh temporary cache (``AUDIOLLM_CACHE``) with the hub switched off (``HF_HUB_OFFLINE=1``), so the
first fetch really converts; each fetch runs in its own process, as ``audiollm models fetch`` would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.weights import guess_kind, resolve_model
from audiollm.weights.names import PACKS
from audiollm.weights.packs import is_installed


def fetch_seconds(name: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "audiollm.cli", "models", "fetch", name], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def lookup_ms(name: str) -> float:
    """A cache hit inside a running process: what ``AudioLLM.from_config`` pays before loading the weights."""
    start = time.perf_counter()
    resolve_model(name, kind=guess_kind(name))
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("names", nargs="*", default=[name for name, pack in PACKS.items() if is_installed(pack)])
    args = parser.parse_args()
    if not args.names:
        sys.exit("no offline pack is installed; see: audiollm models list")
    with tempfile.TemporaryDirectory() as cache:
        os.environ.update(AUDIOLLM_CACHE=cache, HF_HUB_OFFLINE="1")
        print(f"{'model':<24} {'first fetch (s)':>16} {'second fetch (s)':>17} {'first/second':>13} "
              f"{'in-process hit (ms)':>20}")
        for name in args.names:
            first = fetch_seconds(name, dict(os.environ))
            second = fetch_seconds(name, dict(os.environ))
            print(f"{name:<24} {first:>16.2f} {second:>17.2f} {first / second:>12.1f}x {lookup_ms(name):>20.1f}")
    print("(fetch times include starting Python and importing audiollm in a new process)")


if __name__ == "__main__":
    main()
