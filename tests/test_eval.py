"""End to end: ``audiollm eval`` on the tiny model over a tiny manifest, the report's files, and comparing reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiollm import AudioLLM
from audiollm.cli import main
from audiollm.data.manifest import example_row, read_manifest, write_manifest
from audiollm.eval.metrics import Tally
from audiollm.eval.normalize import normalize_answer
from audiollm.eval.report import compare, markdown, read_report, summarize
from audiollm.eval.runner import Evaluation, RowResult, answer_rows, check_rows

from .conftest import TINY_CONFIG


@pytest.fixture
def manifest(tmp_path: Path, wav_file) -> Path:
    clips = [wav_file(0.6, freq) for freq in (300.0, 500.0, 700.0, 900.0)]
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    rows = [
        example_row(str(clips[0]), "Transcribe the speech.", "Hello world, two colours.", "asr", id="asr-1"),
        example_row(str(clips[1]), "Which animal?", "B. dog", "mcq", choices=["A. cat", "B. dog", "C. bird"]),
        example_row(str(clips[2]), "Is there music?", "yes", "yesno"),
        example_row(str(clips[3]), "Describe the sound.", "a high tone plays", "caption"),
        example_row(str(tmp_path / "missing.wav"), "Which key?", "C major", "key", id="gone"),
        example_row(str(tmp_path / "broken.wav"), "Which key?", "C major", "key"),
        example_row([str(clips[0]), str(clips[3])], "Which is higher?", "the second", "compare"),
        example_row(str(clips[1]), "What is it?", "a tone", "made_up_task"),
        example_row(str(clips[2]), "Which one?", "B. dog", "mcq"),  # no choices: its reference cannot be scored
    ]
    path = tmp_path / "test.jsonl"
    write_manifest(rows, path)
    return path


def test_eval_command_writes_the_report(manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "report.json"
    code = main(["eval", "--model", str(TINY_CONFIG), "--manifest", str(manifest), "--out", str(out),
                 "--batch-size", "3", "--max-new-tokens", "6"])
    assert code == 0
    report = json.loads(out.read_text())

    # Rows with missing or unreadable audio, or a reference their metric cannot read: counted, named, left out.
    assert report["rows"] == 6
    assert report["settings"] == {"batch_size": 3, "max_new_tokens": 6, "decoding": "greedy"}
    assert report["bad_rows"] == 3
    reasons = {bad["line"]: bad["reason"] for bad in report["bad"]}
    assert "missing.wav: file not found" in reasons[5]
    assert "broken.wav: not a readable audio file" in reasons[6]
    assert "needs its 'choices'" in reasons[9]
    assert report["bad"][0]["id"] == "gone"

    tasks = report["tasks"]
    assert set(tasks) == {"asr", "mcq", "yesno", "caption", "compare", "made_up_task"}
    assert tasks["asr"]["headline"] == "wer" and set(tasks["asr"]["metrics"]) == {"wer", "cer"}
    assert tasks["mcq"]["metrics"].keys() == {"choice"}
    assert tasks["yesno"]["metrics"].keys() == {"yesno"}
    assert tasks["caption"]["metrics"].keys() == {"bleu", "rouge_l", "keyword_recall"}
    assert tasks["made_up_task"]["metrics"].keys() == {"exact", "contains"}
    for entry in tasks.values():
        assert entry["rows"] == 1
        assert all(value is not None and value >= 0 for value in entry["metrics"].values())
    assert tasks["compare"]["metrics"].keys() == {"compare"}
    assert report["overall"]["exact"]["rows"] == 1  # made_up_task falls back to exact/contains
    assert report["subtasks"] == {}
    assert report["higher_is_better"]["wer"] is False and report["higher_is_better"]["exact"] is True

    rows = [json.loads(line) for line in out.with_suffix(".rows.jsonl").read_text().splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4, 7, 8]
    first = rows[0]
    assert first["prompt"].startswith("user: [audio: ") and first["prompt"].endswith("Transcribe the speech.")
    assert first["reference"] == "Hello world, two colours."
    assert isinstance(first["answer"], str) and set(first["scores"]) == {"wer", "cer"}
    assert rows[4]["audio"][1].endswith("900-0.6s-16000.wav")  # both clips of the compare row

    written = out.with_suffix(".md").read_text()
    assert "| asr | 1 |" in written and "3 bad rows excluded" in written
    assert "batch_size=3" in written and "missing.wav" in written
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote " in capsys.readouterr().out


def test_per_task_scores_the_first_rows_of_each_task(tmp_path: Path, wav_file) -> None:
    clip = str(wav_file(0.5))
    rows = [example_row(clip, "Is there music?", "yes", "yesno", id=f"yn-{i}") for i in range(3)]
    rows += [example_row(clip, "Describe it.", "a tone", "caption", id=f"cap-{i}") for i in range(3)]
    manifest = tmp_path / "many.jsonl"
    write_manifest(rows[::2] + rows[1::2], manifest)  # yn-0 yn-2 cap-1 yn-1 cap-0 cap-2
    out = tmp_path / "report.json"
    assert main(["eval", "--model", str(TINY_CONFIG), "--manifest", str(manifest), "--out", str(out),
                 "--per-task", "2", "--max-new-tokens", "2"]) == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 4 and report["settings"]["per_task"] == 2
    assert {task: entry["rows"] for task, entry in report["tasks"].items()} == {"yesno": 2, "caption": 2}
    scored = [json.loads(line)["id"] for line in out.with_suffix(".rows.jsonl").read_text().splitlines()]
    assert scored == ["yn-0", "yn-2", "cap-1", "cap-0"]  # the first two of each task, in manifest order


def evaluate(model: AudioLLM, examples: list, **settings: int) -> Evaluation:
    """What ``audiollm eval`` does once its model is loaded: check the rows, answer the good ones."""
    good, bad = check_rows(examples)
    return Evaluation(answer_rows(model, good, **settings), bad)


def _model_with_distinct_answers(examples: list) -> tuple[AudioLLM, list[str]]:
    """A random tiny model whose answers to these rows differ once normalised, so a row mix-up cannot go unseen."""
    for seed in range(20):
        torch.manual_seed(seed)
        model = AudioLLM.from_config(TINY_CONFIG)
        answers = [row.answer for row in evaluate(model, examples, batch_size=1, max_new_tokens=6).rows]
        normalised = [normalize_answer(a) for a in answers]
        if all(normalised) and len(set(normalised)) == len(answers):
            return model, answers
    raise AssertionError("no seed gave distinct answers")


def test_batching_keeps_answers_with_their_rows(manifest: Path, tmp_path: Path) -> None:
    """References set to the model's own answers score 100 % exact, whatever the batch size."""
    examples = [e for e in read_manifest(manifest) if e.task in ("yesno", "caption", "made_up_task", "compare")]
    tiny_model, answers = _model_with_distinct_answers(examples)

    # Same clips and prompts, so the same greedy answers come back; the task "echo" is scored by exact match.
    rows = [
        example_row([str(p) for p in e.audio], e.messages[0].content[-1].text, answer, "echo")
        for e, answer in zip(examples, answers)
    ]
    echo = tmp_path / "echo.jsonl"
    write_manifest(rows, echo)
    scored = evaluate(tiny_model, read_manifest(echo), batch_size=3, max_new_tokens=6)
    assert [row.answer for row in scored.rows] == answers
    assert all(row.scores["exact"].score == 1.0 for row in scored.rows)


