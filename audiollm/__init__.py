"""audiollm: an adapter-based audio-understanding LLM (frozen Whisper encoder, projector, LoRA-tuned LLM)."""

from .audio import AudioError
from .config import AudioLLMConfig
from .conversation import AudioPart, Message, TextPart

__all__ = ["AudioError", "AudioLLM", "AudioLLMConfig", "AudioPart", "Generation", "GenerationRequest", "Message",
           "TextPart", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The model pulls in torch and transformers; keep `import audiollm` (and the CLI's --help) fast.
    if name == "AudioLLM":
        from .model import AudioLLM

        return AudioLLM
    if name in ("Generation", "GenerationRequest"):
        from . import generation

        return getattr(generation, name)
    raise AttributeError(f"module 'audiollm' has no attribute {name!r}")
