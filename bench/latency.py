"""Latency of one spoken answer, and our decoding beside CTranslate2's on the same merged LLM.

    python bench/latency.py [--model M] [--repeats 3] [--seconds 2 5 20] [--speech hibari] [--max-new-tokens 48]
        [--transcript off|on|both] [--skip-ct2]

Three parts, all in one run so that a busy machine slows them alike:

1. decode: the LLM alone on one text prompt, greedy, ``--max-new-tokens`` tokens, repeats interleaved: tokens/s
   after the first token (``(tokens - 1) / (last - first)``) for the lean step on oneDNN products (how inference
   decodes on the CPU, ``audiollm/lean_decoder.py``), transformers' own step with LoRA merged, with LoRA applied
   through peft (how it loaded before), and CTranslate2 (float32, as many threads as torch, in a process of its
   own: ``bench/ct2_worker.py``) on the merged LLM, and the ratio lean / CTranslate2. bfloat16 is measured too
   when the CPU has AVX512-BF16 or AMX.
2. answers: greedy answers to the example clips' prompts and the text-skill test's 30 prompts, lean, peft (and
   bfloat16) each beside transformers' step: "same" or the first that differs.
3. turns: for each clip length (speech from examples/speech.flac, repeated to length) one untimed warm-up turn, then
   ``--repeats`` timed turns through ``AudioLLM.stream`` (and ``SpeechHead.narrate``, the path the demo uses, in the
   rows marked ``+sp``). Medians of:
     ttft_s         request -> first text piece (encoder, prefill, first token)
     tok_per_s      answer tokens / (last piece - first piece), the decode rate
     first_audio_s  request -> first spoken chunk (``+sp`` rows)
     text_done_s    request -> last text piece
     rtf            whole turn (text and speech) / clip length; below 1 is faster than real time
   ``--transcript on`` adds Whisper's transcript to the prompt (one Whisper decoding before the LLM starts).

``--model`` defaults to the released ``default`` model; when it is not installed, configs/models/base.yaml, else the
tiny random model. The line "model:" says which one was measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from audiollm.quiet import add_verbose_flag, quiet_unless_verbose

quiet_unless_verbose()  # before the imports below: dependencies read their verbosity when imported

import numpy as np
import torch

from audiollm.audio import SAMPLE_RATE, load_audio
from audiollm.eval.text_skills import answers as text_answers, load_prompts
from audiollm.generation import AnswerText, Row, decode
from audiollm.lean_decoder import LeanLlama
from audiollm.model import AudioLLM, load_model
from audiollm.speech import BACKENDS, DEFAULT_BACKEND, SpeechHead, load_speech

ROOT = Path(__file__).resolve().parents[1]
FALLBACKS = ["default", str(ROOT / "configs/models/base.yaml"), str(ROOT / "configs/models/tiny.yaml")]
TEXT_PROMPTS = ROOT / "tests" / "data" / "text_prompts.json"
PROMPT = "What does the speaker say? Answer in two sentences."
TEXT_PROMPT = "Tell me about the history of the violin in three sentences."
EXAMPLES = [("speech.flac", "Transcribe the speech."), ("chord.flac", "Which instrument is playing?"),
            ("doorbell.flac", "What do you hear?"), ("speech.flac", "Who is speaking, and how do they sound?")]


def pick_model(spec: str | None, merge_lora: bool) -> tuple[AudioLLM, str]:
    for candidate in [spec] if spec else FALLBACKS:
        try:
            return load_model(candidate, merge_lora=merge_lora), candidate
        except (OSError, ValueError) as exc:
            if spec:
                raise
            print(f"model {candidate}: not available ({str(exc).splitlines()[0][:160]})")
    raise SystemExit("no model could be loaded")


def cpu_has_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def prompt_ids(model: AudioLLM) -> list[int]:
    ids = model.tokenizer.apply_chat_template([{"role": "user", "content": TEXT_PROMPT}], add_generation_prompt=True,
                                              tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def ours(llm: torch.nn.Module, lean: LeanLlama | None, tokenizer, ids: list[int], tokens: int) -> tuple[float, list[int]]:
    """Our decode loop on ``ids`` (through ``lean`` when given): tokens/s after the first token, and the tokens (end
    of text ignored)."""
    row = Row(tokens, 0.0, 1.0, None, AnswerText(tokenizer, ()), len(ids), 0)
    inputs = torch.tensor([ids], device=llm.device)
    marks: list[tuple[float, int]] = []  # (time, tokens so far) at each piece the loop releases
    with torch.no_grad():
        embeds = llm.get_input_embeddings()(inputs)
        for _ in decode(llm, -1, embeds, torch.ones_like(inputs), [row], lean=lean):
            marks.append((time.perf_counter(), len(row.text.ids)))
    (start, first), (end, last) = marks[0], marks[-1]
    return (last - first) / (end - start) if last > first else float("nan"), row.text.ids


@contextlib.contextmanager
def ctranslate2_runner(model: AudioLLM, scratch: Path, threads: int) -> Iterator[Callable[[list[int], int],
                                                                                         tuple[float, list[int]]]]:
    """CTranslate2 on ``model``'s merged LLM, decoding in a process of its own (``bench/ct2_worker.py``: in this one
    it and our decoding slow each other) until the block ends."""
    import ctranslate2

    model.save_merged(scratch / "merged")
    ctranslate2.converters.TransformersConverter(str(scratch / "merged" / "llm")).convert(
        str(scratch / "ct2"), quantization="float32")
    worker = subprocess.Popen([sys.executable, str(ROOT / "bench" / "ct2_worker.py"), str(scratch / "ct2"),
                               str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None

    def run(ids: list[int], tokens: int) -> tuple[float, list[int]]:
        request = {"tokens": model.tokenizer.convert_ids_to_tokens(ids), "max_length": tokens}
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        line = worker.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/ct2_worker.py ended (exit status {worker.wait()})")
        answer = json.loads(line)
        return answer["rate"], answer["ids"]

    try:
        yield run
    finally:
        worker.stdin.close()
        worker.wait()


def decode_rates(models: dict[str, AudioLLM], ct2: Callable | None, tokens: int, repeats: int) -> None:
    ids = prompt_ids(next(iter(models.values())))
    runners: dict[str, Callable[[], tuple[float, list[int]]]] = {
        name: (lambda m=m: ours(m.llm, m._lean_step(), m.tokenizer, ids, tokens)) for name, m in models.items()}
    if ct2 is not None:
        runners["ctranslate2"] = lambda: ct2(ids, tokens)
    rates: dict[str, list[float]] = {name: [] for name in runners}
    outputs: dict[str, list[int]] = {}
    for name, run in runners.items():
        run()  # warm-up
    for _ in range(repeats):
        for name, run in runners.items():
            rate, outputs[name] = run()
            rates[name].append(rate)
    print(f"decode, {len(ids)}-token text prompt, {tokens} tokens, {torch.get_num_threads()} threads, "
          f"median of {repeats} (interleaved):")
    reference = outputs["transformers"]
    for name, values in rates.items():
        # The loop guard may end ours before the limit: compare what both wrote.
        common = min(len(reference), len(outputs[name]))
        same = "same tokens as transformers" if outputs[name][:common] == reference[:common] else \
            "TOKENS DIFFER from transformers"
        print(f"  {name:<12} {statistics.median(values):7.1f} tok/s   ({same})")
    if ct2 is not None:
        ratio = statistics.median(rates["lean"]) / statistics.median(rates["ctranslate2"])
        print(f"  ratio lean / ctranslate2: {ratio:.2f}")


def compare_answers(models: dict[str, AudioLLM], tokens: int) -> None:
    """Greedy answers to the example clips' prompts and to the text-skill test's 30 prompts, each model beside
    transformers' own step."""
    texts = load_prompts(TEXT_PROMPTS)

    def answers(model: AudioLLM) -> list[tuple[str, str]]:
        heard = [(f"{clip}: {p}", str(model.generate(audio=ROOT / "examples" / clip, prompt=p, max_new_tokens=tokens)))
                 for clip, p in EXAMPLES]
        return heard + list(zip((item.prompt for item in texts), text_answers(model, texts, tokens)))

    expected = answers(models["transformers"])
    for name, model in models.items():
        if name == "transformers":
            continue
        differ = [(asked, a, b) for (asked, a), (_, b) in zip(expected, answers(model)) if a != b]
        verdict = "same" if not differ else f"{len(differ)} differ, first: {differ[0]}"
        print(f"greedy answers to {len(EXAMPLES)} example clips and {len(texts)} text prompts, {name} vs "
              f"transformers: {verdict}")


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
    decoding = last_text - first_text
    return {
        "ttft_s": first_text,
        "tok_per_s": (tokens - 1) / decoding if decoding > 0 and tokens > 1 else float("nan"),
        "first_audio_s": first_audio if first_audio is not None else float("nan"),
        "text_done_s": last_text,
        "rtf": total / (clip.size / SAMPLE_RATE),
        "tokens": tokens,
    }


