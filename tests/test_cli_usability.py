"""What a user meets first at the terminal: --version, defaults in the help, `models list`, line editing in chat,
and answers without the libraries' warnings and bars around them."""

from __future__ import annotations

import argparse
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audiollm import __version__
from audiollm.cli import build_parser, main

from .conftest import ROOT, TINY_CONFIG

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"audiollm {__version__}"


def all_parsers(parser: argparse.ArgumentParser, name: str = "audiollm"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from all_parsers(child, f"{name} {child_name}")


@pytest.mark.parametrize("argv", [["-v", "models", "list"], ["models", "-v", "list"], ["models", "list", "-v"],
                                  ["ask", "-v", "clip.wav", "Describe."], ["ask", "clip.wav", "Describe.", "--verbose"],
                                  ["data", "build", "starter", "--out", "x", "-v"], ["train", "run.yaml", "-v"]])
def test_global_flags_are_taken_before_and_after_every_command(argv: list[str]):
    assert build_parser().parse_args(argv).verbose is True
    assert build_parser().parse_args([a for a in argv if a not in ("-v", "--verbose")]).verbose is False


def test_models_list_takes_verbose_after_the_action(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDIOLLM_VERBOSE", "0")  # main sets it for -v; restored after the test
    assert main(["models", "list", "-v"]) == 0
    assert capsys.readouterr().out.startswith("default: the released model")
    with pytest.raises(SystemExit):
        main(["models", "list", "--version"])
    assert capsys.readouterr().out.strip() == f"audiollm {__version__}"


def test_every_option_with_a_default_says_it_in_its_help():
    missing = []
    for name, parser in all_parsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.nargs == 0:
                continue
            if action.help is None or (action.default not in (None, False) and "default" not in action.help
                                       and f"(default {action.default!r}" not in text
                                       and f"(default {action.default})" not in text):
                missing.append(f"{name} {action.option_strings[-1]}")
    assert not missing, f"help without its default: {missing}"


def test_models_list_shows_the_released_model_and_its_card(capsys: pytest.CaptureFixture[str]):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    card = ROOT / "audiollm" / "released" / "default" / "MODEL_CARD.md"
    assert out.startswith("default: the released model") and f"card  {card}" in out and card.is_file()
    assert "whisper-base" in out and "smollm2-135m-instruct" in out


def read_until(fd: int, text: str, seconds: float = 120) -> str:
    seen, deadline = b"", time.monotonic() + seconds
    while text.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen.decode(errors="replace")


def test_chat_edits_lines_and_recalls_history_across_sessions(tmp_path: Path):
    """Up arrow brings back the last line (in this session and the next), instead of printing ^[[A."""
    env = {**ENV, "AUDIOLLM_CACHE": str(tmp_path), "TERM": "xterm"}

    def session(keys: list[str], expect: str) -> str:
        leader, follower = pty.openpty()
        chat = subprocess.Popen([sys.executable, "-m", "audiollm.cli", "chat", "--model", str(TINY_CONFIG)],
                                stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
        os.close(follower)
        try:
            seen = read_until(leader, "> ")
            for key in keys:
                os.write(leader, key.encode())
                seen += read_until(leader, expect if key == keys[-1] else "> ", 30)
            os.write(leader, b"/quit\r")
            chat.wait(timeout=60)
            return seen
        finally:
            chat.kill()
            os.close(leader)

    up = "\x1b[A"
    first = session(["/help\r", up + "\r"], "leave (or end of input)")
    assert first.count("attach a clip to your next message") == 2, first
    assert "^[[A" not in first
    second = session([up + up + "\r"], "leave (or end of input)")  # the newest entry is /quit, the one before it /help
    assert "attach a clip to your next message" in second, second
    assert "/help" in (tmp_path / "chat_history").read_text()


@pytest.mark.weights
def test_ask_prints_only_the_answer():
    """The README's first command: the answer on stdout, nothing at all on stderr."""
    run = subprocess.run([sys.executable, "-m", "audiollm.cli", "ask", "examples/speech.flac",
                          "Transcribe the speech."], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.count("\n") == 1 and "lights" in run.stdout.lower(), run.stdout


def test_verbose_shows_what_the_libraries_say(tmp_path: Path):
    """-v brings back the dependencies' loading bars and warnings that are hidden by default."""
    clip = str(ROOT / "examples" / "chord.flac")
    command = [sys.executable, "-m", "audiollm.cli", "ask", clip, "Describe.", "--model", str(TINY_CONFIG),
               "--max-new-tokens", "4"]
    quiet = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    loud = subprocess.run([*command, "-v"], env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert quiet.stderr == ""
    assert "Loading weights" in loud.stderr


def test_offline_kernel_lookups_stay_quiet_unless_verbose():
    """Offline, the kernels hub says on every model load that it skips a trust check; only -v shows it."""
    script = ("import logging, sys; from audiollm.quiet import quiet_unless_verbose; quiet_unless_verbose(sys.argv[1:]);"
              "logging.getLogger('kernels._internals.hf_hub').warning('Skipping publisher trust check')")
    quiet, loud = (subprocess.run([sys.executable, "-c", script, *flags], cwd=ROOT, env=ENV, capture_output=True,
                                  text=True, timeout=120, check=True) for flags in ([], ["-v"]))
    assert quiet.stderr == "" and "Skipping publisher trust check" in loud.stderr
