"""Typed generation requests and results, and the batched decode loop every front end goes through.

Rows of one batch share a KV cache and decode together; each keeps its own limit, sampling settings, seed and stop
strings, and leaves the batch when it is done. A row's text is released in pieces only once no later token can
change it (an unfinished UTF-8 character, trailing whitespace and the start of a stop string are held back), so
the pieces of a stream join to exactly the text a batched call returns.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol

import torch
from transformers import PreTrainedTokenizerBase

from .conversation import Message, parse_messages
from .lean_decoder import LeanLlama
from .stopping import RepetitionStop

FinishReason = Literal["stop", "length", "repetition"]
_HELD_TAIL = re.compile(r"[\s\ufffd]+$")


@dataclasses.dataclass
class GenerationRequest:
    """One answer to generate. ``max_new_tokens`` None means the model's config; ``temperature`` 0 is greedy;
    ``transcript`` None means the model's config."""

    conversation: Sequence[Message]
    max_new_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: Sequence[str] = ()
    num_beams: int = 1
    transcript: bool | None = None

    def __post_init__(self) -> None:
        if self.conversation is None or isinstance(self.conversation, (str, bytes)):
            raise ValueError(f"conversation must be a list of messages, got {type(self.conversation).__name__}")
        self.conversation = parse_messages(self.conversation)
        if self.max_new_tokens is not None and (not _is_int(self.max_new_tokens) or self.max_new_tokens < 1):
            raise ValueError(f"max_new_tokens must be an integer of at least 1 (or None for the model's default), "
                             f"got {self.max_new_tokens!r}")
        if not _is_number(self.temperature) or not 0 <= self.temperature < math.inf:
            raise ValueError(f"temperature must be a finite number, 0 (greedy) or more, got {self.temperature!r}")
        if not _is_number(self.top_p) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.seed is not None and not _is_int(self.seed):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        if not _is_int(self.num_beams) or self.num_beams < 1:
            raise ValueError(f"number of beams must be at least 1, got {self.num_beams!r}")
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"stop strings must be non-empty strings, got {list(self.stop)!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    # NaN fails every comparison, so the range checks above refuse it.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Generation:
    """An answer and its token counts: ``prompt_tokens`` includes the ``audio_tokens`` placeholders;
    ``completion_tokens`` counts the tokens generated, the end-of-text token left out."""

    text: str
    prompt_tokens: int
    audio_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


class AnswerText:
    """One row's text as its tokens arrive: cut at the first stop string, released only where it is final."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop: Sequence[str]):
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.ids: list[int] = []
        self.raw = ""
        self.emitted = ""
        self.stopped = False

    def add(self, token: int) -> str:
        """Take one generated token; returns the text it releases (often empty)."""
        self.ids.append(token)
        self.raw = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cuts = [at for s in self.stop if (at := self.raw.find(s)) >= 0]
        if cuts:
            self.raw = self.raw[: min(cuts)]
            self.stopped = True
        return self._release(self._settled(self.raw.lstrip()))

    def finish(self) -> str:
        """The last piece: whatever was still held back, the answer's trailing whitespace left out."""
        return self._release(self.raw.strip())

    def _release(self, text: str) -> str:
        # Held-back text never reaches a released piece, so ``text`` extends what was released.
        if not text.startswith(self.emitted):
            return ""
        piece = text[len(self.emitted):]
        self.emitted = text
        return piece

    def _settled(self, text: str) -> str:
        while True:
            held = len(text) - len(_HELD_TAIL.sub("", text))
            held = max([held, *(k for s in self.stop for k in range(1, len(s)) if text.endswith(s[:k]))])
            if not held:
                return text
            text = text[:-held]


@dataclasses.dataclass
class Row:
    """A request inside the decode loop."""

    limit: int
    temperature: float
    top_p: float
    generator: torch.Generator | None
    text: AnswerText
    prompt_tokens: int
    audio_tokens: int
    finish: FinishReason | None = None

    def generation(self) -> Generation:
        assert self.finish is not None
        return Generation(self.text.emitted, self.prompt_tokens, self.audio_tokens, len(self.text.ids), self.finish)


