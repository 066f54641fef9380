"""Serve the OpenAI-compatible HTTP API; the same as ``audiollm serve`` (``python infer/serve.py --help``)."""

import sys

from audiollm.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
