"""Sound events: Sonic Pi / SuperSonic samples (category from the file-name prefix) and the freedesktop and Oxygen
themes (category from the event the sound announces). Recorded sound events with AudioSet names are
:mod:`.real_sounds`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# File-name prefix -> what it is (Sonic Pi's naming convention).
SAMPLE_CATEGORIES = {
    "ambi": "ambient texture", "arovane": "electronic percussion", "bass": "bass synth", "bd": "bass drum",
    "drum": "drum kit", "elec": "electronic percussion", "glitch": "glitch effect", "guit": "electric guitar",
    "hat": "hi-hat", "loop": "drum loop", "mehackit": "electronic effect", "perc": "percussion",
    "ride": "ride cymbal", "sn": "snare drum", "tabla": "tabla", "tbd": "electronic percussion",
    "vinyl": "vinyl record effect",
}
# Sonic Pi's "misc" samples are each their own thing.
MISC = {"misc_burp": "burp", "misc_crow": "crow cawing", "misc_cineboom": "cinematic boom"}

FREEDESKTOP = {
    "alarm-clock-elapsed": ("alarm", "an alarm clock ringing"),
    "bell": ("bell", "a bell ringing"),
    "camera-shutter": ("camera shutter", "a camera shutter clicking"),
    "complete": ("notification chime", "a short chime announcing that something finished"),
    "device-added": ("notification chime", "a chime for a device being plugged in"),
    "device-removed": ("notification chime", "a chime for a device being removed"),
    "dialog-error": ("error sound", "an error alert sound"),
    "dialog-information": ("notification chime", "a soft information chime"),
    "dialog-warning": ("warning sound", "a warning alert sound"),
    "message": ("message alert", "a message alert tone"),
    "message-new-instant": ("message alert", "a new instant message tone"),
    "phone-incoming-call": ("phone ringing", "a phone ringing for an incoming call"),
    "phone-outgoing-busy": ("busy signal", "a telephone busy signal"),
    "phone-outgoing-calling": ("ringback tone", "the ringback tone of an outgoing call"),
    "power-plug": ("notification chime", "a chime for a charger being plugged in"),
    "power-unplug": ("notification chime", "a chime for a charger being unplugged"),
    "screen-capture": ("camera shutter", "a screenshot shutter sound"),
    "service-login": ("notification chime", "a login chime"),
    "service-logout": ("notification chime", "a logout chime"),
    "suspend-error": ("error sound", "an error sound when the computer cannot sleep"),
    "trash-empty": ("crumpling paper", "paper being crumpled as the trash is emptied"),
    "window-attention": ("notification chime", "an attention chime"),
    "window-question": ("notification chime", "a question chime"),
    "audio-test-signal": ("test tone", "a test tone"),
    "audio-volume-change": ("click", "a short click for a volume change"),
    "network-connectivity-established": ("notification chime", "a chime for a network connection"),
    "network-connectivity-lost": ("notification chime", "a chime for a lost network connection"),
}

# KDE's Oxygen theme, file name without "Oxygen-" -> (category, caption), in the freedesktop theme's categories.
OXYGEN = {
    "Im-Cant-Connect": ("error sound", "an alert that a chat could not connect"),
    "Im-Connection-Lost": ("error sound", "an alert that a chat connection was lost"),
    "Im-Error-On-Connection": ("error sound", "a chat connection error alert"),
    "Im-Internal-Error": ("error sound", "an internal error alert"),
    "Im-Network-Problems": ("error sound", "an alert for network problems"),
    "K3B-Finish-Error": ("error sound", "an alert that disc burning failed"),
    "Sys-App-Error": ("error sound", "an application error alert"),
    "Sys-App-Error-Serious": ("error sound", "a serious application error alert"),
    "Sys-App-Error-Serious-Very": ("error sound", "a very serious application error alert"),
    "Sys-App-Error-Critical": ("error sound", "a critical error alert"),
    "Sys-Error-Printing": ("error sound", "a printing error alert"),
    "Sys-Warning": ("warning sound", "a warning alert sound"),
    "Im-Message-In": ("message alert", "an incoming chat message tone"),
    "Im-Message-Out": ("message alert", "an outgoing chat message tone"),
    "Im-Highlight-Msg": ("message alert", "a tone for a message that mentions you"),
    "Im-Low-Priority-Message": ("message alert", "a tone for a low-priority message"),
    "Im-New-Mail": ("message alert", "a new mail tone"),
    "Im-Sms": ("message alert", "a text message tone"),
    "Sys-App-Message": ("message alert", "an application message tone"),
    "Im-Phone-Ring": ("phone ringing", "a phone ringing for an internet call"),
    "Im-Contact-In": ("notification chime", "a chime for a contact coming online"),
    "Im-Contact-Out": ("notification chime", "a chime for a contact going offline"),
    "K3B-Finish-Success": ("notification chime", "a chime for a finished disc"),
    "K3B-Insert-Medium": ("notification chime", "a chime asking for a disc"),
    "Sys-App-Positive": ("notification chime", "a chime for a success"),
    "Sys-Question": ("notification chime", "a question chime"),
    "Sys-Log-In": ("notification chime", "a login chime"),
    "Sys-Log-In-Short": ("notification chime", "a short login chime"),
    "Sys-Log-In-Long": ("notification chime", "a long login chime"),
    "Sys-Log-Out": ("notification chime", "a logout chime"),
    "Sys-Log-Out-Long": ("notification chime", "a long logout chime"),
}

@dataclass(frozen=True)
class SoundClip:
    path: Path
    name: str  # the file name without extension: the leakage key (the same sample in two packages is one)
    category: str
    caption: str
    source: str


def sample_clips(root: Path, source: str) -> list[SoundClip]:
    """Sonic Pi-style samples under ``root`` (flac/wav/ogg), one per file name."""
    clips = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".flac", ".wav", ".ogg")):
        stem = path.stem
        prefix = stem.partition("_")[0]
        if stem in MISC:
            category = caption = MISC[stem]
        elif prefix in SAMPLE_CATEGORIES:
            # The rest of the file name is a take or a code ("tabla_tas2"), not a description: never an answer.
            category = caption = SAMPLE_CATEGORIES[prefix]
        else:
            continue
        clips.append(SoundClip(path, stem, category, caption, source))
    return clips


def freedesktop_clips(root: Path) -> list[SoundClip]:
    """The freedesktop sound theme; the ``audio-channel-*`` files are a voice naming a speaker position."""
    clips = []
    for path in sorted(root.glob("*.og[ag]")):
        if path.stem.startswith("audio-channel-"):
            position = path.stem.removeprefix("audio-channel-").replace("-", " ")
            clips.append(SoundClip(path, path.stem, "spoken announcement", f"a voice saying \"{position}\"",
                                   "freedesktop"))
        elif path.stem in FREEDESKTOP:
            category, caption = FREEDESKTOP[path.stem]
            clips.append(SoundClip(path, path.stem, category, caption, "freedesktop"))
    return clips


def oxygen_clips(root: Path) -> list[SoundClip]:
    """KDE's Oxygen sound theme (``Oxygen-*.ogg``); window-management swishes and a few odd events are left out."""
    clips = []
    for path in sorted(root.glob("Oxygen-*.ogg")):
        event = path.stem.removeprefix("Oxygen-")
        if event in OXYGEN:
            category, caption = OXYGEN[event]
            clips.append(SoundClip(path, path.stem, category, caption, "oxygen"))
    return clips
