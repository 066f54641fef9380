"""Reports: per-task and overall tables (JSON and Markdown), the per-row file, bar charts, and comparing two reports.

``write_report(report, rows, "out/report.json")`` writes four files side by side: ``report.json`` (the tables),
``report.md`` (the same for people), ``report.rows.jsonl`` (one line per scored row: prompt, reference, answer,
scores, so failures can be read) and ``report.png`` (each task's headline score). Scores in JSON are fractions
(WER 0.25 = 25 %); Markdown and charts show percent.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache import atomic_file
from .metrics import METRICS, aggregate, task_metrics
from .runner import BadRow, Evaluation, RowResult

NO_TASK = "(none)"


def task_name(task: str | None) -> str:
    return task or NO_TASK


@dataclasses.dataclass
class TaskScores:
    """One task's (or subtask's) rows and each of its metrics over them; ``headline`` names the one it is judged by."""

    rows: int
    headline: str
    metrics: dict[str, float | None]


@dataclasses.dataclass
class OverallScore:
    rows: int
    score: float | None


@dataclasses.dataclass
class Report:
    """An evaluation's tables: per task, per subtask, overall (each metric over every row it scores), bad rows.

    ``settings`` (batch size, generation length...) is recorded as given, so that a run can be repeated.
    """

    model: str
    manifest: str
    settings: dict[str, Any]
    rows: int
    bad: list[BadRow]
    tasks: dict[str, TaskScores]
    subtasks: dict[str, TaskScores]
    overall: dict[str, OverallScore]
    # "family/task" -> scores, for rows whose source family is known (the starter corpus).
    families: dict[str, TaskScores] = dataclasses.field(default_factory=dict)

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return {name: METRICS[name].higher_is_better for name in self.overall}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form :func:`write_report` writes."""
        return {
            "model": self.model,
            "manifest": self.manifest,
            "settings": self.settings,
            "rows": self.rows,
            "bad_rows": len(self.bad),
            "bad": [dataclasses.asdict(bad) for bad in self.bad],
            "tasks": {key: dataclasses.asdict(entry) for key, entry in self.tasks.items()},
            "subtasks": {key: dataclasses.asdict(entry) for key, entry in self.subtasks.items()},
            "overall": {name: dataclasses.asdict(entry) for name, entry in self.overall.items()},
            "families": {key: dataclasses.asdict(entry) for key, entry in self.families.items()},
            "higher_is_better": self.higher_is_better,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        def table(entries: dict[str, Any]) -> dict[str, TaskScores]:
            return {key: TaskScores(e["rows"], e["headline"], e["metrics"]) for key, e in entries.items()}

        return cls(
            model=data["model"],
            manifest=data["manifest"],
            settings=data["settings"],
            rows=data["rows"],
            bad=[BadRow(b["line"], b["id"], b["reason"]) for b in data["bad"]],
            tasks=table(data["tasks"]),
            subtasks=table(data["subtasks"]),
            overall={name: OverallScore(e["rows"], e["score"]) for name, e in data["overall"].items()},
            families=table(data.get("families", {})),  # reports written before the family table have none
        )


def summarize(evaluation: Evaluation, model: str, manifest: str, settings: dict[str, Any] | None = None) -> Report:
    """The report of an evaluation of ``model`` on ``manifest``."""
    by_task: dict[str, list[RowResult]] = {}
    by_subtask: dict[str, list[RowResult]] = {}
    by_family: dict[str, list[RowResult]] = {}
    for row in evaluation.rows:
        if row.family:
            by_family.setdefault(f"{row.family}/{task_name(row.task)}", []).append(row)
        by_task.setdefault(task_name(row.task), []).append(row)
        if row.subtask:
            by_subtask.setdefault(f"{task_name(row.task)}/{row.subtask}", []).append(row)
    overall: dict[str, OverallScore] = {}
    for name in METRICS:
        tallies = [row.scores[name] for row in evaluation.rows if name in row.scores]
        if tallies:
            overall[name] = OverallScore(len(tallies), aggregate(tallies))
    return Report(model, manifest, settings or {}, len(evaluation.rows), list(evaluation.bad_rows), _table(by_task),
                  _table(by_subtask), overall, _table(by_family))


def _table(groups: dict[str, list[RowResult]]) -> dict[str, TaskScores]:
    table: dict[str, TaskScores] = {}
    for key, rows in sorted(groups.items()):
        names = task_metrics(rows[0].task)
        table[key] = TaskScores(len(rows), names[0], {name: aggregate([row.scores[name] for row in rows])
                                                      for name in names})
    return table


def read_row_records(path: str | Path) -> list[dict[str, Any]]:
    """The rows a report's ``.rows.jsonl`` holds, as :func:`row_record` wrote them."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def row_record(row: RowResult) -> dict[str, Any]:
    return {
        "line": row.line,
        "id": row.id,
        "task": row.task,
        "subtask": row.subtask,
        "audio": row.audio,
        "prompt": row.prompt,
        "choices": row.choices,
        "reference": row.reference,
        "answer": row.answer,
        "scores": {name: tally.score for name, tally in row.scores.items()},
    }


def report_paths(out: str | Path) -> dict[str, Path]:
    """Where :func:`write_report` puts each file, next to ``out`` (the JSON)."""
    out = Path(out)
    return {
        "json": out,
        "markdown": out.with_suffix(".md"),
        "rows": out.with_suffix(".rows.jsonl"),
        "chart": out.with_suffix(".png"),
    }


def write_report(report: Report, rows: Sequence[RowResult], out: str | Path) -> dict[str, Path]:
    """Write the JSON, Markdown, per-row JSONL and bar chart; returns their paths."""
    paths = report_paths(out)
    with atomic_file(paths["json"]) as scratch:
        scratch.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with atomic_file(paths["markdown"]) as scratch:
        scratch.write_text(markdown(report), encoding="utf-8")
    with atomic_file(paths["rows"]) as scratch, scratch.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row_record(row), ensure_ascii=False) + "\n")
    headline = {task: (e.headline, e.metrics[e.headline]) for task, e in report.tasks.items()}
    with atomic_file(paths["chart"]) as scratch:
        bar_chart(headline, f"{report.model} on {Path(report.manifest).name}", scratch)
    return paths


def read_report(path: str | Path) -> Report:
    """A report written by :func:`write_report`; a file that is not one raises ``ValueError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: report not found")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON report ({exc.msg})") from exc
    try:
        return Report.from_dict(report)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an evaluation report written by audiollm eval (no {exc})") from exc