def sampler(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A row's own random stream when it has a seed, so its samples do not depend on the rows beside it."""
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


@torch.inference_mode()
def decode(
    llm: torch.nn.Module,
    eos_token_id: int,
    embeds: torch.Tensor,
    attention: torch.Tensor,
    rows: Sequence[Row],
    cancelled: Callable[[int], bool] | None = None,
    lean: LeanLlama | None = None,
) -> Iterator[tuple[int, str | Generation]]:
    """Decode left-padded rows together: yields ``(row, piece)`` as text is released and ``(row, Generation)``
    once that row is done. A row for which ``cancelled(row)`` turns true ends at its next token. With ``lean``
    (``llm``'s :class:`LeanLlama`), the steps after the prefill run through it.

    Inference mode (no autograd bookkeeping on any tensor, which no_grad still keeps) holds around each step of
    this generator only, not around its caller's code between steps."""
    position = (attention.long().cumsum(-1) - 1).clamp(min=0)
    out = llm(inputs_embeds=embeds, attention_mask=attention, position_ids=position, use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1, :]
    step: _Steps = (_TransformersSteps(llm, out.cache) if lean is None else
                    lean.start(out.cache, attention, attention.shape[1] + max(row.limit for row in rows)))
    position = position[:, -1:] + 1
    active = list(range(len(rows)))
    history = torch.empty((len(rows), 0), dtype=torch.long, device=embeds.device)
    repetition = RepetitionStop()
    while True:
        tokens = _choose(logits, [rows[i] for i in active])
        history = torch.cat([history, tokens[:, None]], dim=1)
        looping = repetition(history, logits).tolist()
        keep: list[int] = []
        for b, (i, token) in enumerate(zip(active, tokens.tolist())):
            row = rows[i]
            if token == eos_token_id:
                row.finish = "stop"
            else:
                piece = row.text.add(token)
                if piece:
                    yield i, piece
                if row.text.stopped:
                    row.finish = "stop"
                elif looping[b]:
                    row.finish = "repetition"
                elif len(row.text.ids) >= row.limit:
                    row.finish = "length"
                elif cancelled is not None and cancelled(i):
                    row.finish = "stop"
            if row.finish is None:
                keep.append(b)
                continue
            piece = row.text.finish()
            if piece:
                yield i, piece
            yield i, row.generation()
        if not keep:
            return
        if len(keep) < len(active):
            # Finished rows leave the batch: the others stop paying for them.
            index = torch.tensor(keep, device=embeds.device)
            step.keep(index)
            history, attention, position, tokens = history[index], attention[index], position[index], tokens[index]
            active = [active[b] for b in keep]
        attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=1)
        logits = step(tokens, attention, position)
        position = position + 1


class _Steps(Protocol):
    """One decoding step over a batch's KV cache: next-token logits ``(rows, vocab)``."""

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, position: torch.Tensor) -> torch.Tensor: ...

    def keep(self, index: torch.Tensor) -> None: ...


class _TransformersSteps:
    """The LLM's own forward, one token at a time, over transformers' cache."""

    def __init__(self, llm: torch.nn.Module, cache: object):
        self.llm = llm
        self.cache = cache

    def keep(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index)  # type: ignore[attr-defined]

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        out = self.llm(input_ids=tokens[:, None], attention_mask=attention, position_ids=position, cache=self.cache,
                       use_cache=True)
        self.cache = out.cache
        return out.logits[:, -1, :]


def _choose(logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
    """Each row's next token: the most likely (temperature 0) or a sample from its top-p nucleus."""
    tokens = logits.argmax(dim=-1)
    for b, row in enumerate(rows):
        if row.temperature <= 0:
            continue
        probs = torch.softmax(logits[b].float() / row.temperature, dim=-1)
        if row.top_p < 1:
            ordered, order = probs.sort(descending=True)
            # Keep the smallest set of most likely tokens whose mass reaches top_p (always at least one).
            outside = ordered.cumsum(-1) - ordered >= row.top_p
            probs = probs.scatter(0, order, ordered.masked_fill(outside, 0.0))
        tokens[b] = torch.multinomial(probs, 1, generator=row.generator)[0]
    return tokens
