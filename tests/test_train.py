"""Fine-tuning in one process on the tiny model: learning, artifacts, bad data, stages, QLoRA, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from audiollm import AudioLLM
from audiollm.cli import main as cli_main
from audiollm.config import ConfigError
from audiollm.data.augment import change_speed
from audiollm.data.sampler import LengthGroupedBatches
from audiollm.training import backend
from audiollm.training.config import load_train_config
from audiollm.training.metrics import read_metrics
from audiollm.training.soup import train_recipe, trained_weights
from audiollm.training.trainer import train
from tests.conftest import ROOT, tone
from tests.train_helpers import TINY_TRAIN, TONES, losses, overrides, write_manifest


def test_training_lowers_the_loss_and_writes_model_metrics_and_plot(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "run"
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=10", f"eval.manifest={manifest}",
                                                           "eval.every_steps=5")))

    curve = losses(out)
    assert len(curve) == 10 and curve[-1] < curve[0] - 0.5
    assert result.steps == 10 and not result.skipped
    # 6 clips, 2 per batch: the first epoch encodes each clip once, later epochs read the cache.
    assert result.cache_misses == 6 and result.cache_hits == 10 * 2 - 6
    # The dev set is scored beside the loss: exact-match accuracy for this task, at steps 5 and 10.
    dev = read_metrics(out / "metrics.csv")["dev/word/exact"]
    assert [step for step, _ in dev] == [5, 10] and all(0.0 <= v <= 1.0 for _, v in dev)
    assert (out / "loss.png").stat().st_size > 1000
    assert list((out / "tensorboard").iterdir())
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"step-00000004", "step-00000008"}  # keep_last 2


    model = AudioLLM.from_pretrained(out)
    answer = model.generate(audio=str(tmp_path / "data" / "tone0.wav"), prompt="Is the pitch high or low?",
                            max_new_tokens=4)
    assert isinstance(answer, str)


def test_unusable_rows_are_skipped_and_each_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "data"
    data.mkdir()
    (data / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    import soundfile as sf

    sf.write(data / "silent.wav", np.zeros(8000, dtype=np.float32), 16_000)
    bad = [
        {"audio": "corrupt.wav", "prompt": "p", "answer": "a"},
        {"audio": "missing.wav", "prompt": "p", "answer": "a"},
        {"audio": "silent.wav", "prompt": "p", "answer": "a"},
    ]
    manifest = write_manifest(data, extra=bad)
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "max_steps=6")))

    assert result.steps == 6
    assert set(result.skipped) == {f"{manifest}:7", f"{manifest}:8", f"{manifest}:9"}
    assert "corrupt.wav" in result.skipped[f"{manifest}:7"]
    assert "missing.wav" in result.skipped[f"{manifest}:8"]
    assert "silent" in result.skipped[f"{manifest}:9"]
    printed = capsys.readouterr().out
    assert "skipped 3 unusable row(s)" in printed and f"{manifest}:8" in printed


def test_schema_errors_are_listed_by_line_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    manifest = write_manifest(tmp_path / "data", extra=[{"audio": "tone0.wav", "prompt": "p"}, {"text": "x"}])
    with manifest.open("a") as handle:
        handle.write("{not json\n")
    out = tmp_path / "run"
    code = cli_main(["train", str(TINY_TRAIN), *overrides(manifest, out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 invalid row(s)" in err and "line 7" in err and "line 8" in err and "line 9" in err
    assert not out.exists()  # nothing was built or written


def test_existing_run_is_not_overwritten_without_resume(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    cfg = load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "max_steps=4"))
    train(cfg)
    with pytest.raises(ValueError, match="--resume"):
        train(cfg)


def test_stage2_starts_from_stage1_and_adds_lora(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    stage1 = tmp_path / "stage1"
    train(load_train_config(TINY_TRAIN, overrides(manifest, stage1, "mode=projector", "max_steps=10")))
    assert not (stage1 / "lora").exists()

    stage2 = tmp_path / "stage2"
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, stage2, f"model={stage1}", "max_steps=4")))
    assert result.cache_misses == 0 and result.cache_hits == 8  # same encoder: stage 1's cached frames are read
    assert (stage2 / "lora").is_dir()
    # Stage 2 begins where stage 1 ended, far below a fresh model's first loss.
    assert losses(stage2)[0] < losses(stage1)[0] - 0.5
    before, after = load_file(stage1 / "projector.safetensors"), load_file(stage2 / "projector.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_align_stage_teaches_the_projector_to_spell_the_transcripts_and_stage1_builds_on_it(tmp_path: Path):
    data = tmp_path / "data"
    write_manifest(data)  # the tone clips
    rows = [{"audio": f"tone{i}.wav", "prompt": "Transcribe.", "answer": answer, "task": "asr"}
            for i, (_, answer) in enumerate(TONES)]
    rows.append({"audio": ["tone0.wav", "tone1.wav"], "prompt": "Which is higher?", "answer": "second"})
    manifest = data / "align.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    align = tmp_path / "align"
    # Frames that differ with the pitch at every position (see RandomWhisperConfig.init_std).
    distinct = "model_overrides=[encoder.random.init_std=0.2]"
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, align, "mode=align", "max_steps=100", distinct,
                                                           "log_every=10", f"eval.manifest={manifest}",
                                                           "eval.every_steps=50")))
    curve = losses(align)
    assert curve[-1] < curve[0] / 4
    assert list(result.skipped.values()) == ["align mode needs one clip per row, this row has 2"]
    assert not (align / "lora").exists()

    # Scored against the LLM's own embeddings, the projected audio now spells each clip's answer (greedy CTC),
    # and the dev scores logged beside the loss say so.

    model = AudioLLM.from_pretrained(align)
    clips = [model.processor.conversation([{"role": "user", "content": [
        {"type": "audio", "audio": str(data / row["audio"])}]}]).audios[0] for row in rows[:-1]]
    encoded = model.encode_clips(clips)
    assert model.read_alignment(encoded) == [row["answer"] for row in rows[:-1]]
    dev = read_metrics(align / "metrics.csv")
    assert dev["dev/asr/ctc_wer"][-1] == (100, 0.0) and dev["dev/skipped_rows"][-1] == (100, 1.0)

    # Stage 1 (language-model loss) continues from the aligned projector: one step moves each weight by about lr.
    stage1 = tmp_path / "stage1"
    train(load_train_config(TINY_TRAIN, overrides(write_manifest(tmp_path / "words"), stage1, f"model={align}",
                                                  "mode=projector", "max_steps=1")))
    aligned, continued = load_file(align / "projector.safetensors"), load_file(stage1 / "projector.safetensors")
    assert max(float((aligned[k] - continued[k]).abs().max()) for k in aligned) < 0.01


def test_qlora_training_lowers_the_loss(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "run"
    train(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=8",
                                                  "model_overrides=[quantization.load_in_4bit=true]")))
    curve = losses(out)
    assert curve[-1] < curve[0] - 0.3
    assert json.loads((out / "lora" / "adapter_config.json").read_text())["r"] == 8


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "audiollm.cli", "train", str(TINY_TRAIN), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    steps = ["max_steps=40", "checkpoint.every_steps=4", "optimizer.schedule=cosine", "optimizer.warmup_steps=3"]
    reference = tmp_path / "reference"
    train(load_train_config(TINY_TRAIN, overrides(manifest, reference, *steps)))

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(_cli(*overrides(manifest, crashed, *steps)), cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "checkpoint step-00000004 saved" in line:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert not (crashed / "projector.safetensors").exists()  # killed before the end

    # Overrides may come after the flag as well as before it.
    resumed = subprocess.run(_cli("--resume", *overrides(manifest, crashed, *steps)), check=False, cwd=ROOT, env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout and "(step 40," not in resumed.stdout
    for name in ("projector.safetensors", "lora/adapter_model.safetensors"):
        want, got = load_file(reference / name), load_file(crashed / name)
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), f"{name}:{key} differs after resume"

    # Resumed once more at max_steps, it trains nothing, says so and keeps the model (a finished run, or a run
    # killed after its last checkpoint, can be finalised this way).
    again = train(load_train_config(TINY_TRAIN, overrides(manifest, crashed, *steps)), resume=True)
    assert again.steps == 40 and again.loss is None
    assert json.loads((crashed / "train_report.json").read_text())["loss"] is None
    want, got = load_file(reference / "projector.safetensors"), load_file(crashed / "projector.safetensors")
    assert all(torch.equal(want[key], got[key]) for key in want)


def test_length_grouped_batches_are_deterministic_and_split_evenly_across_ranks():
    lengths = [int(x) for x in np.random.default_rng(0).integers(10, 500, size=103)]
    one = LengthGroupedBatches(lengths, batch_size=4, seed=7)
    assert one.epoch(0) == LengthGroupedBatches(lengths, batch_size=4, seed=7).epoch(0)
    assert one.epoch(0) != one.epoch(1)
    assert sorted(i for b in one.epoch(0) for i in b) == list(range(103))
    # Grouping keeps padding far below that of random batches.
    padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in one.epoch(0))
    order = np.random.default_rng(1).permutation(103).tolist()
    random_padding = sum(max(lengths[i] for i in order[s:s + 4]) * len(order[s:s + 4]) -
                         sum(lengths[i] for i in order[s:s + 4]) for s in range(0, 103, 4))
    assert padding < random_padding / 3

    ranks = [LengthGroupedBatches(lengths, 4, 7, rank=r, world_size=2).epoch(0) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) and all(len(b) == 4 for r in ranks for b in r)
    assert {i for r in ranks for b in r for i in b} == set(range(103))


def test_task_weights_rebalance_an_epoch_and_name_a_task_no_row_has(tmp_path: Path):
    # 20 rows of a rare task weighted 4, 400 of a common one weighted 0.25: about 80 and 100 draws an epoch.
    lengths = [int(x) for x in np.random.default_rng(0).integers(10, 500, size=420)]
    weights = [4.0] * 20 + [0.25] * 400
    batches = LengthGroupedBatches(lengths, 8, seed=3, weights=weights)
    drawn = np.bincount([i for b in batches.epoch(0) for i in b], minlength=420)
    assert (drawn[:20] == 4).all()
    assert 70 <= drawn[20:].sum() <= 130 and drawn[20:].max() == 1
    assert batches.epoch(1) != batches.epoch(0)

    manifest = write_manifest(tmp_path / "data")
    with pytest.raises(ValueError, match="sound_class"):
        train(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "data.task_weights.sound_class=4")))
    assert not (tmp_path / "run").exists()


def test_family_weights_draw_one_source_family_more_and_name_a_family_no_row_has(tmp_path: Path):
    from audiollm.data.dataset import read_rows
    from audiollm.training.trainer import row_weights

    # Two clips of the same task, one a real recording (its meta has a take), one a synthetic voice.
    real = {"audio": "tone0.wav", "prompt": "What is this sound?", "answer": "dog", "task": "word",
            "meta": {"take": 1}}
    voice = {"audio": "tone1.wav", "prompt": "What is said?", "answer": "hi", "task": "word",
             "meta": {"voice": "espeak-ng/en"}}
    manifest = write_manifest(tmp_path / "data", extra=[real, voice])
    rows = read_rows([str(manifest)])
    weights = row_weights(rows, {"word": 2.0}, {"real sounds": 4.0, "synthetic voices": 0.5})
    assert weights is not None and weights[-2:] == [8.0, 1.0] and set(weights[:-2]) == {2.0}
    assert row_weights(rows, {}, {}) is None

    with pytest.raises(ValueError, match="music"):
        train(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "data.family_weights.music=2")))
    assert not (tmp_path / "run").exists()


def test_feature_cache_separates_encoders_and_settings(tiny_config, tmp_path: Path):
    import dataclasses

    from audiollm.training.feature_cache import CachedEncoder, FeatureCache, encoder_identity

    base = AudioLLM.from_config(tiny_config)
    reseeded = dataclasses.replace(tiny_config, encoder=dataclasses.replace(
        tiny_config.encoder, random=dataclasses.replace(tiny_config.encoder.random, seed=1)))
    padded = dataclasses.replace(tiny_config, encoder=dataclasses.replace(tiny_config.encoder, pad_to_30s=True))
    ids = {encoder_identity(base), encoder_identity(AudioLLM.from_config(reseeded)),
           encoder_identity(AudioLLM.from_config(padded))}
    assert len(ids) == 3

    cache = FeatureCache(tmp_path, encoder_identity(base))
    encode = CachedEncoder(base, cache)
    clips = [tone(0.5, 300), tone(0.7, 600)]
    first = encode(clips)
    again = encode(clips)
    assert (cache.misses, cache.hits) == (2, 2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # read back exactly what the encoder gave


def test_bf16_on_a_cpu_tracks_float32_and_a_cpu_without_bf16_trains_in_float32(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch):
    manifest = write_manifest(tmp_path / "data")

    def curve(name: str, precision: str) -> list[float]:
        train(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / name, "max_steps=8",
                                                      f"precision={precision}")))
        return losses(tmp_path / name)

    fp32, bf16 = curve("fp32", "fp32"), curve("bf16", "bf16")
    assert bf16[-1] < bf16[0] - 0.3
    assert all(abs(a - b) < 0.1 * a for a, b in zip(fp32, bf16)), (fp32, bf16)  # bf16 rounding moves it a little
    if backend.cpu_has_bf16():
        assert bf16 != fp32  # the products really ran in bf16
    monkeypatch.setattr(backend, "cpu_has_bf16", lambda: False)
    assert curve("no-bf16", "bf16") == fp32


def test_speed_perturbation_plays_rows_faster_or_slower_and_refuses_tempo_and_key(tmp_path: Path):
    faster = change_speed(tone(1.0, 440), 1.1)
    spectrum = np.abs(np.fft.rfft(faster))
    assert abs(len(faster) - 16_000 / 1.1) <= 1
    assert np.fft.rfftfreq(len(faster), 1 / 16_000)[spectrum.argmax()] == pytest.approx(484, abs=2)

    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "run"
    result = train(load_train_config(TINY_TRAIN, overrides(manifest, out, "max_steps=10",
                                                           "data.speed_factors=[0.8,1.25]", "data.speed_tasks=[word]")))
    assert losses(out)[-1] < losses(out)[0] - 0.5
    # No draw heard a clip at its own speed: each of the 6 clips came in at most two new versions.
    assert 6 < result.cache_misses <= 12 and result.cache_hits + result.cache_misses == 20

    with pytest.raises(ConfigError, match="tempo"):
        load_train_config(TINY_TRAIN, overrides(manifest, out, "data.speed_factors=[0.9,1.1]",
                                                "data.speed_tasks=[asr,tempo]"))


def test_projector_mode_on_a_saved_lora_model_keeps_its_lora_frozen(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    stage1 = tmp_path / "stage1"
    train(load_train_config(TINY_TRAIN, overrides(manifest, stage1, "max_steps=4")))
    stage2 = tmp_path / "stage2"
    train(load_train_config(TINY_TRAIN, overrides(manifest, stage2, f"model={stage1}", "mode=projector",
                                                  "max_steps=4")))
    lora = [load_file(next((stage / "lora").glob("*.safetensors"))) for stage in (stage1, stage2)]
    assert lora[0].keys() == lora[1].keys() and all(torch.equal(lora[0][k], lora[1][k]) for k in lora[0])
    before, after = load_file(stage1 / "projector.safetensors"), load_file(stage2 / "projector.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_a_stage_stopped_early_keeps_the_learning_rates_of_its_longer_schedule(tiny_config):
    model = AudioLLM.from_config(tiny_config)
    shared = ["data.train=[x.jsonl]", "optimizer.schedule=cosine", "optimizer.warmup_steps=2"]

    def rates(*more: str) -> list[float]:
        _, scheduler = backend.build_optimizer(model, load_train_config(TINY_TRAIN, [*shared, *more]))
        out = []
        for _ in range(6):
            out.append(scheduler.get_last_lr()[0])
            scheduler.step()
        return out

    planned = rates("max_steps=20")
    assert rates("max_steps=6", "optimizer.schedule_steps=20") == planned
    assert rates("max_steps=6")[5] < planned[5]  # without it, the shorter run decays faster


def test_a_soup_of_seeds_saves_the_average_of_its_runs_and_resumes_without_retraining(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    start = tmp_path / "start"
    train(load_train_config(TINY_TRAIN, overrides(manifest, start, "max_steps=4")))
    out = tmp_path / "soup"
    cfg = load_train_config(TINY_TRAIN, overrides(manifest, out, f"model={start}", "max_steps=4", "soup_seeds=[3,5]"))
    assert train_recipe(cfg) == out

    models = [AudioLLM.from_pretrained(d, merge_lora=False) for d in (out / "seed-3", out / "seed-5", out)]
    seed3, seed5, soup = (trained_weights(m) for m in models)
    assert any(not torch.equal(seed3[k], seed5[k]) for k in seed3)  # the seeds took different batches
    assert any("lora_" in k for k in soup) and any(k.startswith("projector.") for k in soup)
    for name, mean in soup.items():
        torch.testing.assert_close(mean, (seed3[name] + seed5[name]) / 2)
    assert isinstance(models[2].generate(audio=str(tmp_path / "data" / "tone0.wav"), prompt="Is the pitch high or low?",
                                         max_new_tokens=4), str)

    with pytest.raises(ValueError, match="--resume"):
        train_recipe(cfg)
    before = (out / "seed-3" / "metrics.csv").read_text()
    train_recipe(cfg, resume=True)  # both seeds are done: nothing retrains, the average is the same
    assert (out / "seed-3" / "metrics.csv").read_text() == before
    for name, mean in trained_weights(AudioLLM.from_pretrained(out, merge_lora=False)).items():
        assert torch.equal(mean, soup[name])


@pytest.mark.parametrize("seeds", ["[1]", "[1,1]"])
def test_soup_seeds_names_two_or_more_distinct_seeds(tmp_path: Path, seeds: str):
    with pytest.raises(ConfigError, match="soup_seeds"):
        load_train_config(TINY_TRAIN, overrides(tmp_path / "m.jsonl", tmp_path / "run", f"soup_seeds={seeds}"))


def test_a_soup_under_a_launcher_says_how_to_train_its_seeds_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    manifest = write_manifest(tmp_path / "data")
    start = tmp_path / "start"
    train(load_train_config(TINY_TRAIN, overrides(manifest, start, "max_steps=2")))
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "soup"
    with pytest.raises(ConfigError, match=f"output_dir={out}/seed-N"):
        train_recipe(load_train_config(TINY_TRAIN, overrides(manifest, out, f"model={start}", "soup_seeds=[0,1]")))
    assert not out.exists()


def test_a_soup_refuses_a_start_that_gives_each_seed_its_own_initial_weights(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data")
    with pytest.raises(ConfigError, match="starts from"):
        train_recipe(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "soup_seeds=[0,1]")))