# ---- Markdown -----------------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _metric_label(name: str) -> str:
    return name if METRICS[name].higher_is_better else f"{name} ↓"


def _markdown_table(table: dict[str, TaskScores], first_column: str) -> list[str]:
    names = [name for name in METRICS if any(name in entry.metrics for entry in table.values())]
    lines = [
        f"| {first_column} | rows | " + " | ".join(_metric_label(n) for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for key, entry in table.items():
        cells = []
        for name in names:
            cell = _percent(entry.metrics[name]) if name in entry.metrics else ""
            cells.append(f"**{cell}**" if name == entry.headline else cell)
        lines.append(f"| {key} | {entry.rows} | " + " | ".join(cells) + " |")
    return lines


def markdown(report: Report) -> str:
    lines = [
        f"# Evaluation: {report.model} on {report.manifest}",
        "",
        f"{report.rows} rows scored; {len(report.bad)} bad rows excluded. Scores in percent; "
        "↓ marks a metric where lower is better; the headline metric of each task is in bold.",
        "",
        "Settings: " + (", ".join(f"{k}={v}" for k, v in report.settings.items()) or "none recorded"),
        "",
        "## Per task",
        "",
        *_markdown_table(report.tasks, "task"),
    ]
    if report.subtasks:
        lines += ["", "## Per subtask (the benchmark's own tasks)", "", *_markdown_table(report.subtasks, "subtask")]
    if report.families:
        lines += ["", "## Per source family", "", *_markdown_table(report.families, "family/task")]
    lines += ["", "## Overall (each metric over every row it scores)", ""]
    lines += ["| metric | rows | score |", "|---|---:|---:|"]
    for name, entry in report.overall.items():
        lines.append(f"| {_metric_label(name)} | {entry.rows} | {_percent(entry.score)} |")
    if report.bad:
        lines += ["", "## Bad rows (excluded)", ""]
        for bad in report.bad:
            ident = f" (id {bad.id})" if bad.id else ""
            lines.append(f"- line {bad.line}{ident}: {bad.reason}")
    return "\n".join(lines) + "\n"


# ---- charts -------------------------------------------------------------------------------------------------


def _bars(labels: list[str], values: list[float | None], colors: list[str], ylabel: str, title: str,
          path: Path, signed: bool = False) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend needed

    heights = [0.0 if v is None else 100 * v for v in values]
    texts = ["–" if v is None else f"{100 * v:+.1f}" if signed else _percent(v) for v in values]
    figure = Figure(figsize=(max(4.0, 0.9 * len(labels) + 1.5), 4.0), layout="constrained")
    axes = figure.subplots()
    axes.bar_label(axes.bar(labels, heights, color=colors), labels=texts, fontsize=8)
    if signed:
        axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.tick_params(axis="x", labelsize=8)
    figure.savefig(path, format="png", dpi=120)


def bar_chart(scores: dict[str, tuple[str, float | None]], title: str, path: Path) -> None:
    """One bar per task: its headline metric in percent, labelled with the metric's name."""
    labels = [f"{task}\n{_metric_label(name)}" for task, (name, _) in scores.items()]
    values = [value for _, value in scores.values()]
    _bars(labels, values, ["tab:blue"] * len(labels), "score (%)", title, path)


# ---- comparing two reports ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Delta:
    task: str
    metric: str
    before: float | None
    after: float | None
    headline: bool

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def improved(self) -> bool | None:
        change = self.change
        if change is None or change == 0:
            return None
        return (change > 0) == METRICS[self.metric].higher_is_better


def compare(before: Report, after: Report) -> list[Delta]:
    """Every task metric in either report, before and after; a task or metric one report lacks shows ``None``."""
    deltas: list[Delta] = []
    for task in sorted(set(before.tasks) | set(after.tasks)):
        entry_a, entry_b = before.tasks.get(task), after.tasks.get(task)
        metrics_a = entry_a.metrics if entry_a else {}
        metrics_b = entry_b.metrics if entry_b else {}
        headline = (entry_b or before.tasks[task]).headline
        for name in [n for n in METRICS if n in metrics_a or n in metrics_b]:
            deltas.append(Delta(task, name, metrics_a.get(name), metrics_b.get(name), name == headline))
    return deltas


def format_comparison(deltas: Sequence[Delta], before: str, after: str) -> str:
    """A Markdown table of the deltas in percentage points, marking which are better and which worse."""
    lines = [
        f"A = {before}",
        f"B = {after}",
        "",
        "| task | metric | A | B | B − A | |",
        "|---|---|---:|---:|---:|---|",
    ]
    for d in deltas:
        change = "–" if d.change is None else f"{100 * d.change:+.1f}"
        verdict = {True: "better", False: "worse", None: ""}[d.improved]
        metric = f"**{_metric_label(d.metric)}**" if d.headline else _metric_label(d.metric)
        lines.append(f"| {d.task} | {metric} | {_percent(d.before)} | {_percent(d.after)} | {change} | {verdict} |")
    return "\n".join(lines) + "\n"


def comparison_chart(deltas: Sequence[Delta], title: str, path: Path) -> None:
    """Each task's headline change in percentage points: green where B is better, red where worse."""
    shown = [d for d in deltas if d.headline]
    labels = [f"{d.task}\n{_metric_label(d.metric)}" for d in shown]
    colors = ["tab:green" if d.improved else "tab:red" if d.improved is False else "tab:gray" for d in shown]
    _bars(labels, [d.change for d in shown], colors, "B − A (percentage points)", title, path, signed=True)
