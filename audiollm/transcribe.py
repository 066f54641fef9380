"""Whisper's own decoder: greedy transcription of encoder frames, with timestamps and a no-speech probability.

The decoder is the frozen half of the Whisper checkpoint the encoder comes from (same weights, same sources). One
window (at most 30 s) is decoded at a time; :func:`join_windows` puts a long clip's windows back together.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, get_args

import torch
from torch import nn
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.models.whisper.modeling_whisper import WhisperDecoder

from .cpu_products import linear
from .lean_whisper import LeanWhisperCache, LeanWhisperDecoder

# Seconds per timestamp token (Whisper's <|0.00|>, <|0.02|>, ...), the same as one encoder frame.
TIME_PRECISION = 0.02
# Tokens per window, as openai-whisper (half the decoder's context); a decoder stuck in a loop stops here.
MAX_TOKENS = 224
# The first timestamp is at most 1 s into the window (openai-whisper's max_initial_timestamp).
MAX_INITIAL_TIMESTAMP = 50
# A greedy decoder that repeats itself has stopped listening: a cycle of c tokens (c up to 64) seen
# max(2, ceil(8 / c)) times in a row ("the" 8 times, a sentence twice) ends the window, kept once.
LOOP_SPAN = 8
LOOP_MAX_CYCLE = 64


Task = Literal["transcribe", "translate"]
TASKS: tuple[str, ...] = get_args(Task)


class Segment(NamedTuple):
    """A stretch of speech: start and end in seconds from the clip's start, and its words."""

    start_s: float
    end_s: float
    text: str


@dataclasses.dataclass(frozen=True)
class WhisperVocab:
    """The token ids the decoding loop needs, and how text tokens become text."""

    start: int  # <|startoftranscript|>
    end: int  # <|endoftext|>
    transcribe: int
    translate: int  # Whisper's other task: the speech's words in English, whatever language is spoken
    no_timestamps: int
    no_speech: int  # <|nocaptions|> (<|nospeech|> in large-v3)
    timestamp_begin: int  # <|0.00|>; every id from here on is a timestamp
    languages: dict[str, int]  # "en" -> <|en|>; empty for English-only models
    suppress: tuple[int, ...]
    begin_suppress: tuple[int, ...]
    decode_text: Callable[[list[int]], str]

    def prompt(self, language: str | None, timestamps: bool, task: Task = "transcribe") -> list[int]:
        """The decoder's first tokens. ``language`` None on a multilingual checkpoint: see :meth:`language_ids`."""
        ids = [self.start]
        if self.languages:
            if language not in self.languages:
                raise ValueError(f"language {language!r} is not one Whisper knows; known: "
                                 f"{', '.join(sorted(self.languages))}")
            ids += [self.languages[language], self.translate if task == "translate" else self.transcribe]
        return ids if timestamps else [*ids, self.no_timestamps]


@dataclasses.dataclass(frozen=True)
class Decoded:
    """One window's decoding: its segments (times from the window's start) and the no-speech probability."""

    segments: list[Segment]
    no_speech_prob: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)


