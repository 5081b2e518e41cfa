"""Minting xAI Grok ephemeral client secrets (``POST /v1/realtime/client_secrets``).

Public as :func:`realtime_client.tokens.grok_realtime_token`.
"""

from __future__ import annotations

import os
from typing import Optional

import requests

from ..._errors import PermissionDeniedError
from ..._models import RealtimeToken
from ...tokens import (
    TokenSource,
    _check_timeout,
    _check_url,
    _client_secret_token,
    _Request,
    _request_json,
    _safe_url,
)
from . import _wire as wire

__all__ = ["grok_realtime_token"]


def grok_realtime_token(
    expires_in: int = wire.DEFAULT_TOKEN_TTL,
    *,
    api_key: Optional[str] = None,
    model: Optional[str] = None,
    expires_after: Optional[int] = None,
    base_url: str = "https://api.x.ai/v1",
    timeout: float = 10.0,
    http: Optional[requests.Session] = None,
) -> TokenSource:
    """A token source that mints xAI ephemeral client secrets with an API key.

    Each call sends ``POST {base_url}/realtime/client_secrets`` with exactly
    ``{"expires_after": {"seconds": expires_in}}`` (xAI takes no ``session`` and no ``anchor``)
    and returns a ``RealtimeToken(provider="grok")``. The reply's top-level ``value`` and
    ``expires_at`` are read; the older ``client_secret.{value, expires_at}`` shape and an
    ``expires_at`` in milliseconds are accepted too. Keep API keys on servers.

    Args:
        expires_in: lifetime of the secret in seconds, 1 to 3600 (xAI's default is 600).
        api_key: the API key; default the ``XAI_API_KEY`` environment variable (read on every call).
        model: recorded in the token's config (the secret itself is not tied to a model).
        expires_after: another name for ``expires_in`` (the one ``openai_realtime_token`` uses,
            so generic code can pass either); giving both with different values is an error.
        base_url: the API base; plain ``http`` only for localhost.
        timeout: seconds allowed for connecting and for the answer.
        http: a ``requests.Session`` to use.

    Returns:
        A :class:`TokenSource`.

    Raises:
        PermissionDeniedError: no ``api_key`` and ``XAI_API_KEY`` is unset (at once).
        ValueError: ``expires_in`` outside 1..3600, a bad ``base_url`` or ``timeout``.

    Threads: the source may be called from any thread.

    .. versionadded:: 0.3.0
    """
    if expires_after is not None:
        if expires_in not in (wire.DEFAULT_TOKEN_TTL, expires_after):
            raise ValueError(f"expires_in={expires_in!r} and expires_after={expires_after!r} disagree")
        expires_in = expires_after
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) \
            or not 1 <= expires_in <= wire.MAX_TOKEN_TTL:
        raise ValueError(f"expires_in must be an int between 1 and {wire.MAX_TOKEN_TTL} seconds, "
                         f"got {expires_in!r}")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError("model must be a non-empty string")
    _check_url(base_url, "base_url", https_only=True)
    seconds = _check_timeout(timeout)
    _resolve_key(api_key)
    url = base_url.rstrip("/") + "/realtime/client_secrets"
    body = {"expires_after": {"seconds": expires_in}}

    def fetch() -> RealtimeToken:
        key = _resolve_key(api_key)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        data = _request_json(_Request(url, "POST", headers, body, seconds, http, (key,), "grok"))
        return _client_secret_token(data, _safe_url(url), "grok", model)

    return TokenSource(fetch, url=url)


def _resolve_key(api_key: Optional[str]) -> str:
    key = api_key if api_key is not None else os.environ.get(wire.KEY_ENV, "")
    if not isinstance(key, str) or not key.strip():
        why = "api_key is empty" if api_key is not None else f"environment variable {wire.KEY_ENV} is not set"
        raise PermissionDeniedError(f"no xAI API key: {why}; pass api_key=... or set {wire.KEY_ENV}",
                                    provider="grok")
    return key.strip()
