"""The one error every part of base-weight handling raises (resolution, packs, converters)."""


class WeightsError(FileNotFoundError):
    """Base weights that cannot be found or read; the message says what to install or fetch."""
