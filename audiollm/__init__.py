"""audiollm: an adapter-based audio-understanding LLM (frozen Whisper encoder, projector, LoRA-tuned LLM)."""

from .audio import AudioError
from .config import AudioLLMConfig

__all__ = ["AudioError", "AudioLLM", "AudioLLMConfig", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The model pulls in torch and transformers; keep `import audiollm` (and the CLI's --help) fast.
    if name == "AudioLLM":
        from .model import AudioLLM

        return AudioLLM
    raise AttributeError(f"module 'audiollm' has no attribute {name!r}")
