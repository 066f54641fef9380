"""Draw the architecture picture the README opens with: ``python docs/architecture.py`` writes docs/architecture.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).with_suffix(".png")
FROZEN, TRAINED, DATA = "#dbe4f0", "#f6c28b", "#ffffff"
# name -> (x, y, width, text, colour); x and y are the box centre.
BOXES = {
    "wave": (0.9, 3.0, 1.3, "waveform\n16 kHz", DATA),
    "mel": (2.6, 3.0, 1.4, "log-mel\n30 s windows", DATA),
    "encoder": (4.6, 3.0, 1.9, "Whisper encoder\nfrozen, 50 frames/s\nlayer mix", FROZEN),
    "projector": (6.9, 3.0, 1.9, "projector\nlinear | MLP | Q-Former\ntrained", TRAINED),
    "decoder": (4.6, 1.2, 1.9, "Whisper decoder\nfrozen (speech only)", FROZEN),
    "prompt": (6.9, 1.2, 1.9, "chat template\n<|audio|> x N\n[+ transcript]", DATA),
    "splice": (9.0, 2.1, 1.5, "splice\naudio embeddings\ninto the prompt", DATA),
    "llm": (11.1, 2.1, 1.8, "causal LLM\nfrozen + LoRA\n(trained)", TRAINED),
    "text": (13.0, 2.1, 1.2, "answer\ntext", DATA),
    "tts": (13.0, 0.5, 1.2, "spoken answer\nstreaming TTS\n(optional)", DATA),
}
ARROWS = [("wave", "mel"), ("mel", "encoder"), ("encoder", "projector"), ("encoder", "decoder"),
          ("decoder", "prompt"), ("projector", "splice"), ("prompt", "splice"), ("splice", "llm"), ("llm", "text"),
          ("text", "tts")]
HEIGHT = 1.15


def draw(path: Path = OUT) -> Path:
    fig, ax = plt.subplots(figsize=(14, 4.2), dpi=110)
    for x, y, width, text, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x - width / 2, y - HEIGHT / 2), width, HEIGHT, boxstyle="round,pad=0.05",
                                    facecolor=colour, edgecolor="#44546a", linewidth=1.2))
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5)
    for start, end in ARROWS:
        (x0, y0, w0, *_), (x1, y1, w1, *_) = BOXES[start], BOXES[end]
        if y0 == y1:
            tail, head = (x0 + w0 / 2 + 0.05, y0), (x1 - w1 / 2 - 0.05, y1)
        elif x0 == x1:
            sign = 1 if y1 > y0 else -1
            tail, head = (x0, y0 + sign * (HEIGHT / 2 + 0.05)), (x1, y1 - sign * (HEIGHT / 2 + 0.05))
        else:
            tail, head = (x0 + w0 / 2 + 0.05, y0), (x1 - w1 / 2 - 0.05, y1)
        ax.add_patch(FancyArrowPatch(tail, head, arrowstyle="-|>", mutation_scale=14, color="#44546a", lw=1.3))
    for colour, label, x in ((FROZEN, "frozen", 0.4), (TRAINED, "trained", 1.9)):
        ax.add_patch(FancyBboxPatch((x, -0.35), 0.35, 0.3, boxstyle="round,pad=0.02", facecolor=colour,
                                    edgecolor="#44546a"))
        ax.text(x + 0.5, -0.2, label, va="center", fontsize=9.5)
    ax.set_xlim(0, 13.8)
    ax.set_ylim(-0.5, 3.8)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(draw())
