"""bench/gpu_check.sh on tiny shapes: every part (ZeRO-2 training with and without checkpointing, bf16 inference)
runs to its figures on a machine without a GPU, so the script a GPU machine runs is known to work."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT

pytest.importorskip("deepspeed")


def test_gpu_check_runs_every_part_on_tiny_shapes_and_prints_its_figures():
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "tiny"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "GPU_CHECK_LIMIT": "300"}, check=False)
    out = done.stdout
    assert done.returncode == 0 and "failed or over" not in out, (out + done.stderr)[-3000:]
    trained = re.findall(r"([\d.]+) samples/s .* peak memory ([\d.]+) GiB .* loss ([\d.]+)", out)
    assert len(trained) == 2 and all(float(rate) > 0 and float(loss) > 0 for rate, _, loss in trained), out
    assert "checkpointing=off" in out and "checkpointing=on" in out
    inferred = re.search(r"first token (\d+) ms .* decode ([\d.]+) tokens/s", out)
    assert inferred and int(inferred[1]) > 0 and float(inferred[2]) > 0, out
