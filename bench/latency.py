"""Latency of one spoken answer: time to first token, tokens/s, time to first audio chunk, real-time factor.

    python bench/latency.py [--model M] [--repeats 5] [--seconds 2 5 20] [--speech hibari] [--max-new-tokens 48]
        [--transcript both|off|on]

For each clip length (speech from examples/speech.flac, repeated to length) one untimed warm-up turn, then
``--repeats`` timed turns through ``AudioLLM.stream`` -> ``SpeechHead.narrate`` (the path the demo uses). Reports the
median and p90 of:
  ttft_s         request -> first text piece (encoder, prefill, first token)
  tok_per_s      answer tokens / (last piece - first piece), the decode rate
  first_audio_s  request -> first spoken chunk (the streaming head's point: compare with text_done_s)
  text_done_s    request -> last text piece
  rtf            whole turn (text and speech) / clip length; below 1 is faster than real time

Each clip length is measured without Whisper's transcript in the prompt and with it (``--transcript both``, the
default; rows marked ``+tr``): the transcript costs one Whisper decoding of the clip before the LLM starts.

``--model`` defaults to the released ``default`` model; when it is not installed, configs/models/base.yaml
(Whisper-base + SmolLM2-135M, untrained projector, weights from the offline packs); when those are missing too,
the tiny random model. The line "model:" says which one was measured.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from audiollm.audio import SAMPLE_RATE, load_audio
from audiollm.model import AudioLLM, load_model
from audiollm.speech import BACKENDS, DEFAULT_BACKEND, SpeechHead, load_speech

ROOT = Path(__file__).resolve().parents[1]
FALLBACKS = ["default", str(ROOT / "configs/models/base.yaml"), str(ROOT / "configs/models/tiny.yaml")]
PROMPT = "What does the speaker say? Answer in two sentences."


def pick_model(spec: str | None) -> tuple[AudioLLM, str]:
    if spec:
        return load_model(spec), spec
    for candidate in FALLBACKS:
        try:
            return load_model(candidate), candidate
        except (OSError, ValueError) as exc:
            print(f"model {candidate}: not available ({str(exc).splitlines()[0][:160]})")
    raise SystemExit("no model could be loaded")


def clip_of(seconds: float) -> np.ndarray:
    speech = load_audio(ROOT / "examples" / "speech.flac")
    return np.resize(speech, int(seconds * SAMPLE_RATE))


def one_turn(model: AudioLLM, head: SpeechHead | None, clip: np.ndarray, max_new_tokens: int,
             transcript: bool) -> dict[str, float]:
    start = time.perf_counter()
    first_text = first_audio = last_text = None
    text = ""
    pieces = model.stream(audio=clip, prompt=PROMPT, max_new_tokens=max_new_tokens, transcript=transcript)
    for item in head.narrate(pieces) if head else pieces:
        now = time.perf_counter() - start
        if isinstance(item, str):
            first_text = now if first_text is None else first_text
            last_text = now
            text += item
        elif first_audio is None:
            first_audio = now
    total = time.perf_counter() - start
    tokens = len(model.tokenizer.encode(text, add_special_tokens=False))
    assert first_text is not None and last_text is not None, "the model gave no answer"
    decode = last_text - first_text
    return {
        "ttft_s": first_text,
        "tok_per_s": (tokens - 1) / decode if decode > 0 and tokens > 1 else float("nan"),
        "first_audio_s": first_audio if first_audio is not None else float("nan"),
        "text_done_s": last_text,
        "rtf": total / (clip.size / SAMPLE_RATE),
        "tokens": tokens,
    }


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="default: the released model, else base.yaml, else tiny.yaml")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 20.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--speech", default=DEFAULT_BACKEND, choices=[*sorted(BACKENDS), "none"])
    parser.add_argument("--transcript", default="both", choices=["both", "off", "on"],
                        help="Whisper's transcript in the prompt: measure without it, with it, or both")
    args = parser.parse_args()
    transcripts = {"both": [False, True], "off": [False], "on": [True]}[args.transcript]

    model, name = pick_model(args.model)
    head = None if args.speech == "none" else load_speech(args.speech)
    print(f"model: {name}   speech: {args.speech}   repeats: {args.repeats}   max_new_tokens: {args.max_new_tokens}")
    columns = ["ttft_s", "tok_per_s", "first_audio_s", "text_done_s", "rtf"]
    print(f"{'clip':>6} {'tokens':>6} " + " ".join(f"{c + ' med/p90':>22}" for c in columns) + "  first_audio/text_done")
    for seconds in args.seconds:
        clip = clip_of(seconds)
        for transcript in transcripts:
            one_turn(model, head, clip, args.max_new_tokens, transcript)  # warm-up: allocator, first-call costs
            runs = [one_turn(model, head, clip, args.max_new_tokens, transcript) for _ in range(args.repeats)]
            cells = []
            for column in columns:
                values = [run[column] for run in runs]
                cells.append(f"{statistics.median(values):>10.3f} / {p90(values):<9.3f}")
            ratio = statistics.median(run["first_audio_s"] / run["text_done_s"] for run in runs)
            tokens = statistics.median(run["tokens"] for run in runs)
            label = f"{seconds:.0f}s" + ("+tr" if transcript else "")
            print(f"{label:>6} {tokens:>6.0f} " + " ".join(f"{c:>22}" for c in cells) + f"  {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