def turns(model: AudioLLM, head: SpeechHead | None, args: argparse.Namespace) -> None:
    transcripts = {"both": [False, True], "off": [False], "on": [True]}[args.transcript]
    columns = ["ttft_s", "tok_per_s", "first_audio_s", "text_done_s", "rtf"]
    print(f"{'clip':>9} {'tokens':>6} " + " ".join(f"{c:>13}" for c in columns))
    for seconds in args.seconds:
        clip = clip_of(seconds)
        for transcript in transcripts:
            for speaker in [None, head] if head else [None]:
                one_turn(model, speaker, clip, args.max_new_tokens, transcript)  # warm-up: first-call costs
                runs = [one_turn(model, speaker, clip, args.max_new_tokens, transcript) for _ in range(args.repeats)]
                cells = [f"{statistics.median(run[c] for run in runs):>13.3f}" for c in columns]
                tokens = statistics.median(run["tokens"] for run in runs)
                label = f"{seconds:.0f}s" + ("+tr" if transcript else "") + ("+sp" if speaker else "")
                print(f"{label:>9} {tokens:>6.0f} " + " ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    parser.add_argument("--model", default=None, help="default: the released model, else base.yaml, else tiny.yaml")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 20.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--speech", default=DEFAULT_BACKEND, choices=[*sorted(BACKENDS), "none"])
    parser.add_argument("--transcript", default="off", choices=["both", "off", "on"],
                        help="Whisper's transcript in the prompt: without it, with it, or both")
    parser.add_argument("--skip-ct2", action="store_true", help="leave CTranslate2 out of the decode comparison")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each line as it is measured, also into a file

    model, name = pick_model(args.model, merge_lora=True)
    steps = pick_model(name, merge_lora=True)[0]
    steps.lean = None  # transformers' own decoding step, as inference ran before the lean step
    models = {"lean": model, "transformers": steps, "peft": pick_model(name, merge_lora=False)[0]}
    if cpu_has_bf16():
        models["bf16"] = pick_model(name, merge_lora=True)[0]._place("cpu", "bfloat16")
    head = None if args.speech == "none" else load_speech(args.speech)
    print(f"model: {name}   speech: {args.speech}   repeats: {args.repeats}   max_new_tokens: {args.max_new_tokens}")
    with tempfile.TemporaryDirectory() as scratch, (
            contextlib.nullcontext() if args.skip_ct2 else
            ctranslate2_runner(model, Path(scratch), torch.get_num_threads())) as ct2:
        decode_rates(models, ct2, args.max_new_tokens, args.repeats)
    compare_answers(models, 24)
    del models
    turns(model, head, args)


if __name__ == "__main__":
    main()
