"""One module per ``audiollm`` subcommand (see :mod:`audiollm.cli`), and the help layout they share."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already names one or there is none to name."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("(default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or action.nargs == 0):
            return text
        shown = repr(action.default) if isinstance(action.default, str) else str(action.default)
        shown = shown.replace("%", "%%")  # argparse %-formats the help text
        return f"{text} (default {shown})" if text else f"default {shown}"
