#!/usr/bin/env bash
# On a machine with one GPU, in under 8 minutes: training samples/s, peak memory and MFU of a Whisper-large-v3-shaped
# encoder + a 7B Llama-shaped LLM with LoRA (random weights, no download) under DeepSpeed ZeRO-2, with and without
# gradient checkpointing; then time to first token and tokens/s of the same shapes in bf16.
#
#     bench/gpu_check.sh            # the real shapes (needs a GPU with ~80 GB for ZeRO-2 training of a 7B base)
#     bench/gpu_check.sh tiny       # the same steps on tiny shapes: runs on a CPU in a minute or two
#
# Each part runs in its own process (a 7B model's memory is given back between parts) under a time limit, so one
# part that stalls cannot eat the budget of the others.
set -euo pipefail
shapes="${1:-large}"
here="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
# Seconds per part: three parts fit in 8 minutes on a GPU; a busy CPU running the tiny shapes may need more.
limit="${GPU_CHECK_LIMIT:-150}"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "no GPU: $(nproc) CPU cores"
fi
run() { timeout "$limit" python3 "$here/bench/gpu_check.py" "$@" --shapes "$shapes" || echo "$* --shapes $shapes: failed or over ${limit}s (exit $?)"; }
start=$SECONDS
run train
run train --checkpointing
run infer
echo "gpu_check: $((SECONDS - start)) s"
