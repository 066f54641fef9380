"""Is the synthetic speech intelligible? Transcribe a sample per voice with Whisper and score the word error rate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..audio import AudioInput, load_audio
from ..data.manifest import read_manifest
from .metrics import word_errors

BATCH = 8
MAX_TOKENS = 64  # the sentences have at most 16 words; a stuck decoder stops here


@dataclass
class VoiceScore:
    voice: str
    errors: int
    words: int
    clips: int

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.words)


def transcription_sample(corpus: Path, per_voice: int) -> list[tuple[str, Path, str]]:
    """(voice, clip, sentence) for up to ``per_voice`` plain ``asr`` clips of each voice, over all splits."""
    seen: dict[str, dict[Path, str]] = defaultdict(dict)
    for split in ("train", "dev", "test"):
        manifest = corpus / f"{split}.jsonl"
        if not manifest.is_file():
            continue
        for example in read_manifest(manifest):
            voice = example.meta.get("voice")
            if example.task == "asr" and isinstance(voice, str) and len(seen[voice]) < per_voice:
                seen[voice].setdefault(example.audio[0], example.answer)
    return [(voice, clip, text) for voice in sorted(seen) for clip, text in seen[voice].items()]


def whisper_transcriber(model_name: str = "whisper-base",
                        num_beams: int = 1) -> Callable[[Sequence[AudioInput]], list[str]]:
    """English transcription with the converted Whisper (``resolve_model``), greedy or with ``num_beams`` beams:
    clips in, texts out."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from ..weights import resolve_model

    path = resolve_model(model_name, kind="whisper")
    model = WhisperForConditionalGeneration.from_pretrained(path).eval()
    processor = WhisperProcessor.from_pretrained(path)

    def transcribe(clips: Sequence[AudioInput]) -> list[str]:
        features = processor.feature_extractor([load_audio(clip) for clip in clips], sampling_rate=16_000,
                                               return_tensors="pt").input_features
        with torch.no_grad():
            generated = model.generate(features, language="en", task="transcribe", max_new_tokens=MAX_TOKENS,
                                       num_beams=num_beams)
        return processor.batch_decode(generated, skip_special_tokens=True)

    return transcribe


def whisper_wer(sample: Iterable[tuple[str, Path, str]], model_name: str = "whisper-base",
                progress: bool = True, num_beams: int = 1) -> list[VoiceScore]:
    """WER per voice of :func:`whisper_transcriber`'s transcriptions, in batches."""
    transcribe = whisper_transcriber(model_name, num_beams)
    items = list(sample)
    scores: dict[str, VoiceScore] = {}
    for start in tqdm(range(0, len(items), BATCH), desc="whisper", unit="batch", disable=not progress):
        batch = items[start:start + BATCH]
        for (voice, _, reference), text in zip(batch, transcribe([clip for _, clip, _ in batch])):
            tally = word_errors(text, reference)
            score = scores.setdefault(voice, VoiceScore(voice, 0, 0, 0))
            score.errors += int(tally.value)
            score.words += int(tally.count)
            score.clips += 1
    return sorted(scores.values(), key=lambda s: s.voice)


def format_scores(scores: list[VoiceScore]) -> str:
    """A table of clips, words and WER per voice, with the pooled WER of all of them last."""
    lines = [f"{'voice':<34}{'clips':>6}{'words':>7}{'WER':>8}"]
    lines += [f"{s.voice:<34}{s.clips:>6}{s.words:>7}{s.wer:>8.1%}" for s in scores]
    errors, words = sum(s.errors for s in scores), sum(s.words for s in scores)
    lines.append(f"{'all voices':<34}{sum(s.clips for s in scores):>6}{words:>7}{errors / max(1, words):>8.1%}")
    return "\n".join(lines)
