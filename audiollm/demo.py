"""The Gradio demo: record or upload a clip, ask about it, read the answer as it streams and hear it spoken.

Every answer goes through :meth:`AudioLLM.stream` (no preprocessing of its own here) and, when a speech head is
given, through :meth:`SpeechHead.narrate`, so speech starts while the text is still being written.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Before gradio is imported anywhere: the demo makes no calls outside the machine it runs on.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from .audio import AudioError, load_audio, to_pcm16  # noqa: E402 - after the environment is set
from .config import DEFAULT_PROMPT, is_model_config  # noqa: E402
from .conversation import AudioPart, Message, Part, TextPart  # noqa: E402

if TYPE_CHECKING:
    import gradio as gr

    from .model import AudioLLM
    from .speech import SpeechHead

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = [
    ("speech.flac", "What does the speaker say?"),
    ("footsteps.flac", "What is making this sound?"),
    ("rain.flac", "What is making this sound?"),
    ("chord.flac", "Describe the music."),
    ("doorbell.flac", "What sound is this?"),
]
DEFAULT_MAX_SECONDS = 60.0
# 60 s of 48 kHz stereo 16-bit WAV is 11.5 MB; compressed formats are smaller.
MAX_UPLOAD_MB = 20.0
# Two answers at a time on a small machine; the rest wait in the queue (up to QUEUE_SIZE) and are answered in turn.
CONCURRENCY = 2
QUEUE_SIZE = 64
# System fonts only: the default theme would have the browser fetch web fonts from outside.
FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]

Chat = list[dict[str, Any]]
HUB = "https://huggingface.co"


@dataclasses.dataclass
class ModelInfo:
    """What the page says about the model: its name, one line on what it is, and its card."""

    name: str
    summary: str
    card: str | None = None  # the card's Markdown, shown on the page
    link: str | None = None  # where the card lives when it is not here (a hub page)


def describe_model(spec: str) -> ModelInfo:
    """The page's description of ``--model spec``: a saved model's card, a hub page, or a config's file name."""
    from .model import RELEASED_DIR

    path = RELEASED_DIR / "default" if spec == "default" else Path(spec).expanduser()
    if is_model_config(spec):
        return ModelInfo(path.stem, f"a fresh model built from {path.name} (its projector is untrained)")
    for name in ("MODEL_CARD.md", "README.md"):
        if (path / name).is_file():
            card = (path / name).read_text()
            title = next((line for line in card.splitlines() if line.startswith("# ")), f"# {spec}")
            # "# audiollm `default` — preview checkpoint 0.9": what follows the dash says which one it is.
            return ModelInfo(spec, title[2:].replace("`", "").split(" — ")[-1], card=card)
    if path.is_dir():
        return ModelInfo(spec, f"a model saved in {path}")
    return ModelInfo(spec, f"{spec} from the Hugging Face hub", link=f"{HUB}/{spec}")


class Responder:
    """One demo turn: check the clip, show the user's turn, stream the answer's text and speech."""

    def __init__(self, model: AudioLLM, speech: SpeechHead | None, max_seconds: float, max_new_tokens: int | None):
        self.model = model
        self.speech = speech
        self.max_seconds = max_seconds
        self.max_new_tokens = max_new_tokens

    def check_clip(self, path: str | None) -> np.ndarray | None:
        """The clip as 16 kHz samples; a clip that cannot be used raises AudioError with the reason. Its length is
        read from its header before it is decoded (a stream whose header does not say is decoded only up to the
        limit)."""
        if not path:
            return None
        try:
            return load_audio(path, name=Path(path).name, max_seconds=self.max_seconds)
        except AudioError as exc:
            if "the limit is" not in str(exc):
                raise
            raise AudioError(str(exc).replace("the limit is", "this demo takes clips up to")) from exc

    def answer(self, audio_path: str | None, text: str, chat: Chat | None,
               history: list[Message] | None) -> Iterator[tuple]:
        """Yields (chat, history, audio input, text box, spoken answer) updates."""
        import gradio as gr

        chat, history = list(chat or []), list(history or [])
        text = (text or "").strip()
        try:
            samples = self.check_clip(audio_path)
        except AudioError as exc:
            chat.append({"role": "assistant", "content": f"That audio cannot be used: {exc}"})
            yield chat, history, None, text, None
            return
        if samples is None and not text:
            chat.append({"role": "assistant", "content": "Record or upload a clip, or type a message."})
            yield chat, history, None, text, None
            return
        parts: list[Part] = []
        if samples is not None:
            parts.append(AudioPart(samples))
            chat.append({"role": "user", "content": {"path": audio_path}})
        prompt = text or DEFAULT_PROMPT
        parts.append(TextPart(prompt))
        chat.append({"role": "user", "content": prompt})
        turn = Message("user", tuple(parts))
        chat.append({"role": "assistant", "content": ""})
        yield chat, history, None, "", None

        answer = ""
        pieces = self.model.stream(messages=[*history, turn], max_new_tokens=self.max_new_tokens)
        for item in self.speech.narrate(pieces) if self.speech else pieces:
            if isinstance(item, str):
                answer += item
                chat[-1] = {"role": "assistant", "content": answer}
                yield chat, history, None, "", gr.skip()
            else:
                samples_out, rate = item
                yield chat, history, None, "", (rate, to_pcm16(samples_out))
        history += [turn, Message.text_only("assistant", answer)]
        yield chat, history, None, "", gr.skip()


