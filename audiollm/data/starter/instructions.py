"""Natural instruction wordings per task, and the multiple-choice prompt format (shared with the importers)."""

from __future__ import annotations

LETTERS = "ABCDEFGH"

PROMPTS: dict[str, tuple[str, ...]] = {
    "asr": ("Transcribe the speech.", "What is being said?", "Write down exactly what the speaker says.",
            "Give a transcript of this recording.", "What does the voice say? Reply with the words only."),
    "spoken_qa": ("Answer the question you hear.", "Listen to the question and answer it briefly.",
                  "The speaker asks something. What is the answer?", "Reply to the spoken question."),
    "word": ("What word is spoken?", "Which word does the speaker say?", "Say the word you hear.",
             "What single word is in this recording?"),
    "letter": ("Which letter or syllable is spoken?", "What letter or syllable do you hear?",
               "Name the letter or syllable the speaker pronounces."),
    "language": ("Which language is spoken?", "What language is this?", "Identify the language of the speaker.",
                 "In which language is this word said?"),
    "sound_class": ("What kind of sound is this?", "Classify this sound.", "What sound do you hear?",
                    "Name the sound source in one or two words."),
    "sound_event": ("What is making this sound?", "What do you hear in this recording?",
                    "Name the sound source.", "What sound is this? Answer in a few words.",
                    "Which sound event is in this clip?"),
    "caption": ("Describe the sound.", "Write a short caption for this audio.", "What is happening in this clip?",
                "Describe what you hear in a few words."),
    "instrument": ("Which instrument is playing?", "What instrument do you hear?", "Name the instrument.",
                   "What is this melody played on?"),
    "key": ("What key is this music in?", "Name the key of this piece.", "Which key is the music in?"),
    "tempo": ("What is the tempo in beats per minute?", "How fast is this music, in BPM?",
              "Estimate the tempo of the piece (BPM)."),
    "meter": ("What is the time signature?", "Which meter is this piece in?",
              "How many beats are in a bar? Give the time signature."),
    "composer": ("Who composed this music?", "Which composer wrote this piece?", "Name the composer."),
    "mixture_speech": ("Transcribe the speech and ignore the background.",
                       "There is a sound behind the voice. What does the voice say?",
                       "Write down the spoken words, not the background."),
    "mixture_background": ("What sound is playing behind the voice?", "Besides the speech, what else do you hear?",
                           "Name the background sound under the speaker."),
}


def multiple_choice(question: str, options: list[str], answer: str) -> tuple[str, str]:
    """The prompt listing lettered options and the reference "option (B)"; ``answer`` must be one of ``options``.

    The option comes before its letter so that a small model first says what it heard, copying the option that
    matches, and then copies that option's letter from the prompt; asked for the letter first, it must match all
    the options against the audio in the one step that emits the letter, and tends to settle on one letter.
    """
    if answer not in options:
        raise ValueError(f"the answer {answer!r} is not among the choices {options}")
    listed = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    letter = LETTERS[options.index(answer)]
    return f"{question}\n{listed}\nAnswer with the option, then its letter.", f"{answer} ({letter})"


def multiple_choice_varied(question: str, options: list[str], answer: str, style: str) -> tuple[str, str]:
    """Multiple choice in one of three wordings: ``letters`` (as :func:`multiple_choice`), ``paren`` ("(a) dog"
    lines) or ``inline`` ("dog; rain; piano; or bell?"); the last two are answered with the option text alone."""
    if style == "letters":
        return multiple_choice(question, options, answer)
    if answer not in options:
        raise ValueError(f"the answer {answer!r} is not among the choices {options}")
    if style == "paren":
        listed = "\n".join(f"({LETTERS[i].lower()}) {o}" for i, o in enumerate(options))
        return f"{question}\n{listed}", answer
    if style == "inline":
        # Semicolons, since some names hold a comma ("walk, footsteps").
        return f"{question} Is it {'; '.join(options[:-1])}; or {options[-1]}?", answer
    raise ValueError(f"unknown multiple-choice style {style!r}")
