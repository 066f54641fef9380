"""Conversations to model inputs: the LLM's chat template, audio placeholder expansion, label masking."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .audio import audio_features, load_audio
from .config import AudioLLMConfig, EncoderConfig, ProjectorConfig, load_yaml
from .conversation import AudioPart, Message, parse_messages
from .projector import num_audio_tokens

IGNORE_INDEX = -100
# How a clip's transcript and its sound tags follow its audio marker in the message text the chat template renders.
TRANSCRIPT_LINE = "\nTranscript: {}"
SOUNDS_LINE = "\nSounds: {}"
NAMED_LINE = "\nSounds named: {}"
# The processor's audio settings, written beside the tokenizer's files by save_pretrained.
SETTINGS_FILE = "processor.yaml"


@dataclasses.dataclass
class AudioSettings:
    """What the processor takes from a model's config: the placeholder, and the encoder and projector settings that
    the log-mel features and each clip's number of audio tokens follow."""

    audio_token: str = "<|audio|>"
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    projector: ProjectorConfig = dataclasses.field(default_factory=ProjectorConfig)

    @classmethod
    def of(cls, config: AudioLLMConfig) -> AudioSettings:
        return cls(config.audio_token, config.encoder, config.projector)


@dataclasses.dataclass(frozen=True)
class ClipNotes:
    """What the prompt says about one clip right after its audio tokens: Whisper's words when it heard speech, then
    the sound tagger's best labels, then its reading of the labels the prompt names, each line only when it is not
    empty. Words and tags both, because a speech detector that hears words in laughter would otherwise hide what
    the tagger heard."""

    transcript: str = ""
    sounds: str = ""
    named: str = ""

    def line(self) -> str:
        lines = zip((TRANSCRIPT_LINE, SOUNDS_LINE, NAMED_LINE), (self.transcript, self.sounds, self.named))
        return "".join(form.format(text.strip()) for form, text in lines if text.strip())


@dataclasses.dataclass
class Conversation:
    """Messages whose content is a string with audio markers, and the audio clips (16 kHz) in marker order."""

    messages: list[dict[str, str]]
    audios: list[np.ndarray]


@dataclasses.dataclass
class AudioBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None
    # Every clip of the batch (16 kHz samples), in placeholder order.
    clips: list[np.ndarray]

    def to(self, device: torch.device | str) -> AudioBatch:
        return AudioBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            None if self.labels is None else self.labels.to(device),
            self.clips,
        )