def reset_view() -> tuple:
    """An empty chat, history, clip, text box and spoken answer."""
    return [], [], None, "", None


def build_demo(
    model: AudioLLM,
    speech: SpeechHead | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
    examples_dir: Path = EXAMPLES_DIR,
    info: ModelInfo | None = None,
) -> gr.Blocks:
    """The demo's Blocks, queued; call ``.launch()`` on it (or use :func:`launch`)."""
    import gradio as gr

    info = info or ModelInfo("model", "an audio-understanding LLM")
    respond = Responder(model, speech, max_seconds, max_new_tokens)
    with gr.Blocks(title=f"audiollm: {info.name}") as demo:
        card = f" · [model card]({info.link})" if info.link else (" · model card below" if info.card else "")
        gr.Markdown(f"## audiollm\n**Model: {info.name}** — {info.summary}{card}\n\n"
                    "Upload or record a clip, ask about it, and hear the answer.", elem_id="about")
        history = gr.State([])
        chat = gr.Chatbot(label="Conversation", elem_id="chat", height=420)
        with gr.Row():
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip", elem_id="clip")
            with gr.Column():
                # One line that grows: Enter sends, Shift+Enter starts a new line.
                text = gr.Textbox(label="Message", placeholder="Ask about the clip… (Enter sends, Shift+Enter: new line)",
                                  elem_id="message", lines=1, max_lines=6)
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                    clear = gr.Button("Clear", elem_id="clear")
        spoken = gr.Audio(label="Spoken answer", streaming=True, autoplay=True, interactive=False,
                          visible=speech is not None, elem_id="spoken")
        clips = [[str(examples_dir / name), prompt] for name, prompt in EXAMPLES if (examples_dir / name).is_file()]
        if clips:
            gr.Examples(clips, inputs=[audio, text], label="Example clips")
        if info.card:
            with gr.Accordion(f"Model card: {info.summary}", open=False, elem_id="card"):
                gr.Markdown(info.card)
        outputs = [chat, history, audio, text, spoken]
        answers = [trigger(respond.answer, inputs=[audio, text, chat, history], outputs=outputs,
                           concurrency_limit=CONCURRENCY, api_name="respond" if trigger == send.click else False)
                   for trigger in (send.click, text.submit)]
        stop.click(None, cancels=answers, api_name=False)
        # Clear also cancels an answer still streaming, which would otherwise refill the chat and the player. The
        # page sends the cancel beside the first reset, not before it, and on a loaded CPU the streaming player was
        # seen to outlive that reset; the second comes a queue round trip later, once the cancel has landed.
        clear.click(reset_view, outputs=outputs, cancels=answers, api_name=False).then(
            reset_view, outputs=outputs, api_name=False)
    return demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, max_upload_mb: float = MAX_UPLOAD_MB,
           **kwargs: Any) -> None:
    """Serve the demo on ``host`` (loopback unless told otherwise), never through a public share link; gradio
    refuses uploads over ``max_upload_mb`` before it stores them."""
    import gradio as gr

    theme = gr.themes.Default(font=FONTS, font_mono=MONO_FONTS)
    demo.launch(server_name=host, server_port=port, share=False, show_error=False, theme=theme,
                max_file_size=int(max_upload_mb * 1e6), **kwargs)