def test_eval_with_beam_search_answers_as_the_model_does_and_says_so(manifest: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    beams = [e for e in read_manifest(manifest) if e.task in ("yesno", "caption", "compare")]
    tiny_model = AudioLLM.from_config(TINY_CONFIG)
    expected = [tiny_model.chat(e.prompt_messages, 8, num_beams=3) for e in beams]
    assert expected != [tiny_model.chat(e.prompt_messages, 8) for e in beams], "beam search changed no answer"
    assert [row.answer for row in evaluate(tiny_model, beams, batch_size=2, max_new_tokens=8, num_beams=3).rows] \
        == expected

    out = tmp_path / "beams.json"
    assert main(["eval", "--model", str(TINY_CONFIG), "--manifest", str(manifest), "--out", str(out),
                 "--max-new-tokens", "4", "--num-beams", "2"]) == 0
    assert json.loads(out.read_text())["settings"]["decoding"] == "beam search, 2 beams"
    assert "beam search, 2 beams" in out.with_suffix(".md").read_text()


def _row(task: str, scores: dict[str, Tally]) -> RowResult:
    return RowResult(1, None, task, [], "user: q", "ref", "ans", None, scores)


def test_wer_is_a_corpus_rate_and_accuracy_a_mean() -> None:
    rows = [
        _row("asr", {"wer": Tally(1, 2), "cer": Tally(1, 10)}),
        _row("asr", {"wer": Tally(0, 8), "cer": Tally(0, 30)}),
        _row("yesno", {"yesno": Tally(1, 1)}),
        _row("yesno", {"yesno": Tally(0, 1)}),
    ]
    report = summarize(Evaluation(rows, []), "m", "t.jsonl")
    assert report.tasks["asr"].metrics["wer"] == pytest.approx(0.1)  # 1 error in 10 words, not mean(50 %, 0 %)
    assert report.tasks["asr"].metrics["cer"] == pytest.approx(1 / 40)
    assert report.tasks["yesno"].metrics["yesno"] == 0.5


def test_compare_prints_and_plots_deltas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def write(name: str, wer: float, exact: float) -> Path:
        rows = [_row("asr", {"wer": Tally(wer, 1), "cer": Tally(wer, 1)}), _row("key", {"exact": Tally(exact, 1),
                                                                                        "contains": Tally(exact, 1)})]
        path = tmp_path / name
        path.write_text(json.dumps(summarize(Evaluation(rows, []), name, "t.jsonl").to_dict()))
        return path

    before, after = write("a.json", 0.5, 1.0), write("b.json", 0.25, 0.0)
    deltas = {(d.task, d.metric): d for d in compare(read_report(before), read_report(after))}
    assert deltas["asr", "wer"].change == pytest.approx(-0.25) and deltas["asr", "wer"].improved is True
    assert deltas["key", "exact"].change == pytest.approx(-1.0) and deltas["key", "exact"].improved is False

    chart = tmp_path / "delta.png"
    assert main(["eval", "--compare", str(before), str(after), "--out", str(chart)]) == 0
    printed = capsys.readouterr().out
    assert "| asr | **wer ↓** | 50.0 | 25.0 | -25.0 | better |" in printed
    assert "| key | **exact** | 100.0 | 0.0 | -100.0 | worse |" in printed
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert f"A = {before}" in printed and "| key | contains | 100.0 | 0.0 | -100.0 | worse |" in printed


def test_bad_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    only_bad = tmp_path / "bad.jsonl"
    write_manifest([example_row(str(tmp_path / "nope.wav"), "Key?", "C major", "key")], only_bad)
    out = tmp_path / "r.json"
    assert main(["eval", "--model", str(TINY_CONFIG), "--manifest", str(only_bad), "--out", str(out)]) == 2
    assert "none of its 1 rows can be evaluated" in capsys.readouterr().err
    assert not out.exists()

    not_report = tmp_path / "x.json"
    not_report.write_text("[1, 2]")
    assert main(["eval", "--compare", str(not_report), str(not_report)]) == 2
    assert "not an evaluation report" in capsys.readouterr().err

    assert main(["eval", "--model", str(TINY_CONFIG)]) == 2
    assert "--manifest and --out are required" in capsys.readouterr().err

    assert main(["eval", "--manifest", str(only_bad), "--out", str(out), "--num-beams", "0"]) == 2
    assert "--num-beams must be at least 1, got 0" in capsys.readouterr().err


def test_benchmarks_import_and_score_per_subtask(tmp_path: Path, wav_file, tiny_model) -> None:
    """AIR-Bench Foundation and MMAU JSON, through the data importers, are scored as multiple choice per subtask."""
    from audiollm.data.importers.benchmarks import import_airbench, import_mmau

    clip = wav_file(0.5, 440.0)
    air_dir = tmp_path / "air" / "Speaker_Gender_Recognition_common_voice"
    air_dir.mkdir(parents=True)
    (air_dir / "x.wav").write_bytes(clip.read_bytes())
    air = tmp_path / "Foundation_meta.json"
    air.write_text(json.dumps([{
        "path": "x.wav", "question": "What is the gender of the speaker?", "choice_a": "male", "choice_b": "female",
        "answer_gt": "female", "task_name": "Speaker_Gender_Recognition", "dataset_name": "common_voice",
        "uniq_id": 7,
    }]))
    mmau = tmp_path / "mmau-test-mini.json"
    mmau.write_text(json.dumps([
        {"id": "m1", "audio_id": clip.name, "question": "Which instrument?", "choices": ["Piano", "Violin", "Drums"],
         "answer": "Violin", "task": "music", "category": "Instrument", "difficulty": "easy"},
        {"id": "m2", "audio_id": clip.name, "question": "What sound?", "choices": ["Rain", "Dog bark"],
         "answer": "Rain", "task": "sound", "category": "Event", "difficulty": "easy"},
    ]))
    manifests = [import_airbench(air, tmp_path / "air", tmp_path / "m").manifest,
                 import_mmau(mmau, clip.parent, tmp_path / "m").manifest]
    examples = [e for path in manifests for e in read_manifest(path)]

    evaluation = evaluate(tiny_model, examples, batch_size=2, max_new_tokens=4)
    assert evaluation.bad_rows == []  # every "option (B)" reference names one of its choices
    report = summarize(evaluation, "tiny", "benchmarks")
    assert set(report.tasks) == {"mcq"} and report.tasks["mcq"].rows == 3
    assert set(report.subtasks) == {"mcq/Speaker_Gender_Recognition", "mcq/music", "mcq/sound"}
    assert all(entry.metrics["choice"] in (0.0, 1.0) for entry in report.subtasks.values())
    assert "## Per subtask" in markdown(report) and "| mcq/music | 1 |" in markdown(report)


def test_encoder_probe_reads_labels_the_features_carry_and_counts_unseen_ones(tmp_path: Path, wav_file,
                                                                             tiny_model) -> None:
    from audiollm.eval.probe import (LinearProbe, choice_accuracy, choice_rows, labelled_clips, pooled_features,
                                     probe_curve)

    def rows(freqs: list[float], name: str) -> Path:
        clips = [wav_file(0.5, f) for f in freqs]
        labelled = [example_row(str(c), "Low or high?", "low" if f < 1000 else "high", "pitch")
                    for c, f in zip(clips, freqs)]
        # The same clip asked about twice is one clip; other tasks' rows are not probed.
        labelled += [example_row(str(clips[0]), "Is it low?", "low" if freqs[0] < 1000 else "high", "pitch"),
                     example_row(str(clips[0]), "Transcribe.", "none", "asr")]
        write_manifest(labelled, tmp_path / name)
        return tmp_path / name

    train = labelled_clips(rows([200, 250, 300, 350, 3000, 3500, 4000, 4500], "train.jsonl"), "pitch")
    test = labelled_clips(rows([220, 330, 3300, 4200], "test.jsonl"), "pitch")
    assert len(train.clips) == 8 and train.labels.count("low") == 4
    x_train = pooled_features(tiny_model, train.clips, progress=False)
    x_test = pooled_features(tiny_model, test.clips, progress=False)
    [score] = probe_curve((x_train, train.labels), {"test": (x_test, test.labels)}, fractions=(1.0,))
    assert (score.correct, score.total, score.unseen) == (4, 4, 0)

    # Labels a probe never saw cannot be named; they are counted so that a ceiling below 100 % is explained.
    relabelled = ["mid", "mid", "low", "high"]
    [score] = probe_curve((x_train, train.labels), {"test": (x_test, relabelled)}, fractions=(1.0,))
    assert (score.correct, score.unseen) == (1, 2)

    # Multiple choice: the probe picks, of each row's options, the one it scores highest; an option it never saw
    # loses to any it knows, so a row whose right answer is unseen is counted wrong.
    mcq = [example_row(str(c), "Low or high? (A) high (B) low", f"{label} ({'A' if label == 'high' else 'B'})",
                       "mcq", choices=["high", "low"]) for c, label in zip(test.clips, test.labels)]
    mcq.append(example_row(str(test.clips[2]), "Mid or low?", "mid", "mcq", choices=["mid", "low"]))
    mcq.append(example_row(str(test.clips[0]), "Which?", "neither", "mcq", choices=["high", "low"]))
    # Its own favourite ("high") not offered, it takes the best of what is.
    mcq.append(example_row(str(test.clips[3]), "Mid or low?", "low", "mcq", choices=["mid", "low"]))
    write_manifest(mcq, tmp_path / "mcq.jsonl")
    choices = choice_rows(tmp_path / "mcq.jsonl", test.clips)
    assert [r.right for r in choices] == [*test.labels, "mid", "low"]  # a row whose answer is no option is left out
    probe = LinearProbe(x_train, train.labels)
    assert choice_accuracy(probe, x_test, test.clips, choices) == (5, 6)

    with pytest.raises(ValueError, match="no single-clip rows of task 'instrument'"):
        labelled_clips(tmp_path / "train.jsonl", "instrument")
    with pytest.raises(ValueError, match=r"train fractions must be in \(0, 1\]"):
        probe_curve((x_train, train.labels), {}, fractions=(0.0,))


def test_starter_rows_are_sampled_and_scored_per_source_family(tmp_path: Path, wav_file) -> None:
    clip = str(wav_file(0.5))
    synthetic = {"voice": "espeak-ng/en-us", "sentence": "hi", "source": "espeak-ng"}
    real = {"source": "scratch", "take": "scratch/Animal/Dog", "license": "CC-BY-SA-3.0"}
    rows = [example_row(clip, "Is it said?", "yes", "yesno", id=f"syn-{i}", meta=synthetic) for i in range(3)]
    rows += [example_row(clip, "Is it a dog?", "yes", "yesno", id=f"real-{i}", meta=real) for i in range(2)]
    manifest = tmp_path / "families.jsonl"
    write_manifest(rows, manifest)
    out = tmp_path / "report.json"
    assert main(["eval", "--model", str(TINY_CONFIG), "--manifest", str(manifest), "--out", str(out),
                 "--per-task", "2", "--max-new-tokens", "2"]) == 0
    report = json.loads(out.read_text())
    # The first two yes/no rows of each family: the real recordings are not crowded out by the synthetic ones.
    assert report["tasks"]["yesno"]["rows"] == 4
    assert {key: entry["rows"] for key, entry in report["families"].items()} == {
        "synthetic voices/yesno": 2, "real sounds/yesno": 2}
    assert "| real sounds/yesno | 2 |" in out.with_suffix(".md").read_text()
