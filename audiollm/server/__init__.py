"""OpenAI-compatible HTTP API: chat completions with audio, transcriptions, models, health.

``create_app`` is in :mod:`audiollm.server.app`, ``ServeConfig`` in :mod:`audiollm.server.settings`; this package
imports nothing itself, so ``audiollm --help`` stays fast.
"""