class WhisperTextDecoder(nn.Module):
    """Whisper's decoder and output projection (tied to its token embeddings), frozen, decoding greedily."""

    def __init__(self, decoder: WhisperDecoder, vocab: WhisperVocab):
        super().__init__()
        self.decoder = decoder
        self.vocab = vocab
        self.decoder.requires_grad_(False)
        self.decoder.eval()

    def train(self, mode: bool = True) -> WhisperTextDecoder:
        super().train(mode)
        self.decoder.eval()
        return self

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the vocabulary for each row of ``hidden`` ``(rows, d_model)``: the output projection is the
        token embeddings. A token's largest product (about 100 MB in float32 for Whisper's 51865 tokens)."""
        return linear(hidden, self.decoder.embed_tokens.weight)

    @torch.no_grad()
    def decode(self, frames: torch.Tensor, timestamps: bool = False, language: str | None = "en",
               audio_frames: int | None = None, task: Task = "transcribe") -> Decoded:
        """Greedy decoding of one window's encoder frames ``(frames, d_model)``.

        ``audio_frames`` says how many of the frames hold audio (the rest pad the window to 30 s); timestamps are
        kept inside them (one per encoder frame), so segments end where the audio does. ``language`` None on a
        multilingual checkpoint is detected (Whisper's likeliest language token); ``task`` "translate" writes
        the words in English.
        """
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        vocab = self.vocab
        memory = frames.unsqueeze(0).to(self.decoder.embed_tokens.weight.dtype)
        if language is None and vocab.languages:
            language = self.detect_language(memory)
        prompt = vocab.prompt(language, timestamps, task)
        audio_frames = frames.shape[0] if audio_frames is None else audio_frames
        last_timestamp = vocab.timestamp_begin + audio_frames
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        inputs = torch.tensor([prompt], device=memory.device)
        # The prompt goes through transformers (which fills the cross-attention cache), each token after it
        # through the lean step where it runs.
        lean = LeanWhisperDecoder.of(self.decoder)
        steps: LeanWhisperCache | None = None
        tokens: list[int] = []
        no_speech_prob = 0.0
        for step in range(MAX_TOKENS):
            if steps is not None:
                hidden = steps(tokens[-1])
            else:
                out = self.decoder(input_ids=inputs, encoder_hidden_states=memory, cache=cache, use_cache=True)
                hidden = out.last_hidden_state[0]
            if step == 0:
                # Whisper's speech detector: the no-speech token's probability right after <|startoftranscript|>.
                first = self._logits(hidden[:1])[0]
                no_speech_prob = float(first.float().softmax(-1)[vocab.no_speech])
                steps = None if lean is None else lean.start(cache, len(prompt) + MAX_TOKENS)
            logits = self._logits(hidden[-1:])[0].float()
            self._suppress(logits, tokens, timestamps, last_timestamp)
            token = int(logits.argmax())
            if token == vocab.end:
                break
            tokens.append(token)
            repeats = _repeated_tail(tokens)
            if repeats:
                del tokens[len(tokens) - repeats:]
                break
            inputs = torch.tensor([[token]], device=memory.device)
        return Decoded(self._segments(tokens, audio_frames), no_speech_prob)

    @torch.no_grad()
    def detect_language(self, memory: torch.Tensor) -> str:
        """The spoken language Whisper finds likeliest right after <|startoftranscript|> (``memory``: one window's
        encoder frames, batch of one)."""
        out = self.decoder(input_ids=torch.tensor([[self.vocab.start]], device=memory.device),
                           encoder_hidden_states=memory)
        logits = self._logits(out.last_hidden_state[0, -1:])[0]
        names = list(self.vocab.languages)
        scores = logits[[self.vocab.languages[name] for name in names]]
        return names[int(scores.argmax())]

    def _suppress(self, logits: torch.Tensor, tokens: list[int], timestamps: bool, last_timestamp: int) -> None:
        """Masks what may not come next: openai-whisper's suppression and timestamp rules."""
        vocab = self.vocab
        ninf = float("-inf")
        logits[list(vocab.suppress)] = ninf
        logits[vocab.no_timestamps] = ninf
        if not tokens:
            logits[list(vocab.begin_suppress)] = ninf
        if not timestamps:
            logits[vocab.timestamp_begin:] = ninf
            return
        begin = vocab.timestamp_begin
        logits[last_timestamp + 1:] = ninf
        if not tokens:  # a segment opens with a timestamp, within the first second
            logits[:begin] = ninf
            logits[begin + MAX_INITIAL_TIMESTAMP + 1:] = ninf
            return
        last_was_time = tokens[-1] >= begin
        penultimate_was_time = len(tokens) < 2 or tokens[-2] >= begin
        if last_was_time:
            if penultimate_was_time:  # a segment was just closed: text (or the end) comes next
                logits[begin:] = ninf
            else:  # a timestamp after text closes the segment, or the window ends
                logits[:vocab.end] = ninf
        times = [t for t in tokens if t >= begin]
        if times:  # time never runs backwards
            floor = times[-1] if last_was_time and not penultimate_was_time else times[-1] + 1
            logits[begin:floor] = ninf
        probs = logits.log_softmax(-1)
        if probs[begin:].logsumexp(-1) > probs[:begin].max():  # a timestamp is likelier than any word
            logits[:begin] = ninf

    def _segments(self, tokens: list[int], frames: int) -> list[Segment]:
        """Split decoded tokens at timestamp pairs; without timestamps the whole window is one segment."""
        begin = self.vocab.timestamp_begin
        window_s = round(frames * TIME_PRECISION, 2)
        if not any(t >= begin for t in tokens):
            text = self.vocab.decode_text([t for t in tokens if t < self.vocab.end]).strip()
            return [Segment(0.0, window_s, text)] if text else []
        segments: list[Segment] = []
        start: float | None = None
        words: list[int] = []
        for token in tokens:
            if token < begin:
                if token < self.vocab.end:
                    words.append(token)
                continue
            time = round((token - begin) * TIME_PRECISION, 2)
            if start is None:
                start = time
            elif words:
                segments.append(Segment(start, time, self.vocab.decode_text(words).strip()))
                start, words = None, []
            else:
                start = time
        if words:  # the window ended mid-segment: it runs to the window's end
            segments.append(Segment(start or 0.0, window_s, self.vocab.decode_text(words).strip()))
        return [s for s in segments if s.text]


def _repeated_tail(tokens: Sequence[int]) -> int:
    """How many tokens at the end only repeat the cycle before them (0 when the end is not a loop)."""
    for cycle in range(1, min(LOOP_MAX_CYCLE, len(tokens) // 2) + 1):
        times = max(2, math.ceil(LOOP_SPAN / cycle))
        span = cycle * times
        if len(tokens) < span:
            continue
        tail = tokens[-span:]
        if all(tail[i] == tail[i % cycle] for i in range(span)):
            return span - cycle
    return 0


# A window that holds no speech: nothing said, certainly.
SILENT = Decoded([], 1.0)


def join_windows(decoded: Sequence[Decoded], window_s: float) -> list[Segment]:
    """A clip's segments from its consecutive windows' decodings, times from the clip's start."""
    return [Segment(round(s.start_s + i * window_s, 2), round(s.end_s + i * window_s, 2), s.text)
            for i, d in enumerate(decoded) for s in d.segments]
