"""How right and how honest a trained model's sound tagger is on held-out clips: its accuracy, how often the right
label is among the tags the prompt shows, and how well its probabilities match how often it is right (negative
log-likelihood and expected calibration error), with the temperature training fitted and without it (1).

A tagger sure of a wrong label (``waves, surf (100%)`` on rain) leads the LLM to repeat it; calibrated tags say
when to doubt. The clips are the single-clip rows of the tag tasks in a manifest (by default the test split, whose
packages training never heard):

    python bench/tagger.py runs/default-stage13 data/starter/test.jsonl [--task sound_event] [--top 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.eval.probe import labelled_clips, pooled_features, tagger_scores
from audiollm.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("model", help="a trained model with a sound tagger (encoder.tags > 0)")
    parser.add_argument("manifest", type=Path, help="held-out rows whose tag-task clips are scored")
    parser.add_argument("--task", action="append", help="a tag task (repeatable; default sound_event)")
    parser.add_argument("--top", type=int, help="tags shown (default: the model's encoder.tags)")
    args = parser.parse_args()

    model = load_model(args.model)
    tagger = model.tagger
    if tagger is None:
        raise SystemExit(f"{args.model} has no sound tagger (encoder.tags is {model.config.encoder.tags})")
    top = args.top or model.config.encoder.tags
    temperature = float(tagger.temperature)
    for task in args.task or ["sound_event"]:
        clips = labelled_clips(args.manifest, task)
        features = pooled_features(model, clips.clips)
        print(f"{args.model}'s tagger on {args.manifest}, task {task} ({len(tagger.labels)} labels)")
        rows = [(t, tagger_scores(tagger.calibrate(t), features, clips.labels, top)) for t in (1.0, temperature)]
        tagger.calibrate(temperature)
        print(f"  {'temperature':>14} " + " ".join(f"{k:>10}" for k in rows[0][1]))
        for t, row in rows:
            print(f"  {t:>14.2f} " + " ".join(f"{v:>10.0f}" if k in ("clips", "known") else f"{v:>10.3f}"
                                              for k, v in row.items()))


if __name__ == "__main__":
    main()
