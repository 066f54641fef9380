"""Importers on small fixtures written in each public layout: rows, audio that loads, and skipped items listed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import soundfile as sf

from audiollm.audio import load_audio
from audiollm.cli import main
from audiollm.data.importers import import_airbench, import_captions, import_hf, import_librispeech
from audiollm.data.manifest import read_manifest

from .conftest import tone


def _wav(path: Path, seconds: float = 0.3, freq: float = 440.0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, freq), 16_000, format=fmt)
    return path


def _by_id(manifest: Path) -> dict:
    return {e.id: e for e in read_manifest(manifest)}


def test_librispeech_tree(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "test-clean" / "1089" / "134686"
    _wav(chapter / "1089-134686-0000.flac", fmt="FLAC")
    _wav(chapter / "1089-134686-0001.flac", freq=550, fmt="FLAC")
    (chapter / "1089-134686.trans.txt").write_text(
        "1089-134686-0000 HE HOPED THERE WOULD BE STEW FOR DINNER\n"
        "1089-134686-0001 STUFF IT INTO YOU HIS BELLY COUNSELLED HIM\n"
        "1089-134686-0002 AFTER EARLY NIGHTFALL THE YELLOW LAMPS WOULD LIGHT UP\n")
    result = import_librispeech(tmp_path / "LibriSpeech" / "test-clean", tmp_path / "out")
    rows = _by_id(result.manifest)
    assert set(rows) == {"1089-134686-0000", "1089-134686-0001"}
    first = rows["1089-134686-0000"]
    assert first.task == "asr" and first.answer == "HE HOPED THERE WOULD BE STEW FOR DINNER"
    assert first.meta["speaker"] == "1089" and load_audio(first.audio[0]).size == 4800
    assert result.skipped == [f"{chapter / '1089-134686.trans.txt'}:3: audio for 1089-134686-0002 not found"]
    assert "1089-134686-0002" in (tmp_path / "out" / "test-clean.skipped.txt").read_text()


def test_audiocaps_and_clotho_csv(tmp_path):
    audio = tmp_path / "audio"
    _wav(audio / "abc123.wav")
    _wav(audio / "xyz789_30.wav", freq=300)
    caps = tmp_path / "audiocaps_test.csv"
    caps.write_text("audiocap_id,youtube_id,start_time,caption\n"
                    "101,abc123,0,A dog barks while a car passes\n"
                    "102,xyz789,30,Rain falls on a tin roof\n"
                    "103,missing1,10,Birds chirp\n")
    result = import_captions(caps, audio, tmp_path / "out")
    rows = _by_id(result.manifest)
    assert {r.answer for r in rows.values()} == {"A dog barks while a car passes", "Rain falls on a tin roof"}
    assert rows["102#0"].audio[0].name == "xyz789_30.wav" and rows["102#0"].task == "caption"
    assert len(result.skipped) == 1 and "missing1" in result.skipped[0]

    _wav(audio / "clip one.wav", freq=700)
    clotho = tmp_path / "clotho_captions_evaluation.csv"
    with clotho.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name"] + [f"caption_{i}" for i in range(1, 6)])
        writer.writerow(["clip one.wav", "Water drips", "A tap drips slowly", "Drops of water", "Dripping", "Slow drip"])
    rows = _by_id(import_captions(clotho, audio, tmp_path / "out").manifest)
    assert len(rows) == 5 and rows["clip one.wav#1"].answer == "A tap drips slowly"
    assert rows["clip one.wav#1"].meta["captions"][4] == "Slow drip"


def test_caption_csv_with_unknown_columns_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\na.wav,dog\n")
    with pytest.raises(ValueError, match="neither AudioCaps .* nor Clotho"):
        import_captions(bad, tmp_path, tmp_path / "out")
    assert main(["data", "import", "captions", str(bad), "--out", str(tmp_path / "out")]) == 2


def test_hf_datasets_librispeech_and_clotho_style_columns(tmp_path):
    datasets = pytest.importorskip("datasets")
    clips = [_wav(tmp_path / f"src{i}.wav", freq=300 + 100 * i) for i in range(3)]
    speech = datasets.Dataset.from_dict({"audio": [str(c) for c in clips], "text": ["one", "two", "three"],
                                         "id": ["u0", "u1", "u2"]}).cast_column("audio", datasets.Audio())
    saved = tmp_path / "librispeech_like"
    datasets.DatasetDict({"test": speech}).save_to_disk(str(saved))
    assert main(["data", "import", "hf", str(saved), "--out", str(tmp_path / "out")]) == 0
    rows = _by_id(tmp_path / "out" / "librispeech_like-test.jsonl")
    assert {k: r.answer for k, r in rows.items()} == {"u0": "one", "u1": "two", "u2": "three"}
    assert load_audio(rows["u1"].audio[0]).size == 4800

    # Decoded arrays (as a data set holds after its own decoding) and Clotho-style caption columns.
    decoded = datasets.Dataset.from_dict({
        "audio": [{"array": tone(0.2, 500).tolist(), "sampling_rate": 16_000}, {"array": [], "sampling_rate": 16_000}],
        "caption_1": ["a beep", "nothing"], "caption_2": ["a short tone", "silence"]})
    result = import_hf(decoded, tmp_path / "out", name="clotho_like")
    rows = _by_id(result.manifest)
    assert {r.answer for r in rows.values()} == {"a beep", "a short tone"}
    assert len(result.skipped) == 1 and "row 1" in result.skipped[0]


def test_airbench_foundation_json(tmp_path):
    root = tmp_path / "Foundation"
    _wav(root / "Speaker_Gender_Recognition_VoxCeleb1" / "id1.wav")
    _wav(root / "Sound_AQA_clotho" / "c7.wav", freq=900)
    items = [
        {"path": "id1.wav", "question": "What is the gender of the speaker?", "choice_a": "male",
         "choice_b": "female", "answer_gt": "female", "task_name": "Speaker_Gender_Recognition",
         "dataset_name": "VoxCeleb1", "uniq_id": 11},
        {"path": "c7.wav", "question": "What is making the sound?", "choice_a": "a dog", "choice_b": "a bell",
         "choice_c": "rain", "choice_d": "a car", "answer_gt": "rain", "task_name": "Sound_AQA",
         "dataset_name": "clotho", "uniq_id": 12},
        {"path": "gone.wav", "question": "?", "choice_a": "x", "choice_b": "y", "answer_gt": "x",
         "task_name": "Sound_AQA", "dataset_name": "clotho", "uniq_id": 13},
        {"path": "c7.wav", "question": "Which?", "choice_a": "x", "choice_b": "y", "answer_gt": "z",
         "task_name": "Sound_AQA", "dataset_name": "clotho", "uniq_id": 14},
    ]
    meta = root / "Foundation_meta.json"
    meta.write_text(json.dumps(items))
    result = import_airbench(meta, root, tmp_path / "out")
    rows = _by_id(result.manifest)
    assert set(rows) == {"11", "12"}
    assert rows["11"].choices == ["male", "female"] and rows["11"].answer == "female (B)"
    assert rows["12"].answer == "rain (C)" and "D. a car" in rows["12"].messages[0].content[-1].text
    assert rows["12"].task == "mcq" and rows["12"].meta["subtask"] == "Sound_AQA"
    assert len(result.skipped) == 2 and "not among the choices" in result.skipped[1]


def test_mmau_test_mini_json(tmp_path):
    _wav(tmp_path / "test-mini-audios" / "a1.wav")
    items = [{"id": "a1", "audio_id": "./test-mini-audios/a1.wav", "question": "Which instrument plays?",
              "choices": ["Piano", "Violin", "Flute", "Drums"], "answer": "Violin", "task": "music",
              "category": "Instrument Identification", "difficulty": "easy"},
             {"id": "a2", "audio_id": "./test-mini-audios/a2.wav", "question": "?", "choices": ["x", "y"],
              "answer": "x", "task": "sound"}]
    (tmp_path / "mmau-test-mini.json").write_text(json.dumps(items))
    assert main(["data", "import", "mmau", str(tmp_path / "mmau-test-mini.json"), "--out",
                 str(tmp_path / "out")]) == 0
    rows = _by_id(tmp_path / "out" / "mmau-test-mini.jsonl")
    assert list(rows) == ["a1"] and rows["a1"].answer == "Violin (B)"
    assert rows["a1"].meta["subtask"] == "music" and rows["a1"].choices[3] == "Drums"
    assert "a2.wav" in (tmp_path / "out" / "mmau-test-mini.skipped.txt").read_text()
