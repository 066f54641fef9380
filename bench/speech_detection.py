"""Which clips get a transcript: Whisper's no-speech probability (at several thresholds) against silero-vad.

Over the distinct clips of a corpus's manifests, speech clips (the asr, word and spoken_qa tasks) and non-speech
clips (sound_class, instrument), counts false transcripts (a non-speech clip given words) and missed ones (a
speech clip given none), on each clip's first 30 s window.

    python bench/speech_detection.py data/starter [--model configs/models/base.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.audio import WINDOW_SAMPLES, encoder_frames, load_audio, log_mel
from audiollm.data.manifest import read_manifest
from audiollm.model import load_model
from audiollm.vad import speech_spans

SPEECH_TASKS = ("asr", "word", "spoken_qa")
NON_SPEECH_TASKS = ("sound_class", "instrument")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def corpus_clips(data: Path) -> dict[Path, bool]:
    """Each distinct clip of the train, dev and test manifests, and whether it holds speech."""
    clips: dict[Path, bool] = {}
    for split in ("train", "dev", "test"):
        for example in read_manifest(data / f"{split}.jsonl"):
            if len(example.audio) == 1 and example.task in SPEECH_TASKS + NON_SPEECH_TASKS:
                clips.setdefault(example.audio[0], example.task in SPEECH_TASKS)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("data", type=Path, help="folder with train.jsonl, dev.jsonl and test.jsonl")
    parser.add_argument("--model", default="configs/models/base.yaml", help="whose Whisper decides")
    args = parser.parse_args()

    model = load_model(args.model)
    clips = corpus_clips(args.data)
    speech = sum(clips.values())
    results: list[tuple[bool, float, bool, bool]] = []  # speech?, no-speech prob, words?, silero speech?
    for clip, is_speech in clips.items():
        samples = load_audio(clip)[:WINDOW_SAMPLES]
        frames = model.encoder.final(log_mel(samples, model.config.encoder.n_mels, True))
        decoded = model.encoder.decoder.decode(frames, audio_frames=encoder_frames(len(samples), False))
        results.append((is_speech, decoded.no_speech_prob, bool(decoded.text), bool(speech_spans(samples))))
    print(f"{len(clips)} clips of {args.data}: {speech} speech ({', '.join(SPEECH_TASKS)}), "
          f"{len(clips) - speech} non-speech ({', '.join(NON_SPEECH_TASKS)})")
    print(f"{'detector':<28}{'false transcripts':>18}{'missed':>9}")
    never = sum(1 for s, _, words, _ in results if not s and words)
    print(f"{'none (every clip decoded)':<28}{never:>14}/{len(clips) - speech:<3}"
          f"{sum(1 for s, _, w, _ in results if s and not w):>5}/{speech}")
    for threshold in THRESHOLDS:
        false = sum(1 for s, p, w, _ in results if not s and w and p < threshold)
        missed = sum(1 for s, p, w, _ in results if s and (p >= threshold or not w))
        print(f"{f'whisper no-speech < {threshold:g}':<28}{false:>14}/{len(clips) - speech:<3}{missed:>5}/{speech}")
    false = sum(1 for s, _, w, h in results if not s and w and h)
    missed = sum(1 for s, _, w, h in results if s and not (w and h))
    print(f"{'silero-vad':<28}{false:>14}/{len(clips) - speech:<3}{missed:>5}/{speech}")


if __name__ == "__main__":
    main()
