"""How well a task's labels can be read from the frozen encoder's features: a linear probe and its learning curve.

Fits a linear classifier on the pooled encoder frames of the train manifest's clips (a quarter, half and all of
them) and prints its accuracy on the dev and test clips, beside which the model's ``audiollm eval`` accuracy on the
same task can be read: a model at the probe's level is limited by its data, not by its adapter's training. Where
the manifests hold multiple-choice rows about the probed clips, it also answers those by picking, of each row's
options, the one it scores highest: the multiple-choice score a model hearing those features can be held to.

``--layers`` instead probes each encoder layer alone and their learned softmax mix (as ``encoder.layers: all``
feeds the projector), on every train clip:

    python bench/encoder_probe.py data/starter --task sound_class [--model default] [--layers]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

from audiollm.eval.probe import (LinearProbe, choice_accuracy, choice_rows, format_curve, format_layers,
                                 labelled_clips, pooled_features, probe_curve, probe_layers)
from audiollm.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("data", type=Path, help="folder with train.jsonl, dev.jsonl and test.jsonl")
    parser.add_argument("--task", required=True, help="a classification task, e.g. sound_class or instrument")
    parser.add_argument("--model", default="default", help="whose frozen encoder is probed")
    parser.add_argument("--layers", action="store_true", help="probe each layer alone and their learned mix")
    args = parser.parse_args()

    model = load_model(args.model)
    layers = list(range(1, len(model.encoder.whisper.layers) + 1)) if args.layers else None
    sets = {split: labelled_clips(args.data / f"{split}.jsonl", args.task) for split in ("train", "dev", "test")}
    features = {split: pooled_features(model, s.clips, layers=layers) for split, s in sets.items()}
    held_out = {split: (features[split], sets[split].labels) for split in ("dev", "test")}
    train = (features["train"], sets["train"].labels)
    labels = len(set(sets["train"].labels))
    print(f"linear probe on {args.model}'s encoder, task {args.task} ({labels} labels in train, "
          f"{len(sets['train'].clips)} clips)")
    if layers:
        print(format_layers(probe_layers(train, held_out, layers)))
    else:
        print(format_curve(probe_curve(train, held_out)))
    # The multiple-choice ceiling: the probe fitted on every train clip picks among each row's own options.
    probe = LinearProbe(*train)
    for split in ("dev", "test"):
        rows = choice_rows(args.data / f"{split}.jsonl", sets[split].clips)
        right, total = choice_accuracy(probe, features[split], sets[split].clips, rows)
        if total:
            print(f"{split}: multiple choice, the probe picking among each row's options: {right}/{total} = "
                  f"{right / total:.1%}")


if __name__ == "__main__":
    main()