class AudioProcessor:
    """Turns conversations with audio into token ids and labels, and clips into log-mel features.

    Each audio marker becomes exactly :func:`num_audio_tokens` placeholder ids, the count the model's projector
    produces for that clip; the model checks the two agree. Given ``notes`` (one :class:`ClipNotes` per clip), a
    clip's transcript follows its placeholders as the line ``Transcript: <words>`` in the same message, then its
    sound tags as ``Sounds: <labels>`` and ``Sounds named: <labels>``, each when it has one; they are part of the
    prompt, never learned.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, settings: AudioSettings):
        self.tokenizer = tokenizer
        self.settings = settings
        self.audio_token = settings.audio_token
        if self.audio_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [self.audio_token]})
        self.audio_token_id: int = tokenizer.convert_tokens_to_ids(self.audio_token)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the tokenizer (its chat template included) and the audio settings (``processor.yaml``) to
        ``path``, in the layout transformers' tokenizers read; :meth:`from_pretrained` loads them back."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(path)
        (path / SETTINGS_FILE).write_text(yaml.safe_dump(dataclasses.asdict(self.settings), sort_keys=False))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> AudioProcessor:
        """The processor :meth:`save_pretrained` (or ``AudioLLM.save_pretrained``) wrote to directory ``path``."""
        path = Path(path)
        if not (path / SETTINGS_FILE).is_file():
            raise ValueError(f"{path}: no {SETTINGS_FILE}; not a directory written by AudioProcessor.save_pretrained")
        return cls(AutoTokenizer.from_pretrained(path), load_yaml(AudioSettings, path / SETTINGS_FILE))

    def prompt_text(self, conv: Conversation) -> str:
        """What the user's turns say in words (audio markers aside): the text a clip's named tags are read from."""
        return "\n".join(m["content"].replace(self.audio_token, " ") for m in conv.messages if m["role"] == "user")

    def num_audio_tokens(self, num_samples: int) -> int:
        return num_audio_tokens(num_samples, self.settings.encoder, self.settings.projector)

    def conversation(self, messages: Sequence[Message | dict[str, Any]]) -> Conversation:
        """Render typed messages (or chat-message dicts, parsed by :func:`parse_messages`) for the template: each
        audio part becomes one audio marker, parts are joined by newlines, and the clips are decoded."""
        out: list[dict[str, str]] = []
        audios: list[np.ndarray] = []
        for i, message in enumerate(parse_messages(messages)):
            pieces: list[str] = []
            for part in message.content:
                if isinstance(part, AudioPart):
                    audios.append(load_audio(part.audio))
                    pieces.append(self.audio_token)
                elif self.audio_token in part.text:
                    raise ValueError(f"message {i}: attach audio as an audio part, not the literal {self.audio_token}")
                else:
                    pieces.append(part.text)
            out.append({"role": message.role, "content": "\n".join(pieces)})
        return Conversation(out, audios)

    def tokenize(self, conv: Conversation, add_generation_prompt: bool, notes: Sequence[ClipNotes] | None = None
                 ) -> tuple[list[int], list[int] | None]:
        """Token ids with audio placeholders expanded, and (for training) labels on assistant turns only.

        For training the last turn must be the assistant's. Each assistant turn's tokens are found by rendering
        the template twice, up to the turn with a generation prompt and through the turn, so exactly the
        assistant's own tokens are learned whatever the template puts around them.
        """
        messages = conv.messages if notes is None else self._with_notes(conv, notes)
        if add_generation_prompt:
            return self._expand(self._ids(messages, True), None, conv)
        if messages[-1]["role"] != "assistant":
            raise ValueError(f"a training sample must end with an assistant turn; it ends with {messages[-1]['role']!r}")
        full = self._ids(messages, False)
        labels = [IGNORE_INDEX] * len(full)
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prefix = self._ids(messages[:i], True)
            end = len(self._ids(messages[: i + 1], False))
            if full[: len(prefix)] != prefix:
                raise ValueError("the chat template renders a conversation's start differently once it goes on; "
                                 "assistant turns cannot be located for label masking")
            labels[len(prefix) : end] = full[len(prefix) : end]
        return self._expand(full, labels, conv)

    def _with_notes(self, conv: Conversation, notes: Sequence[ClipNotes]) -> list[dict[str, str]]:
        """The messages with each clip's notes (when not empty) right after its audio marker."""
        if len(notes) != len(conv.audios):
            raise ValueError(f"notes for {len(notes)} clip(s) but {len(conv.audios)} audio clip(s)")
        lines = iter(notes)
        out = []
        for message in conv.messages:
            pieces = message["content"].split(self.audio_token)
            content = pieces[0]
            for piece in pieces[1:]:
                content += self.audio_token + next(lines).line() + piece
            out.append({**message, "content": content})
        return out

    def _ids(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _expand(
        self, ids: list[int], labels: list[int] | None, conv: Conversation
    ) -> tuple[list[int], list[int] | None]:
        """Replace each audio marker by its clip's number of placeholders (never learned)."""
        count = ids.count(self.audio_token_id)
        if count != len(conv.audios):
            raise ValueError(f"the conversation has {count} audio marker(s) but {len(conv.audios)} audio clip(s)")
        clips = iter(conv.audios)
        out_ids: list[int] = []
        out_labels: list[int] = []
        for i, token in enumerate(ids):
            is_audio = token == self.audio_token_id
            repeat = self.num_audio_tokens(len(next(clips))) if is_audio else 1
            out_ids.extend([token] * repeat)
            if labels is not None:
                out_labels.extend([IGNORE_INDEX if is_audio else labels[i]] * repeat)
        return out_ids, out_labels if labels is not None else None

    def features(self, samples: np.ndarray) -> list[torch.Tensor]:
        return audio_features(samples, self.settings.encoder.n_mels, self.settings.encoder.pad_to_30s)

    def __call__(
        self, conversations: Sequence[Conversation], add_generation_prompt: bool, padding_side: str = "left",
        notes: Sequence[Sequence[ClipNotes]] | None = None,
    ) -> AudioBatch:
        """A padded batch; ``notes`` holds each conversation's per-clip notes (None: none)."""
        texts = notes if notes is not None else [None] * len(conversations)
        rows = [self.tokenize(c, add_generation_prompt, t) for c, t in zip(conversations, texts)]
        return self.pad(rows, [a for c in conversations for a in c.audios], padding_side)

    def pad(
        self,
        rows: Sequence[tuple[list[int], list[int] | None]],
        clips: list[np.ndarray],
        padding_side: str,
    ) -> AudioBatch:
        width = max(len(ids) for ids, _ in rows)
        pad_id = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        with_labels = rows[0][1] is not None
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long) if with_labels else None
        for r, (ids, lab) in enumerate(rows):
            span = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
            input_ids[r, span] = torch.tensor(ids)
            attention[r, span] = 1
            if labels is not None and lab is not None:
                labels[r, span] = torch.tensor(lab)
        return AudioBatch(input_ids, attention, labels, clips)
