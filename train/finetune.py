"""Fine-tune under a launcher; alone it runs one process like ``audiollm train``.

    deepspeed --num_gpus N train/finetune.py CONFIG.yaml [key=value ...] [--resume]
    torchrun --nproc_per_node N train/finetune.py CONFIG.yaml ...
    accelerate launch --multi_gpu --num_processes N train/finetune.py CONFIG.yaml ...

With a ``deepspeed:`` config (zero2, zero3 or a JSON file) every launcher gets a DeepSpeed engine (gloo on CPU,
nccl on GPU). Libraries' warnings and logs stay hidden unless -v.
"""

from __future__ import annotations

import argparse
import sys

from audiollm.quiet import set_verbosity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    # The deepspeed launcher passes --local_rank; LOCAL_RANK in the environment says the same.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)  # overrides before or after --resume
    set_verbosity(args.verbose)
    # Imported once the verbosity is set: transformers reads it when first imported.
    from audiollm.training.config import load_train_config
    from audiollm.training.soup import train_recipe

    train_recipe(load_train_config(args.config, args.overrides), resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
