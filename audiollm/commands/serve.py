"""``audiollm serve``: the OpenAI-compatible HTTP API (chat completions with audio, transcriptions)."""

from __future__ import annotations

import argparse

from ..server.settings import ServeConfig

DEFAULTS = ServeConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULTS.model,
                        help="'default', a saved model directory, a hub id, or a model config YAML")
    parser.add_argument("--model-name", default=None,
                        help="the model id clients send (default: the --model name, e.g. 'tiny' for tiny.yaml)")
    parser.add_argument("--host", default=DEFAULTS.host, help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULTS.port, help="port to listen on")
    parser.add_argument("--api-key", default=None, help="ask clients for 'Authorization: Bearer KEY' (default: no key asked)")
    parser.add_argument("--max-body-mb", type=float, default=DEFAULTS.max_body_mb, help="largest request body in MB")
    parser.add_argument("--max-audio-seconds", type=float, default=DEFAULTS.max_audio_seconds,
                        help="longest clip a request may send")
    parser.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens, help="the largest max_tokens allowed")
    parser.add_argument("--max-prompt-tokens", type=int, default=DEFAULTS.max_prompt_tokens,
                        help="longest prompt, audio tokens included")
    parser.add_argument("--speech", default=DEFAULTS.speech,
                        help="speech backend for spoken answers: hibari, piper or espeak (default hibari)")
    parser.add_argument("--speech-voice", default=None, help="the backend's voice, for piper an .onnx file (default: the backend's own)")
    parser.add_argument("--queue-size", type=int, default=DEFAULTS.queue_size,
                        help="requests that may wait for the model; more get 503")
    parser.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                        help="requests answered together in one generation")
    parser.add_argument("--batch-window-ms", type=float, default=DEFAULTS.batch_window_ms,
                        help="how long a request waits for others to batch with")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    return ServeConfig(
        model=args.model, model_name=args.model_name, host=args.host, port=args.port, api_key=args.api_key,
        max_body_mb=args.max_body_mb, max_audio_seconds=args.max_audio_seconds, max_tokens=args.max_tokens,
        max_prompt_tokens=args.max_prompt_tokens, speech=args.speech, speech_voice=args.speech_voice,
        queue_size=args.queue_size, max_batch=args.max_batch,
        batch_window_ms=args.batch_window_ms,
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..model import load_model
    from ..server.app import create_app

    config = config_from_args(args)
    # Loaded before uvicorn starts, so a model that cannot load is a one-line error, not a startup traceback.
    model = load_model(config.model)
    uvicorn.run(create_app(config, model), host=config.host, port=config.port, log_level="info")
    return 0
