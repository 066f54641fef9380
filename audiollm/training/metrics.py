"""Training metrics: a long-format CSV (step, name, value), TensorBoard scalars, and loss-curve PNGs at the end."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

METRICS_CSV = "metrics.csv"
LOSS_PNG = "loss.png"


class MetricsLogger:
    """Appends to ``metrics.csv`` so a resumed run continues the same file; only rank 0 writes."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.out_dir = out_dir
        self.enabled = enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        path = self.out_dir / METRICS_CSV
        new = not path.is_file()
        with path.open("a", newline="") as handle:
            out = csv.writer(handle)
            if new:
                out.writerow(["step", "name", "value"])
            for name, value in values.items():
                out.writerow([step, name, f"{value:.6g}"])
                assert self.writer is not None
                self.writer.add_scalar(name, value, step)
        assert self.writer is not None
        self.writer.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        assert self.writer is not None
        self.writer.close()
        plot_metrics({"": self.out_dir / METRICS_CSV}, self.out_dir / LOSS_PNG)


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``{name: [(step, value), ...]}``; a resumed run's repeated steps keep their latest value."""
    series: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            series[row["name"]][int(row["step"])] = float(row["value"])
    return {name: sorted(points.items()) for name, points in series.items()}


def plot_metrics(runs: dict[str, Path], png_path: Path) -> None:
    """Training loss on the left; dev-set scores (if any) on the right, against the same steps: one curve per run's
    ``metrics.csv`` and metric, named by the run's key when there are several (a soup's seeds; one run's key is "")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {run: read_metrics(path) if path.is_file() else {} for run, path in runs.items()}
    dev = {run: {k: v for k, v in named.items() if k.startswith("dev/")} for run, named in series.items()}
    any_dev = any(dev.values())
    fig, axes = plt.subplots(1, 2 if any_dev else 1, figsize=(11 if any_dev else 6, 4), squeeze=False)
    for run, named in series.items():
        loss = named.get("train/loss", [])
        axes[0][0].plot([s for s, _ in loss], [v for _, v in loss], label=" ".join(filter(None, [run, "train loss"])))
        for name, points in dev[run].items():
            axes[0][1].plot([s for s, _ in points], [v for _, v in points], marker="o",
                            label=" ".join(filter(None, [run, name[4:]])))
    axes[0][0].set(xlabel="step", ylabel="loss", title="training loss")
    if len(runs) > 1:
        axes[0][0].legend()
    if any_dev:
        axes[0][1].set(xlabel="step", title="dev set")
        axes[0][1].legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
