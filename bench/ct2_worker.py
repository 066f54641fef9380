"""CTranslate2's greedy decoding in a process of its own, for bench/latency.py.

    python bench/ct2_worker.py CONVERTED_MODEL THREADS

Reads one JSON request a line on stdin, ``{"tokens": [...], "max_length": N}`` (the prompt as token strings), and
writes one JSON line for each: ``{"rate": tokens/s after the first token, "ids": [...]}``. No torch here: in one
process with torch, CTranslate2 and our decoding each ran slower once CTranslate2 had decoded (measured on 2 cores:
CTranslate2 40 -> 22 tokens/s, ours 23 -> 17), and neither is used that way.
"""

from __future__ import annotations

import json
import sys
import time

import ctranslate2


def main() -> None:
    model, threads = sys.argv[1], int(sys.argv[2])
    generator = ctranslate2.Generator(model, device="cpu", intra_threads=threads)
    for line in sys.stdin:
        request = json.loads(line)
        times, ids = [], []
        for step in generator.generate_tokens(request["tokens"], max_length=request["max_length"], sampling_topk=1,
                                              end_token=[]):
            times.append(time.perf_counter())
            ids.append(step.token_id)
        rate = (len(ids) - 1) / (times[-1] - times[0]) if len(ids) > 1 else float("nan")
        print(json.dumps({"rate": rate, "ids": ids}), flush=True)


if __name__ == "__main__":
    main()
