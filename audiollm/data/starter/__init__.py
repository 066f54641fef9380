"""The starter corpus: an offline instruction set of real speech, sound and music built from installable packages.

``audiollm data build starter --out DIR [--size small|full] [--seed N]`` writes ``audio/`` plus ``train.jsonl``,
``dev.jsonl`` and ``test.jsonl`` (short-form manifest rows, see :mod:`audiollm.data.manifest`). A re-run skips the
clips already on disk; the same seed gives the same corpus. Sources that are not installed are reported with the
command that adds them (see :mod:`.sources`), and the rest is built. A source file that cannot be read or rendered
is skipped and listed in ``skipped.txt``.

Task names (the row's ``task``):

=============  ==========================================================================================
asr            transcribe synthetic speech (sentences from Debian ``fortunes``; in train also WordNet's usage
               examples, from ``wordnet-base``) or a spoken question; or real recorded speech (Warzone 2100's
               tutorial, Trigger Rally's co-drivers, PocketSphinx's test clips: meta ``speaker``), nearly all of it
               in dev and test (see :mod:`.real_speech`)
spoken_qa      the question is in the audio (arithmetic, days, months, comparisons); the answer is short
word           which word (ktuberling) or letter/syllable (klettres) a real speaker says
language       which language the recorded word is in
sound_class    the kind of sound (Sonic Pi/SuperSonic category from the file-name prefix, freedesktop theme; in
               train also KDE's Oxygen theme)
sound_event    what is making a recorded sound, as its AudioSet name in plain words ("dog", "walk, footsteps"):
               clips from 16 game and music packages, labelled by the rule table in :mod:`.real_sounds`
caption        a short description of the sound
instrument     the General MIDI instrument a music21 score is rendered with
key            the key of the rendered excerpt (e.g. "F major")
tempo          the tempo it is rendered at (e.g. "96 BPM")
meter          the time signature (e.g. "3/4")
composer       the composer's surname (e.g. "Bach")
mcq            multiple choice A-D: the options are in the prompt and in ``choices``; the answer is the option
               text, then its letter, e.g. "French (B)"; sound events are also asked with "(a) ..." options or
               inline, answered by the option text, and their wrong options are from other AudioSet top-level groups
yesno          a yes/no question about the clip; the answer is "yes" or "no"
compare        two clips (``audio`` is a list of two): same sentence? same kind of sound? which is faster?
mixture        speech over a background sound at a chosen SNR (a sample, or a recorded sound event of the same
               split): transcribe the speech, or name the background
=============  ==========================================================================================

Splits have no leakage: each sentence, voice, recorded word, sample file and score belongs to one split (the row's
``meta`` names them), so dev and test have voices never heard in train. Sound events are held out by package: for
a class that two or more packages have, test (and dev, where a third package has it) hears it only from a package
train never hears it from, and all takes of one sound (meta ``take``) stay in one split. Their rows carry
``source`` (the package) and ``license`` (from its copyright file). A few instruments play only in dev or only
in test; the others play in every split, on different scores, so that both familiar and unheard ones are tested.
In ``full``, each train score is rendered by three instruments, so that the timbre, not the tune, names the
instrument.
"""

from .builder import SIZES, BuildResult, Size, build_starter, format_counts, plan
from .sources import Source, discover

__all__ = ["SIZES", "BuildResult", "Size", "Source", "build_starter", "discover", "format_counts", "plan"]
