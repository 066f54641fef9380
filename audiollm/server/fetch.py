"""http(s) ``audio_url`` parts, fetched only from the hosts the operator names, with a size and a time limit."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from .errors import APIError


def fetch_audio(url: str, param: str, hosts: tuple[str, ...], max_bytes: int, timeout_s: float) -> bytes:
    host = (urlsplit(url).hostname or "").lower()
    if host not in hosts:
        allowed = ", ".join(hosts) if hosts else "none (the operator can name some with --audio-url-hosts)"
        raise APIError(400, f"{param}: this server does not fetch audio from {host or url!r}; hosts it fetches from: "
                            f"{allowed}. Send the audio itself, as input_audio or a data: URI", param,
                       "audio_url_not_allowed")
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    try:
        # No redirects: one could lead to a host that is not allowed.
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=False) as reply:
            if reply.status_code != 200:
                raise APIError(400, f"{param}: fetching {url} answered HTTP {reply.status_code}", param,
                               "audio_url_failed")
            for chunk in reply.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise APIError(400, f"{param}: {url} is larger than the limit of {max_bytes / 1e6:g} MB", param,
                                   "audio_url_too_large")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole download took too long")
                chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise APIError(400, f"{param}: fetching {url} took longer than {timeout_s:g} s", param,
                       "audio_url_timeout") from exc
    except httpx.HTTPError as exc:
        raise APIError(400, f"{param}: fetching {url} failed: {exc}", param, "audio_url_failed") from exc
    return b"".join(chunks)
