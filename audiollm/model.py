"""``AudioLLM``: frozen Whisper encoder -> projector -> (LoRA-tuned) causal LLM, and its inference interface."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, StoppingCriteriaList
from transformers.modeling_outputs import CausalLMOutputWithPast

from .alignment import blank_token_id, ctc_alignment_loss, greedy_ctc_ids
from .audio import (SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS, AudioInput, audio_seconds, encoder_frames,
                    load_audio, log_mel, split_windows)
from .config import DEFAULT_PROMPT, AudioLLMConfig, is_model_config
from .conversation import AudioPart, Message, user_prompt
from .encoder import FrozenWhisperEncoder, build_whisper
from .generation import AnswerText, Generation, GenerationRequest, Row, decode, sampler
from .lean_decoder import LeanLlama
from .llm import build_llm
from .placement import attention_implementation, resolve_device, resolve_dtype
from .processor import SETTINGS_FILE, AudioProcessor, AudioSettings, ClipNotes
from .projector import Projector, build_projector
from .stopping import RepetitionStop
from .tagger import TAGGER_FILE, SoundTagger, TagLines, pool_frames
from .transcribe import SILENT, Decoded, Segment, Task, join_windows
from .vad import speech_spans

CONFIG_FILE = "config.yaml"
PROJECTOR_FILE = "projector.safetensors"
LORA_DIR = "lora"
# save_merged's LLM (LoRA folded in, with its tokenizer); a saved model holding it needs neither peft nor the base.
MERGED_LLM_DIR = "llm"
RELEASED_DIR = Path(__file__).parent / "released"


class AudioLLM(nn.Module):
    """An audio-understanding LLM. Build with :meth:`from_config` or :meth:`from_pretrained`."""

    def __init__(self, config: AudioLLMConfig):
        super().__init__()
        self.config = config
        self.encoder = FrozenWhisperEncoder(*build_whisper(config.encoder), config.encoder.layers)
        llm, tokenizer = build_llm(config.llm, config.quantization)
        self.tokenizer = tokenizer
        self.processor = AudioProcessor(tokenizer, AudioSettings.of(config))
        self.projector: Projector = build_projector(
            config.projector, self.encoder.hidden_size, llm.get_input_embeddings().embedding_dim,
            len(self.encoder.layers)
        )
        self.llm = self._prepare_llm(llm)
        # The sound tagger that ``encoder.tags`` reads; None until fitted (``audiollm train``) or loaded.
        self.tagger: SoundTagger | None = None
        # True once the LoRA weights are folded into the LLM's own (inference only: nothing is left to train).
        self.lora_merged = False
        # The CPU decoding step that reads the LLM's own weights, built when an inference model is placed.
        self.lean: LeanLlama | None = None

    def _prepare_llm(self, llm: PreTrainedModel) -> nn.Module:
        cfg = self.config
        if cfg.quantization.load_in_4bit:
            from peft import prepare_model_for_kbit_training

            llm = prepare_model_for_kbit_training(llm, use_gradient_checkpointing=cfg.gradient_checkpointing)
        elif cfg.gradient_checkpointing:
            llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not cfg.lora.enabled:
            if cfg.quantization.load_in_4bit:
                raise ValueError("QLoRA needs LoRA: set lora.enabled: true with quantization.load_in_4bit")
            return llm.requires_grad_(False)
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=list(cfg.lora.target_modules),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(llm, lora)

    # ---- construction and persistence -------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: AudioLLMConfig | str | Path) -> AudioLLM:
        if not isinstance(config, AudioLLMConfig):
            config = AudioLLMConfig.from_yaml(config)
        return cls(config)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        overrides: list[str] | None = None,
        device: str | torch.device | None = "auto",
        dtype: str | torch.dtype | None = "auto",
        merge_lora: bool = True,
    ) -> AudioLLM:
        """Load a saved model: ``"default"`` (the released model), a directory, or a Hugging Face hub id.

        ``device`` and ``dtype`` (names from :mod:`audiollm.placement`) say where it runs; None leaves the model
        where and as it was built (on the CPU, in the config's dtypes), for a trainer that places it itself.
        ``merge_lora`` folds the LoRA weights into the LLM's, so each decoding step runs one matmul per layer and no
        peft wrapper (same greedy answers); training loads with it off, to keep LoRA separate and trainable."""
        path = resolve_pretrained(name_or_path)
        config = AudioLLMConfig.from_yaml(path / CONFIG_FILE, overrides)
        if (path / MERGED_LLM_DIR).is_dir():
            config.llm.name, config.llm.random = str(path / MERGED_LLM_DIR), None
        model = cls(config)
        model.load_adapters(path)
        if merge_lora:
            model._merge_lora_in_place()
        return model._place(device, dtype)

    def _merge_lora_in_place(self) -> None:
        # A 4-bit base would be re-quantized after the merge, which changes answers: it keeps its LoRA apart.
        if self.config.lora.enabled and not self.config.quantization.load_in_4bit and not self.lora_merged:
            self.llm = self.llm.merge_and_unload()
            self.lora_merged = True

    def _place(self, device: str | torch.device | None, dtype: str | torch.dtype | None) -> AudioLLM:
        """Move the whole model (encoder, projector and LLM together) to ``device`` in ``dtype`` (None: as is)."""
        if device is None or self.config.quantization.load_in_4bit:
            # bitsandbytes owns a 4-bit model's dtypes and places it itself.
            return self
        target = resolve_device(device)
        chosen = None if dtype is None else resolve_dtype(dtype, target)
        self.to(device=target, dtype=chosen)
        attention = attention_implementation(target, chosen or self.llm.dtype)
        if attention != "sdpa":  # transformers' own default
            self.llm.set_attn_implementation(attention)
        # A peft-wrapped LLM (LoRA kept apart, as for training) is not one LeanLlama reads, so it gets none.
        self.lean = LeanLlama.of(self.llm)
        return self

    def _lean_step(self) -> LeanLlama | None:
        # It reads the LLM it was built on, on the CPU: after a later move or a new LLM, transformers' step runs.
        lean = self.lean
        if lean is None or lean.llm is not self.llm or self.llm.device.type != "cpu":
            return None
        return lean

    def load_adapters(self, path: Path) -> None:
        """Load what :meth:`save_pretrained` wrote beside the config: the processor (when saved), projector, sound
        tagger and LoRA (when saved) weights."""
        from safetensors.torch import load_file

        self._load_processor(path)
        if (path / TAGGER_FILE).is_file():
            self.tagger = SoundTagger.load(path / TAGGER_FILE)
        weights = load_file(path / PROJECTOR_FILE)
        if self.projector.layer_weights is not None and "layer_weights" not in weights:
            # A projector trained on one layer, fine-tuned with a layer mix: the mix starts equal, as a fresh one.
            weights["layer_weights"] = self.projector.layer_weights.detach().clone()
        self.projector.load_state_dict(weights)
        if (path / LORA_DIR).is_dir():
            if not self.config.lora.enabled:
                raise ValueError(f"{path} has LoRA weights but the config disables LoRA")
            from peft import set_peft_model_state_dict
            from peft.utils import load_peft_weights

            result = set_peft_model_state_dict(self.llm, load_peft_weights(str(path / LORA_DIR), device="cpu"))
            if result.unexpected_keys:
                raise ValueError(f"{path}: LoRA weights do not fit this model: {result.unexpected_keys[:3]}")

    def _load_processor(self, path: Path) -> None:
        """Use the saved tokenizer and chat template where ``path`` has them (older saves do not). The audio
        settings stay the config's, overrides included: the projector was built from them."""
        if not (path / SETTINGS_FILE).is_file():
            return
        tokenizer = AudioProcessor.from_pretrained(path).tokenizer
        if tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise ValueError(f"{path}: the saved tokenizer ({len(tokenizer)} tokens) is not the tokenizer of the "
                             f"LLM the config names ({len(self.tokenizer)} tokens)")
        self.tokenizer = tokenizer
        self.processor = AudioProcessor(tokenizer, AudioSettings.of(self.config))

    def save_pretrained(self, path: str | Path) -> None:
        """Write config, processor (tokenizer, chat template, audio settings), projector, sound tagger (when fitted)
        and LoRA (safetensors only); base weights stay referenced by name."""
        from safetensors.torch import save_file

        if self.lora_merged:
            raise ValueError("this model's LoRA is merged into its LLM (from_pretrained merges it for inference), so "
                             "there is no adapter to save: save_merged(dir) writes the merged model, or load with "
                             "merge_lora=False to save or fine-tune the adapter")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.to_yaml(path / CONFIG_FILE)
        self.processor.save_pretrained(path)
        state = {k: v.detach().cpu().contiguous() for k, v in self.projector.state_dict().items()}
        save_file(state, path / PROJECTOR_FILE)
        self._save_tagger(path)
        if self.config.lora.enabled:
            self.llm.save_pretrained(path / LORA_DIR, safe_serialization=True)

    def _save_tagger(self, path: Path) -> None:
        if self.tagger is not None:
            self.tagger.save(path / TAGGER_FILE)

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None,
                    commit_message: str = "Upload audiollm model") -> str:
        """Upload what :meth:`save_pretrained` writes to Hugging Face hub repository ``repo_id`` (created when
        missing) and return the commit's URL; ``from_pretrained(repo_id)`` loads it back."""
        from .weights.upload import upload_folder

        with tempfile.TemporaryDirectory() as scratch:
            self.save_pretrained(scratch)
            return upload_folder(Path(scratch), repo_id, private, token, commit_message)

    def merge_lora(self) -> PreTrainedModel:
        """A plain transformers LLM with the LoRA weights merged in (this model is left unchanged)."""
        if not self.config.lora.enabled or self.lora_merged:
            return copy.deepcopy(self.llm)
        return copy.deepcopy(self.llm).merge_and_unload()

    def save_merged(self, path: str | Path) -> None:
        """Write one checkpoint that needs no peft and no base LLM: the LLM with LoRA merged (and its tokenizer) in
        ``llm/``, the projector, and the config (LoRA off); :meth:`from_pretrained` loads it. The encoder stays
        referenced by name."""
        from safetensors.torch import save_file

        if self.config.quantization.load_in_4bit:
            raise ValueError("save_merged: a 4-bit LLM cannot take its LoRA without re-quantizing; load the model "
                             "without quantization.load_in_4bit to merge it")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        llm = self.llm if self.lora_merged or not self.config.lora.enabled else self.merge_lora()
        with _plain_float_config(llm):
            llm.save_pretrained(path / MERGED_LLM_DIR, safe_serialization=True)
        self.tokenizer.save_pretrained(path / MERGED_LLM_DIR)
        config = copy.deepcopy(self.config)
        # Read relative to the saved directory by from_pretrained.
        config.llm.name, config.llm.random = MERGED_LLM_DIR, None
        config.lora.enabled = False
        config.to_yaml(path / CONFIG_FILE)
        self.processor.save_pretrained(path)
        state = {k: v.detach().cpu().contiguous() for k, v in self.projector.state_dict().items()}
        save_file(state, path / PROJECTOR_FILE)
        self._save_tagger(path)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def device(self) -> torch.device:
        return next(self.projector.parameters()).device

    @property
    def tag_lines(self) -> TagLines:
        """What the config has the prompt say of a clip's sound tagger reading, in training and generation alike."""
        return TagLines(self.config.encoder.tags, self.config.encoder.named_tags, self.config.encoder.tag_decimals)

    # ---- forward ------------------------------------------------------------------------------------------

    def encode_clips(self, clips: Sequence[np.ndarray], together: bool = False) -> list[torch.Tensor]:
        """Each clip (16 kHz samples) as frozen-encoder frames ``(frames, d_model)``: its log-mel windows (the
        processor's settings) through the encoder. The one place waveforms become encoder frames. ``together``
        runs every clip in one padded, attention-masked forward (inference); training encodes clip by clip."""
        features = [self.processor.features(clip) for clip in clips]
        if together and len(clips) > 1:
            return self.encoder.encode_together(features)
        return [self.encoder.encode(windows) for windows in features]

    def project_frames(self, encoded: Sequence[torch.Tensor]) -> torch.Tensor:
        """Project each clip's encoder frames and concatenate: ``(total_audio_tokens, llm_dim)``."""
        return torch.cat(self._project_each(encoded))

    def _vocabulary_embeddings(self) -> torch.Tensor:
        """The LLM's ``(vocab, llm_dim)`` input embeddings, looked up rather than read off the weight so that
        ZeRO-3, which gathers a module's weights when it is called, hands over the whole matrix."""
        table = self.llm.get_input_embeddings()
        return table(torch.arange(table.num_embeddings, device=self.device))

    def _project_each(self, encoded: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        dtype = next(self.projector.parameters()).dtype
        return [self.projector(e.to(self.device, dtype)) for e in encoded]

    def embed(self, input_ids: torch.Tensor, audio_embeds: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with the audio embeddings scattered into the placeholder positions."""
        mask = input_ids == self.processor.audio_token_id
        # The placeholder id may lie past the LLM's vocabulary: it is never embedded, only replaced.
        embeds = self.llm.get_input_embeddings()(input_ids.masked_fill(mask, 0))
        placeholders = int(mask.sum())
        given = 0 if audio_embeds is None else audio_embeds.shape[0]
        if placeholders != given:
            raise ValueError(
                f"the input has {placeholders} audio placeholder tokens but the audio gives {given} embeddings; "
                "build inputs with the model's processor"
            )
        if audio_embeds is None:
            return embeds
        return embeds.masked_scatter(mask.unsqueeze(-1), audio_embeds.to(embeds.dtype))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        audio_clips: Sequence[np.ndarray] | None = None,
        audio_encoded: Sequence[torch.Tensor] | None = None,
        align_targets: Sequence[Sequence[int]] | None = None,
    ) -> CausalLMOutputWithPast:
        """Loss/logits. Give the clips as 16 kHz samples (``audio_clips``) or cached encoder frames.

        With ``align_targets`` (one transcript's token ids per clip) no text is read: the loss is the CTC alignment
        of the clips' audio embeddings to the LLM's vocabulary (:mod:`audiollm.alignment`).
        """
        if audio_encoded is None and audio_clips:
            audio_encoded = self.encode_clips(audio_clips)
        if align_targets is not None:
            if not audio_encoded:
                raise ValueError("alignment needs audio: give audio_clips or audio_encoded")
            embeddings = self._vocabulary_embeddings()
            loss = ctc_alignment_loss(self._project_each(audio_encoded), align_targets, embeddings,
                                      blank_token_id(self.tokenizer))
            return CausalLMOutputWithPast(loss=loss)
        if input_ids is None or attention_mask is None:
            raise ValueError("forward needs input_ids and attention_mask (or align_targets for alignment)")
        audio_embeds = self.project_frames(audio_encoded) if audio_encoded else None
        embeds = self.embed(input_ids.to(self.device), audio_embeds)
        return self.llm(
            inputs_embeds=embeds,
            attention_mask=attention_mask.to(self.device),
            labels=None if labels is None else labels.to(self.device),
        )

    @torch.no_grad()
    def read_alignment(self, audio_encoded: Sequence[torch.Tensor]) -> list[str]:
        """What the projector writes for each clip, read greedily against the LLM's vocabulary: after the align
        stage, a transcript (no LLM layer runs)."""
        embeddings = self._vocabulary_embeddings()
        blank = blank_token_id(self.tokenizer)
        with self._evaluating():
            projected = self._project_each(audio_encoded)
        return [self.tokenizer.decode(greedy_ctc_ids(e, embeddings, blank)).strip() for e in projected]

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode (no dropout) inside, the caller's mode restored after. A model already in eval mode is left as
        it is: switching walks every module, about 5 ms of each answer's time to first token on 2 CPU cores."""
        if not self.training:
            yield
            return
        self.eval()
        try:
            yield
        finally:
            self.train()

    # ---- inference ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer every request; rows decode together, and batched greedy answers equal one-at-a-time ones."""
        answers: list[Generation | None] = [None] * len(requests)
        for index, item in self._answer(requests, None):
            if isinstance(item, Generation):
                answers[index] = item
        assert all(answer is not None for answer in answers)
        return answers  # type: ignore[return-value]

    def stream_batch(
        self, requests: Sequence[GenerationRequest], cancelled: Callable[[int], bool] | None = None
    ) -> Iterator[tuple[int, str | Generation]]:
        """Decode the requests together, yielding ``(request_index, text_piece)`` as text is final and
        ``(request_index, Generation)`` when that request is done; its pieces join to the Generation's text.
        A request for which ``cancelled(request_index)`` turns true ends at its next token."""
        beams = [i for i, r in enumerate(requests) if r.num_beams > 1]
        if beams:
            # A beam's text is only final when the search ends, so there is nothing to stream early.
            raise ValueError(f"request {beams[0]}: beam search (num_beams > 1) cannot be streamed")
        yield from self._answer(requests, cancelled)

    @torch.no_grad()
    def _answer(
        self, requests: Sequence[GenerationRequest], cancelled: Callable[[int], bool] | None
    ) -> Iterator[tuple[int, str | Generation]]:
        # Rows that can share a decode loop go together: same transcript switch (one processor call), and beam
        # searches of one width and length.
        requests = [self._fitted(request, i) for i, request in enumerate(requests)]
        groups: dict[tuple[bool | None, int, int], list[int]] = {}
        for i, request in enumerate(requests):
            beams, limit = request.num_beams, self._limit(request) if request.num_beams > 1 else 0
            groups.setdefault((request.transcript, beams, limit), []).append(i)
        with self._evaluating():
            for (_, beams, _), indices in groups.items():
                chosen = [requests[i] for i in indices]
                if beams > 1:
                    for b, answer in enumerate(self._beam_search(chosen)):
                        yield indices[b], answer
                    continue
                embeds, attention, rows = self._prefill(chosen)
                stopped = None if cancelled is None else (lambda b: cancelled(indices[b]))
                for b, item in decode(self.llm, self.tokenizer.eos_token_id, embeds, attention, rows, stopped,
                                      self._lean_step()):
                    yield indices[b], item

    def _limit(self, request: GenerationRequest) -> int:
        return request.max_new_tokens or self.config.max_new_tokens

    @property
    def context_length(self) -> int:
        """Tokens the LLM can attend over: the prompt (audio placeholders included) and the answer together."""
        return int(self.llm.config.max_position_embeddings)

    def _fitted(self, request: GenerationRequest, index: int) -> GenerationRequest:
        """The request with its clips decoded, or a ValueError with the numbers when its prompt and answer do not
        fit in the LLM's context. A clip's length is read from its header first: one too long is never decoded.
        The transcript path's words (added later) are not counted here."""
        room = self.context_length - self._limit(request)
        per_second = self.processor.num_audio_tokens(WINDOW_SAMPLES) / WINDOW_SECONDS
        clips = [clip for message in request.conversation for clip in message.clips]
        seconds = sum(s for s in map(audio_seconds, clips) if s is not None)

        def refuse(prompt: str) -> ValueError:
            return ValueError(f"request {index}: {prompt} and up to {self._limit(request)} new tokens are asked "
                              f"for; the LLM's context holds {self.context_length} tokens (at most "
                              f"{max(0.0, room / per_second):.0f} s of audio)")

        if seconds * per_second > room:
            raise refuse(f"the audio lasts {seconds:.1f} s (about {seconds * per_second:.0f} audio tokens)")
        messages = [Message(m.role, tuple(AudioPart(load_audio(p.audio, max_seconds=room / per_second))
                                          if isinstance(p, AudioPart) else p for p in m.content))
                    for m in request.conversation]
        conversation = self.processor.conversation(messages)
        ids, _ = self.processor.tokenize(conversation, True)
        if len(ids) > room:
            audio = ids.count(self.processor.audio_token_id)
            heard = sum(len(a) for a in conversation.audios) / SAMPLE_RATE
            of_audio = f" ({audio} of them audio, {heard:.1f} s)" if audio else ""
            raise refuse(f"the prompt is {len(ids)} tokens{of_audio}")
        return dataclasses.replace(request, conversation=messages)

    def _prefill(self, requests: Sequence[GenerationRequest]) -> tuple[torch.Tensor, torch.Tensor, list[Row]]:
        """The prompts' embeddings (left-padded, audio spliced in), their attention mask, and one row each."""
        conversations = [self.processor.conversation(r.conversation) for r in requests]
        clips = [clip for c in conversations for clip in c.audios]
        encoded = self.encode_clips(clips, together=True) if clips else []
        # Requests arrive grouped by their transcript switch (see _answer), so the first one speaks for all.
        switch = requests[0].transcript
        heard = switch if switch is not None else self.config.encoder.transcript == "whisper"
        notes = None
        if heard or self.config.encoder.tags:
            words = [self.speech_transcript(clip) if heard else "" for clip in clips]
            texts = [self.processor.prompt_text(c) for c in conversations for _ in c.audios]
            flat = iter([ClipNotes(w, *tags) for w, tags in zip(words, self.sound_tags(encoded, texts))])
            notes = [[next(flat) for _ in c.audios] for c in conversations]
        batch = self.processor(conversations, add_generation_prompt=True, padding_side="left",
                               notes=notes).to(self.device)
        audio = self.project_frames(encoded) if clips else None
        embeds = self.embed(batch.input_ids, audio)
        prompt_tokens = batch.attention_mask.sum(dim=1).tolist()
        audio_tokens = (batch.input_ids == self.processor.audio_token_id).sum(dim=1).tolist()
        rows = [
            Row(self._limit(r), r.temperature, r.top_p, sampler(r.seed, self.device), AnswerText(self.tokenizer, r.stop),
                prompt, audio)
            for r, prompt, audio in zip(requests, prompt_tokens, audio_tokens)
        ]
        return embeds, batch.attention_mask, rows

    def _beam_search(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """transformers' beam search over requests of one width and length; stop strings cut its answers."""
        embeds, attention, rows = self._prefill(requests)
        first = requests[0]
        sampling = first.temperature > 0
        out = self.llm.generate(
            inputs_embeds=embeds,
            attention_mask=attention,
            max_new_tokens=rows[0].limit,
            num_beams=first.num_beams,
            do_sample=sampling,
            # Without sampling, drop the sampling defaults a generation_config may carry, so no warning is raised.
            temperature=first.temperature if sampling else None,
            top_p=first.top_p if sampling else None,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([RepetitionStop()]),
        )
        answers = []
        for row, ids in zip(rows, out.tolist()):
            eos = self.tokenizer.eos_token_id
            ended = eos in ids
            ids = ids[: ids.index(eos)] if ended else _without_padding(ids, self.tokenizer.pad_token_id)
            for token in ids:
                row.text.add(token)
                if row.text.stopped:
                    break
            row.text.finish()
            full = len(row.text.ids) >= row.limit
            row.finish = "stop" if ended or row.text.stopped else "length" if full else "repetition"
            answers.append(row.generation())
        return answers

    def generate(
        self,
        audio: AudioInput | Sequence[AudioInput] | None = None,
        prompt: str | Sequence[str] = DEFAULT_PROMPT,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        transcript: bool | None = None,
        **kwargs: Any,
    ) -> str | list[str]:
        """Answer ``prompt`` about ``audio``. Lists of prompts (and one audio per prompt) give a list of answers.

        ``transcript=False`` leaves Whisper's transcript out of the prompt for this call (lower latency); ``kwargs``
        are further :class:`GenerationRequest` fields (``num_beams``, ``stop``, ``top_p``, ``seed``)."""
        if not isinstance(prompt, (str, list, tuple)):
            raise ValueError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
        if isinstance(prompt, str):
            request = GenerationRequest(user_prompt(audio, prompt), max_new_tokens, temperature,
                                        transcript=transcript, **kwargs)
            return self.generate_batch([request])[0].text
        prompts = list(prompt)
        if audio is None:
            audios: list[Any] | None = [None] * len(prompts)
        else:
            audios = list(audio) if isinstance(audio, (list, tuple)) and not _is_array_pair(audio) else None
        if audios is None or len(audios) != len(prompts):
            raise ValueError(f"batched generate needs one audio per prompt: got {len(prompts)} prompts and "
                             f"{'no list of' if audios is None else len(audios)} audios")
        requests = [GenerationRequest(user_prompt(a, p), max_new_tokens, temperature,
                                      transcript=transcript, **kwargs)
                    for a, p in zip(audios, prompts)]
        return [answer.text for answer in self.generate_batch(requests)]

    def chat(
        self, messages: Sequence[Message | dict[str, Any]], max_new_tokens: int | None = None,
        temperature: float = 0.0, **kwargs: Any
    ) -> str:
        """Answer the last user turn of a multi-turn conversation whose turns may hold several audio clips."""
        return self.generate_batch([GenerationRequest(messages, max_new_tokens, temperature, **kwargs)])[0].text

    def stream(
        self,
        audio: AudioInput | Sequence[AudioInput] | None = None,
        prompt: str = DEFAULT_PROMPT,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        messages: Sequence[Message | dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        """Yield the answer's text in pieces as it is generated (or answer ``messages``, a conversation)."""
        conversation = messages if messages else user_prompt(audio, prompt)
        request = GenerationRequest(conversation, max_new_tokens, temperature, **kwargs)
        for _, item in self.stream_batch([request]):
            if isinstance(item, str):
                yield item

    # ---- Whisper's own transcription ---------------------------------------------------------------------

    @torch.no_grad()
    def transcribe(self, audio: AudioInput, timestamps: bool = False, language: str | None = "en",
                   pad_to_30s: bool = True, task: Task = "transcribe") -> str | list[Segment]:
        """Whisper's own greedy decoding of a clip of any length, 30 s window by 30 s window.

        Returns the text, or with ``timestamps`` the segments ``(start_s, end_s, text)`` in seconds from the clip's
        start. Windows without speech (``encoder.speech_detector``: silero-vad, or Whisper's no-speech
        probability) give nothing. ``language`` is the spoken language Whisper is told (English-only checkpoints
        take None; None on a multilingual one: detected per window). ``task="translate"`` is Whisper's translation:
        the words in English.

        ``pad_to_30s`` decodes each window padded to 30 s as Whisper was trained (an encoder pass of its own when
        the model's frames are unpadded); off, the decoder reads the clip's own frames. Measured with Whisper-base,
        greedy, on the small starter corpus's test speech (``python bench/asr_baseline.py DATA/test.jsonl --task
        asr|word --decoding configs/models/base.yaml``; seconds per clip on 2 busy shared CPU cores):

        ====================================  ==============  ==============  =====================
        clips                                 padded          unpadded        HF ``generate`` (30 s)
        ====================================  ==============  ==============  =====================
        14 synthetic sentences (123 words)    18.7 %, 3.9 s   29.3 %, 1.0 s   18.7 %
        8 recorded words (mostly not English) 137.5 %, 8.3 s  87.5 %, 4.3 s   137.5 %
        ====================================  ==============  ==============  =====================

        Unpadded, the decoder never sees the silence it learned to stop on: it repeats itself (the loop guard cuts
        the repeats) and misreads the sentences' ends; on the single foreign words it inserts less. Padded is the
        default: it matches Whisper's own decoding word for word, and sentences are what users transcribe.
        """
        samples = load_audio(audio)
        with self._evaluating():
            decoded = [self._decode_window(w, timestamps, language, pad_to_30s, task) for w in split_windows(samples)]
        segments = join_windows(decoded, WINDOW_SECONDS)
        return segments if timestamps else " ".join(s.text for s in segments)

    def _decode_window(self, window: np.ndarray, timestamps: bool, language: str | None, pad_to_30s: bool,
                       task: Task) -> Decoded:
        cfg = self.config.encoder
        if cfg.speech_detector == "silero-vad" and not speech_spans(window):
            return SILENT  # not decoded at all: a doorbell costs no decoding
        frames = self.encoder.final(log_mel(window, cfg.n_mels, pad_to_30s))
        decoded = self.encoder.decoder.decode(frames, timestamps, language, encoder_frames(len(window), False), task)
        if cfg.speech_detector == "whisper" and decoded.no_speech_prob >= cfg.no_speech_threshold:
            return SILENT
        return decoded

    def sound_tags(self, encoded: Sequence[torch.Tensor], texts: Sequence[str]) -> list[tuple[str, str]]:
        """What ``encoder.tags`` puts after each clip's audio tokens (and transcript): the tagger's best labels for
        the clip's encoder frames and (``encoder.named_tags``) its reading of the labels the clip's prompt
        ``texts`` name, or ("", "") for every clip when the config asks for none."""
        if not self.config.encoder.tags or not encoded:
            return [("", "")] * len(encoded)
        if self.tagger is None:
            raise ValueError("encoder.tags is set but this model has no fitted sound tagger (tagger.safetensors); "
                             "audiollm train fits one on the training corpus's labelled clips")
        lines = self.tag_lines
        readings = self.tagger.read(torch.stack([pool_frames(e) for e in encoded]))
        return [lines.of(reading, text) for reading, text in zip(readings, texts, strict=True)]

    def speech_transcript(self, audio: AudioInput) -> str:
        """What the transcript path puts after a clip's audio tokens: its words, or "" when it holds no speech."""
        text = self.transcribe(audio)
        assert isinstance(text, str)
        return text


def load_model(spec: str | Path, overrides: list[str] | None = None, device: str | None = "auto",
               dtype: str | None = "auto", merge_lora: bool = True) -> AudioLLM:
    """What ``--model`` names: a model config YAML (built fresh), or anything :meth:`AudioLLM.from_pretrained` takes,
    placed on ``device`` in ``dtype``. Training passes None for both and ``merge_lora=False``."""
    if is_model_config(spec):
        return AudioLLM.from_config(AudioLLMConfig.from_yaml(spec, overrides))._place(device, dtype)
    return AudioLLM.from_pretrained(spec, overrides, device, dtype, merge_lora)


@contextlib.contextmanager
def _plain_float_config(llm: PreTrainedModel) -> Iterator[None]:
    """An LLM converted from GGUF keeps transformers' ``quantization_config: gguf`` though its weights are plain
    floats, and transformers refuses to save it; saved without it, the copy loads as the floats it holds."""
    quantizer = getattr(llm, "hf_quantizer", None)
    quantization = getattr(llm.config, "quantization_config", None)
    if quantizer is None:
        yield
        return
    llm.hf_quantizer = None
    del llm.config.quantization_config
    try:
        yield
    finally:
        llm.hf_quantizer = quantizer
        llm.config.quantization_config = quantization


def _without_padding(ids: list[int], pad_token_id: int | None) -> list[int]:
    while ids and ids[-1] == pad_token_id:
        ids = ids[:-1]
    return ids


def _is_array_pair(audio: object) -> bool:
    return isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[1], (int, float))


def resolve_pretrained(name_or_path: str | Path) -> Path:
    """A directory holding a saved model: the released ``default``, a local directory, or a hub download."""
    from .weights import resolve_saved

    return resolve_saved(name_or_path, RELEASED_DIR, CONFIG_FILE)
