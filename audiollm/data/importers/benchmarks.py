"""Multiple-choice benchmarks: AIR-Bench Foundation and MMAU (test-mini) JSON. Rows have task ``mcq``, the options
in ``choices`` and in the prompt, the answer as "option (B)", and the benchmark's own task in ``meta.subtask``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..manifest import example_row
from ..starter.instructions import multiple_choice
from .common import ImportResult, finish

AIRBENCH_CHOICES = ("choice_a", "choice_b", "choice_c", "choice_d")


def import_airbench(json_path: str | Path, audio_root: str | Path, out_dir: str | Path) -> ImportResult:
    """AIR-Bench Foundation (``Foundation_meta.json``): audio at ``audio_root/{task_name}_{dataset_name}/{path}``
    (or ``audio_root/{path}``); options ``choice_a``..``choice_d`` (fewer for some tasks); answer ``answer_gt``."""
    items, audio_root = _load(json_path), Path(audio_root)
    rows, skipped = [], []
    for i, item in enumerate(items):
        try:
            task, dataset = str(item["task_name"]), str(item.get("dataset_name", ""))
            audio = _existing(audio_root / f"{task}_{dataset}" / str(item["path"]), audio_root / str(item["path"]))
            options = [str(item[k]).strip() for k in AIRBENCH_CHOICES if item.get(k) not in (None, "")]
            prompt, answer = multiple_choice(str(item["question"]).strip(), options, str(item["answer_gt"]).strip())
        except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
            skipped.append(f"item {i}: {_reason(exc)}")
            continue
        ident = str(item.get("uniq_id", i))
        rows.append(example_row(str(audio), prompt, answer, "mcq", id=ident, choices=options,
                                meta={"benchmark": "air-bench-foundation", "subtask": task, "dataset": dataset}))
    return finish(rows, skipped, Path(out_dir), Path(json_path).stem)


def import_mmau(json_path: str | Path, audio_root: str | Path, out_dir: str | Path) -> ImportResult:
    """MMAU (``mmau-test-mini.json``): ``audio_id`` relative to ``audio_root``, ``choices`` and ``answer`` (the
    option text); ``task`` (sound, music, speech) and ``category`` go to ``meta``."""
    items, audio_root = _load(json_path), Path(audio_root)
    rows, skipped = [], []
    for i, item in enumerate(items):
        try:
            audio = _existing(audio_root / str(item["audio_id"]), audio_root / Path(str(item["audio_id"])).name)
            options = [str(c).strip() for c in item["choices"]]
            prompt, answer = multiple_choice(str(item["question"]).strip(), options, str(item["answer"]).strip())
        except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
            skipped.append(f"item {i}: {_reason(exc)}")
            continue
        meta = {"benchmark": "mmau", "subtask": str(item.get("task", "")), "category": str(item.get("category", "")),
                "sub_category": str(item.get("sub-category", "")), "difficulty": str(item.get("difficulty", ""))}
        rows.append(example_row(str(audio), prompt, answer, "mcq", id=str(item.get("id", i)), choices=options,
                                meta=meta))
    return finish(rows, skipped, Path(out_dir), Path(json_path).stem)


def _load(json_path: str | Path) -> list[dict[str, Any]]:
    path = Path(json_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: benchmark JSON not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a JSON list of objects")
    return data


def _existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"audio not found: {candidates[0]}")


def _reason(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
