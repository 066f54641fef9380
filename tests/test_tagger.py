"""The sound tagger (``encoder.tags``): its labels in the prompt of a clip without a transcript, fitted by training
on the corpus's labelled clips, each training clip tagged by a tagger that never heard its source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiollm import AudioLLM
from audiollm.audio import SAMPLE_RATE, load_audio
from audiollm.processor import NAMED_LINE, SOUNDS_LINE, TRANSCRIPT_LINE, ClipNotes
from audiollm.tagger import SoundReading, SoundTagger, TagLines, fit_temperature, named_labels, pool_frames
from audiollm.training.tagging import TagClips, held_out_tags, tag_clips

from .conftest import ROOT, tone
from .test_hearing import PROMPT, conversation, tiny


def two_classes(count: int = 8) -> tuple[torch.Tensor, list[str]]:
    """Pooled features ``(clips, 2 layers, 4)``: layer 2 says the class (plus a little noise), layer 1 is noise."""
    generator = torch.Generator().manual_seed(0)
    pooled = torch.randn(count, 2, 4, generator=generator)
    labels = ["dog" if i % 2 else "rain, heavy" for i in range(count)]
    pooled[:, 1] = 0.3 * pooled[:, 1] + torch.tensor([3.0 if label == "dog" else -3.0 for label in labels])[:, None]
    return pooled, labels


def test_a_fitted_tagger_names_the_class_first_with_its_probability_and_survives_saving(tmp_path: Path):
    pooled, labels = two_classes()
    tagger = SoundTagger.fit(pooled, labels)
    described = [reading.best(2) for reading in tagger.read(pooled)]
    assert [d.split(" (")[0] for d in described] == labels
    # Labels may hold commas, so semicolons part them; probabilities are percentages, best first.
    assert described[0].startswith("rain, heavy (") and "%); dog (" in described[0]
    assert tagger.layer_weights[1] > tagger.layer_weights[0]  # the mix settles on the layer that tells them apart
    tagger.save(tmp_path / "tagger.safetensors")
    assert [r.best(2) for r in SoundTagger.load(tmp_path / "tagger.safetensors").read(pooled)] == described


def test_pool_frames_gives_mean_and_max_per_layer():
    frames = torch.tensor([[[1.0, 2.0]], [[3.0, -2.0]]])  # 2 frames, 1 layer, d=2
    assert pool_frames(frames).tolist() == [[2.0, 0.0, 3.0, 2.0]]
    assert pool_frames(frames[:, 0]).tolist() == [[2.0, 0.0, 3.0, 2.0]]


def test_the_sounds_line_follows_a_clips_audio_tokens_and_its_transcript_when_it_has_one():
    model = AudioLLM.from_config(tiny())
    conv = conversation(model, tone(1.0, 440), "a dog")
    plain, _ = model.processor.tokenize(conv, add_generation_prompt=False)
    tagged, labels = model.processor.tokenize(conv, False, [ClipNotes(sounds="dog (80%); bird (9%)")])
    line = model.tokenizer(SOUNDS_LINE.format("dog (80%); bird (9%)"), add_special_tokens=False).input_ids
    last = max(i for i, t in enumerate(tagged) if t == model.processor.audio_token_id)
    assert tagged[last + 1 : last + 1 + len(line)] == line and len(tagged) == len(plain) + len(line)
    assert all(label == -100 for label in labels[: last + 1 + len(line)])  # the tags are prompt, never learned
    # A speech detector may hear words in a bark: the tags still follow, so the bark is not hidden by them.
    both, _ = model.processor.tokenize(conv, False, [ClipNotes("woof", "dog (80%)")])
    notes = model.tokenizer(TRANSCRIPT_LINE.format("woof") + SOUNDS_LINE.format("dog (80%)"),
                            add_special_tokens=False).input_ids
    assert both[last + 1 : last + 1 + len(notes)] == notes and len(both) == len(plain) + len(notes)


def test_the_labels_a_question_names_are_found_as_whole_words_the_longer_of_two_overlapping_ones_winning():
    labels = ["bell", "church bell", "donkey, ass", "goose", "cough", "chop", "dog", "rain"]
    assert named_labels(labels, "Which is it: cough; Chop; donkey, ass; or goose?") == ["cough", "chop", "donkey, ass",
                                                                                       "goose"]
    assert named_labels(labels, "Is this a church bell? Answer yes or no.") == ["church bell"]
    assert named_labels(labels, "Do you hear dogs or raindrops?") == []  # not the words "dog" and "rain"


def test_named_tags_score_each_option_the_question_names_likeliest_first_even_outside_the_best_five():
    reading = SoundReading({"walk, footsteps": 0.51, "rain": 0.3, "wind": 0.1, "thunder": 0.05, "car": 0.03,
                            "bird": 0.009, "goose": 0.006, "chop": 0.004, "cough": 0.001})
    question = "What is making this sound? cough; chop; walk, footsteps; or goose?"
    assert reading.best(5) == "walk, footsteps (51%); rain (30%); wind (10%); thunder (5%); car (3%)"
    assert reading.named(question) == "walk, footsteps (51%); goose (1%); chop (0%); cough (0%)"
    assert reading.named("What is making this sound?") == ""
    assert TagLines(top=1, named=True).of(reading, "Is it rain?") == ("walk, footsteps (51%)", "rain (30%)")
    assert TagLines(top=1, named=False).of(reading, "Is it rain?") == ("walk, footsteps (51%)", "")
    # With a decimal, a label the tagger gives 0.6 % no longer reads as one it gives 0.1 %.
    assert reading.named(question, decimals=1) == "walk, footsteps (51.0%); goose (0.6%); chop (0.4%); cough (0.1%)"
    assert TagLines(top=2, named=True, decimals=1).of(reading, "Is it a goose?") == (
        "walk, footsteps (51.0%); rain (30.0%)", "goose (0.6%)")
    line = ClipNotes(sounds="walk, footsteps (51%)", named="rain (30%)").line()
    assert line == SOUNDS_LINE.format("walk, footsteps (51%)") + NAMED_LINE.format("rain (30%)")


def fit_and_spy(model: AudioLLM) -> tuple[list[np.ndarray], torch.Tensor, list[list[int]]]:
    """Fits a hum/whistle tagger and records the prompt ids of each generation."""
    clips = [tone(1.0, 220), tone(1.0, 3000)]
    pooled = torch.stack([pool_frames(f) for f in model.encode_clips(clips)])
    model.tagger = SoundTagger.fit(pooled, ["hum", "whistle"])
    captured: list[list[int]] = []
    real = model.embed

    def spy(input_ids: torch.Tensor, audio_embeds: torch.Tensor | None) -> torch.Tensor:
        captured.append(input_ids[0].tolist())
        return real(input_ids, audio_embeds)

    model.embed = spy  # type: ignore[method-assign]
    return clips, pooled, captured


@pytest.mark.parametrize("decimals", [0, 1])
def test_generation_with_named_tags_scores_the_sound_a_question_asks_about_in_its_prompt(decimals: int):
    model = AudioLLM.from_config(tiny(tags=1, named_tags=True, tag_decimals=decimals))
    clips, pooled, captured = fit_and_spy(model)
    question = "Is this a hum? Answer yes or no."
    model.generate(audio=clips[1], prompt=question, max_new_tokens=2)
    del model.embed
    text = model.tokenizer.decode(captured[0])
    reading = model.tagger.read(pooled[1:])[0]
    best, named = reading.best(1, decimals), reading.named(question, decimals)
    assert best.startswith("whistle (") and named.startswith("hum (")
    assert SOUNDS_LINE.format(best) + NAMED_LINE.format(named) in text
    assert ("." in named) == (decimals == 1)


def test_training_rows_carry_the_named_tags_of_their_own_question(tmp_path: Path):
    from audiollm.data.dataset import ClipTags, ManifestDataset, read_rows

    model = AudioLLM.from_config(tiny(tags=1, named_tags=True))
    sf.write(tmp_path / "c.wav", tone(0.5), SAMPLE_RATE)
    rows = [{"audio": "c.wav", "prompt": prompt, "answer": answer, "task": "yesno"}
            for prompt, answer in (("Is it rain? Answer yes or no.", "no"), ("What is it?", "dog"))]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dataset = ManifestDataset(read_rows([tmp_path / "train.jsonl"]), model.processor, 30.0, 1e-4,
                              tags=ClipTags({str(tmp_path / "c.wav"): SoundReading({"dog": 0.8, "rain": 0.2})},
                                            TagLines(top=1, named=True)))
    asked, open_question = (model.tokenizer.decode(dataset[i].ids) for i in (0, 1))
    assert SOUNDS_LINE.format("dog (80%)") + NAMED_LINE.format("rain (20%)") in asked
    assert SOUNDS_LINE.format("dog (80%)") in open_question and NAMED_LINE.split(":")[0] not in open_question


def test_a_swapped_row_plays_another_sounds_audio_under_its_own_tags_and_answer(tmp_path: Path):
    from audiollm.data.dataset import ClipTags, ManifestDataset, read_rows

    model = AudioLLM.from_config(tiny(tags=1))
    clips = {"dog.wav": tone(0.5, 440.0), "rain.wav": tone(0.7, 220.0), "piano.wav": tone(0.6, 330.0)}
    for name, clip in clips.items():
        sf.write(tmp_path / name, clip, SAMPLE_RATE)
    rows = [{"audio": "dog.wav", "prompt": "What is it?", "answer": "dog", "task": "sound_event"},
            {"audio": "dog.wav", "prompt": "Is it rain? Answer yes or no.", "answer": "no", "task": "yesno"},
            {"audio": "rain.wav", "prompt": "What is it?", "answer": "rain", "task": "sound_event"},
            {"audio": "piano.wav", "prompt": "Which instrument?", "answer": "piano", "task": "instrument"}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    readings = {str(tmp_path / n): SoundReading({n[:-4]: 0.9, "other": 0.1}) for n in clips}
    dataset = ManifestDataset(read_rows([tmp_path / "train.jsonl"]), model.processor, 30.0, 1e-4,
                              tags=ClipTags(readings, TagLines(top=1, named=False)), tag_dropout=1.0,
                              audio_swap=1.0, swap_tasks=["sound_event"])
    dog, asked, rain, piano = (dataset[i] for i in range(4))
    # Every row about a sound clip hears the other sound, never a clip of another kind of row (the instrument).
    for sample, heard in ((dog, "rain.wav"), (asked, "rain.wav"), (rain, "dog.wav"), (piano, "piano.wav")):
        assert np.allclose(sample.clips[0], load_audio(tmp_path / heard)), sample.where
    # A swapped row keeps its own clip's tags, shown despite tag_dropout (they are its only evidence), and answer.
    text = model.tokenizer.decode(dog.ids)
    assert SOUNDS_LINE.format("dog (90%)") in text and dog.answer == "dog"
    assert SOUNDS_LINE.split(":")[0] not in model.tokenizer.decode(piano.ids)  # unswapped: dropped as asked
    plain = ManifestDataset(read_rows([tmp_path / "train.jsonl"]), model.processor, 30.0, 1e-4,
                            tags=ClipTags(readings, TagLines(top=1, named=False)), swap_tasks=["sound_event"])
    assert np.allclose(plain[0].clips[0], load_audio(tmp_path / "dog.wav"))


def test_audio_swap_without_tags_is_refused_before_training(tmp_path: Path):
    from audiollm.training.config import load_train_config
    from audiollm.training.trainer import train as run_training

    from .train_helpers import TINY_TRAIN, overrides, write_manifest

    manifest = write_manifest(tmp_path / "data")
    with pytest.raises(ValueError, match="audio_swap.*encoder.tags"):
        run_training(load_train_config(TINY_TRAIN, overrides(manifest, tmp_path / "run", "data.audio_swap=0.5")))
    assert not (tmp_path / "run").exists()


def test_a_model_asked_for_tags_without_a_tagger_says_how_to_get_one():
    model = AudioLLM.from_config(tiny(tags=2))
    with pytest.raises(ValueError, match="no fitted sound tagger.*audiollm train fits one"):
        model.generate(audio=tone(1.0), prompt=PROMPT, max_new_tokens=2)


def test_generation_puts_the_taggers_labels_in_the_prompt_and_the_saved_model_keeps_them(tmp_path: Path):
    model = AudioLLM.from_config(tiny(tags=2))
    clips, pooled, captured = fit_and_spy(model)
    answer = model.generate(audio=clips[1], prompt=PROMPT, max_new_tokens=4)
    del model.embed
    expected = model.tagger.read(pooled[1:])[0].best(2)
    assert expected.startswith("whistle (")
    ids, _ = model.processor.tokenize(conversation(model, clips[1]), True, [ClipNotes(sounds=expected)])
    assert captured[0] == ids
    model.save_pretrained(tmp_path / "saved")
    loaded = AudioLLM.from_pretrained(tmp_path / "saved", device=None, dtype=None)
    assert loaded.tagger is not None and loaded.tagger.labels == ["hum", "whistle"]
    assert loaded.generate(audio=clips[1], prompt=PROMPT, max_new_tokens=4) == answer


def test_a_training_clips_tags_come_from_a_tagger_that_never_heard_its_source(tmp_path: Path):
    from audiollm.data.dataset import read_rows

    # Two sources per label; each (source, label) group's clip is tagged by folds fitted without it.
    rows, features = [], []
    pooled, labels = two_classes(8)
    for i, label in enumerate(labels):
        sf.write(tmp_path / f"c{i}.wav", tone(0.5), SAMPLE_RATE)
        rows.append({"audio": f"c{i}.wav", "prompt": "What is it?", "answer": label, "task": "sound_event",
                     "meta": {"source": f"package{i % 4}"}})
        features.append(pooled[i])
    rows.append({"audio": "c0.wav", "prompt": "Is it rain?", "answer": "yes", "task": "yesno"})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    clips = tag_clips(read_rows([tmp_path / "train.jsonl"]), ["sound_event"])
    assert len(clips.paths) == 8 and len(set(clips.groups)) == 4
    tags = {p: r.best(1) for p, r in held_out_tags(torch.stack(features), clips, folds=2, seed=0).tags.items()}
    assert set(tags) == set(clips.paths)
    # The class is still learnt from the other source, so held-out tags name it.
    assert [tags[p].split(" (")[0] for p in clips.paths] == labels
    # With one source per label, a clip's own label is unknown to the tagger that tags it.
    lone = TagClips(clips.paths, clips.labels, list(clips.labels))
    lone_tags = {p: r.best(1) for p, r in held_out_tags(torch.stack(features), lone, folds=2, seed=0).tags.items()}
    assert all(not lone_tags[p].startswith(label + " (") for p, label in zip(lone.paths, lone.labels))


def test_the_temperature_fitted_on_held_out_predictions_recovers_how_overconfident_they_are():
    generator = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(4000, 5, generator=generator)
    logits[2000:, 4] = -float("inf")  # the second fold knows one label fewer
    # Labels drawn from softmax(logits / 3): logits three times too sure of themselves.
    targets = torch.multinomial((logits / 3).softmax(-1), 1, generator=generator)[:, 0]
    temperature = fit_temperature([(logits[:2000], targets[:2000]), (logits[2000:, :4], targets[2000:])])
    assert 2.6 < temperature < 3.4, temperature
    assert fit_temperature([(logits[:0], targets[:0])]) == 1.0  # nothing held out to judge by: left as it is


def test_held_out_tags_are_calibrated_and_a_confident_mistake_no_longer_reads_as_certain():
    # Two layers of noise and one that tells the classes apart only roughly: a fit on the other folds is sure of
    # itself and often wrong on the held-out fold, so the fitted temperature softens it.
    generator = torch.Generator().manual_seed(1)
    labels = [["dog", "rain", "bell"][i % 3] for i in range(120)]
    pooled = torch.randn(120, 2, 16, generator=generator)
    pooled[:, 1, 0] += torch.tensor([{"dog": 1.0, "rain": 0.0, "bell": -1.0}[label] for label in labels])
    clips = TagClips([f"c{i}.wav" for i in range(120)], labels, [f"s{i % 8}/{label}" for i, label in enumerate(labels)])
    held = held_out_tags(pooled, clips, folds=4, seed=0)
    assert held.temperature > 1.5, held.temperature
    first = [100 * max(r.probabilities.values()) for r in held.tags.values()]
    assert max(first) < 100 and sum(first) / len(first) < 90, first
    # On clips of sources no fold heard, the calibrated tagger's probabilities match its accuracy more closely.
    from audiollm.eval.probe import tagger_scores

    tagger = SoundTagger.fit(pooled[:96], labels[:96])
    unheard = torch.randn(240, 2, 16, generator=generator)
    truth = [["dog", "rain", "bell"][i % 3] for i in range(240)]
    unheard[:, 1, 0] += torch.tensor([{"dog": 1.0, "rain": 0.0, "bell": -1.0}[label] for label in truth])
    sure = tagger_scores(tagger, unheard, truth, top=2)
    honest = tagger_scores(tagger.calibrate(held.temperature), unheard, truth, top=2)
    assert honest["top-1"] == sure["top-1"] and honest["in top 2"] == sure["in top 2"]  # the ranking stays
    assert honest["ECE"] < sure["ECE"] and honest["NLL"] < sure["NLL"] and honest["mean top p"] < sure["mean top p"]


def test_training_with_tags_fits_and_saves_a_tagger_and_learns(tmp_path: Path):
    from audiollm.training.config import load_train_config
    from audiollm.training.trainer import train as run_training

    from .train_helpers import TINY_TRAIN, losses, overrides, write_manifest

    extra = [{"audio": f"tone{i}.wav", "prompt": "What sound is this?", "answer": answer, "task": "sound_event",
              "meta": {"source": f"set{i % 3}"}} for i, answer in enumerate(["hum", "beep"] * 3)]
    manifest = write_manifest(tmp_path / "data", extra=extra)
    out = tmp_path / "run"
    result = run_training(load_train_config(TINY_TRAIN, overrides(
        manifest, out, "max_steps=6", "model_overrides=[encoder.tags=2, encoder.layers=all]",
        "data.tag_dropout=0.5", "data.tag_folds=3")))
    curve = losses(out)
    assert result.steps == 6 and curve[-1] < curve[0], curve
    saved = AudioLLM.from_pretrained(out, device=None, dtype=None)
    assert saved.tagger is not None and saved.tagger.labels == ["beep", "hum"]
    heard = [load_audio(tmp_path / "data" / f"tone{i}.wav") for i in (0, 1)]
    tags = saved.sound_tags(saved.encode_clips(heard), ["What sound is this?"] * 2)
    assert tags[0][0].startswith("hum (") and tags[1][0].startswith("beep (")
    assert tags[0][1] == ""  # encoder.named_tags is off: no line of named labels


def test_a_fixed_sample_of_speech_clips_joins_the_taggers_clips_as_speech(tmp_path: Path):
    from audiollm.data.dataset import read_rows

    rows = [{"audio": f"s{i}.wav", "prompt": "Transcribe.", "answer": f"words {i}", "task": "asr",
             "meta": {"source": f"voice{i % 3}"}} for i in range(10)]
    rows += [{"audio": f"e{i}.wav", "prompt": "What is it?", "answer": "dog", "task": "sound_event",
              "meta": {"source": "pack"}} for i in range(2)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = read_rows([tmp_path / "train.jsonl"])
    clips = tag_clips(read, ["sound_event"], ["asr"], speech_clips=4, seed=0)
    assert clips.labels == ["dog", "dog", "speech", "speech", "speech", "speech"]
    assert all(p.startswith(str(tmp_path / "s")) for p in clips.paths[2:]) and len(set(clips.paths)) == 6
    assert all(g.endswith("/speech") and g.startswith("voice") for g in clips.groups[2:])
    assert tag_clips(read, ["sound_event"], ["asr"], speech_clips=4, seed=0) == clips  # the same sample every run
    assert tag_clips(read, ["sound_event"], ["asr"], speech_clips=40).labels.count("speech") == 10
    assert tag_clips(read, ["sound_event"]).labels == ["dog", "dog"]


def test_a_label_of_one_source_is_still_known_to_the_fold_that_tags_its_clips(tmp_path: Path):
    from audiollm.data.dataset import read_rows

    rows = [{"audio": f"d{i}.wav", "prompt": "What is it?", "answer": "dog", "task": "sound_event",
             "meta": {"source": "pack"}} for i in range(4)]
    rows += [{"audio": f"r{i}.wav", "prompt": "What is it?", "answer": "rain", "task": "sound_event",
              "meta": {"source": f"pack{i % 2}"}} for i in range(4)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    clips = tag_clips(read_rows([tmp_path / "train.jsonl"]), ["sound_event"])
    # Rain comes from two sources, so a fold holds one out as the test split does; dog only from one, so a fold
    # that held "pack" out would never have heard a dog and its tags could not name one.
    assert clips.groups[4:] == ["pack0/rain", "pack1/rain", "pack0/rain", "pack1/rain"]
    assert clips.groups[:4] == clips.paths[:4]
    pooled = torch.randn(8, 1, 4, generator=torch.Generator().manual_seed(0))
    held = held_out_tags(pooled, clips, folds=2, seed=0)
    assert all("dog" in held.tags[path].probabilities for path in clips.paths[:4])


@pytest.mark.parametrize("setting", ["data.tag_dropout=2", "data.tag_folds=1", "data.tag_speech_clips=-1",
                                     "data.audio_swap=1.5"])
def test_tag_settings_are_checked(setting: str):
    from audiollm.config import ConfigError
    from audiollm.training.config import load_train_config

    with pytest.raises(ConfigError, match=setting.split("=")[0].removeprefix("data.")):
        load_train_config(ROOT / "configs/train/tiny.yaml", ["data.train=[x.jsonl]", setting])


@pytest.mark.parametrize("setting", ["encoder.tag_decimals=-1", "encoder.tag_decimals=3", "encoder.tags=-2",
                                     "encoder.no_speech_threshold=1.5"])
def test_encoder_tag_settings_are_checked_when_the_config_loads(setting: str):
    from audiollm.config import AudioLLMConfig, ConfigError

    with pytest.raises(ConfigError, match=setting.split("=")[0]):
        AudioLLMConfig.from_yaml(ROOT / "configs/models/tiny.yaml", [setting])
