"""Run the Gradio demo; the same as ``audiollm demo`` (``python infer/demo.py --help``)."""

import sys

from audiollm.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
