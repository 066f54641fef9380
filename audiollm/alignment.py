"""CTC alignment of audio embeddings to the LLM's own vocabulary: a cheap first stage for speech.

The projector's output for each audio token is scored against the LLM's input embedding matrix, as if it were a
word, and trained with CTC on transcripts. No LLM layer runs, so a step costs a fraction of a language-model step,
and afterwards the projector already writes speech as a sequence of word-like embeddings the LLM can read, which is
what the language-model stages then refine. Blank frames learn the embedding of a single space: runs of spaces are
text an LLM has seen everywhere and reads past.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase


def blank_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token CTC's blank maps to: a single space."""
    ids = tokenizer(" ", add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"the alignment stage needs a tokenizer with a single-space token; "
                         f"{type(tokenizer).__name__} splits ' ' into {ids}")
    return int(ids[0])


def ctc_alignment_loss(
    audio_embeds: Sequence[torch.Tensor], targets: Sequence[Sequence[int]], embeddings: torch.Tensor, blank: int
) -> torch.Tensor:
    """Mean over clips of the CTC loss per target token.

    ``audio_embeds``: one ``(audio_tokens, llm_dim)`` projector output per clip; ``targets``: each clip's
    transcript as token ids; ``embeddings``: the LLM's ``(vocab, llm_dim)`` input embedding matrix.
    """
    if len(audio_embeds) != len(targets):
        raise ValueError(f"alignment needs one transcript per clip: {len(audio_embeds)} clips, {len(targets)} targets")
    losses = []
    for embeds, target in zip(audio_embeds, targets):
        if not target:
            raise ValueError("alignment needs a non-empty transcript for every clip")
        log_probs = (embeds @ embeddings.T.to(embeds.dtype)).float().log_softmax(-1)
        loss = torch.nn.functional.ctc_loss(
            log_probs,
            torch.tensor(target, device=embeds.device),
            torch.tensor([log_probs.shape[0]]),
            torch.tensor([len(target)]),
            blank=blank,
            reduction="sum",
            # A transcript longer than its clip's audio tokens cannot be aligned: it adds nothing, not infinity.
            zero_infinity=True,
        )
        losses.append(loss / len(target))
    return torch.stack(losses).mean()


def greedy_ctc_ids(audio_embeds: torch.Tensor, embeddings: torch.Tensor, blank: int) -> list[int]:
    """The token ids one clip's audio embeddings spell: the nearest vocabulary entry per audio token, repeats
    merged and blanks dropped."""
    best = (audio_embeds @ embeddings.T.to(audio_embeds.dtype)).argmax(-1).tolist()
    return [t for i, t in enumerate(best) if t != blank and (i == 0 or t != best[i - 1])]
