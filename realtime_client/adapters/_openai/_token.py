"""Minting OpenAI Realtime ephemeral client secrets (``POST /v1/realtime/client_secrets``).

Public as :func:`realtime_client.tokens.openai_realtime_token`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import requests

from ..._errors import ConnectionFailedError, PermissionDeniedError
from ..._models import RealtimeToken, SessionConfig, check_expiry
from ...tokens import TokenSource, _check_timeout, _check_url, _Request, _request_json, _safe_url
from ._wire import DEFAULT_MODEL

__all__ = ["openai_realtime_token"]


def openai_realtime_token(
    *,
    model: str = DEFAULT_MODEL,
    api_key: Optional[str] = None,
    expires_after: int = 600,
    session_config: Optional[Mapping[str, Any]] = None,
    base_url: str = "https://api.openai.com/v1",
    timeout: float = 10.0,
    http: Optional[requests.Session] = None,
) -> TokenSource:
    """A token source that mints OpenAI Realtime ephemeral client secrets with an API key.

    Each call sends ``POST {base_url}/realtime/client_secrets`` with
    ``{"expires_after": {"anchor": "created_at", "seconds": expires_after},
    "session": {"type": "realtime", "model": model, **session_config}}`` and returns a
    ``RealtimeToken(provider="openai")`` holding the ``ek_...`` secret. Keep API keys on
    servers; ship :func:`fetch_token` in apps.

    Args:
        model: the Realtime model the secret is for.
        api_key: the API key; default the ``OPENAI_API_KEY`` environment variable (read on
            every call, so a rotated key is picked up).
        expires_after: lifetime of the secret in seconds, 10 to 7200.
        session_config: more GA session fields baked into the secret (e.g. ``instructions``,
            ``audio``); they override ``type``/``model`` when they repeat them.
        base_url: the API base; plain ``http`` only for localhost.
        timeout: seconds allowed for connecting and for the answer.
        http: a ``requests.Session`` to use.

    Returns:
        A :class:`TokenSource`.

    Raises:
        PermissionDeniedError: no ``api_key`` and ``OPENAI_API_KEY`` is unset (at once).
        ValueError: ``expires_after`` outside 10..7200, a bad ``base_url`` or ``timeout``.

    Threads: the source may be called from any thread.

    .. versionadded:: 0.1.0
    """
    if isinstance(expires_after, bool) or not isinstance(expires_after, int) \
            or not 10 <= expires_after <= 7200:
        raise ValueError(f"expires_after must be an int between 10 and 7200 seconds, got {expires_after!r}")
    if not isinstance(model, str) or not model:
        raise ValueError("model must be a non-empty string")
    _check_url(base_url, "base_url", https_only=True)
    seconds = _check_timeout(timeout)
    _resolve_key(api_key)  # fail fast when no key is configured
    url = base_url.rstrip("/") + "/realtime/client_secrets"
    body = {"expires_after": {"anchor": "created_at", "seconds": expires_after},
            "session": {"type": "realtime", "model": model, **dict(session_config or {})}}

    def fetch() -> RealtimeToken:
        key = _resolve_key(api_key)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        data = _request_json(_Request(url, "POST", headers, body, seconds, http, (key,), "openai"))
        return _parse_client_secret(data, _safe_url(url), model)

    return TokenSource(fetch, url=url)


def _resolve_key(api_key: Optional[str]) -> str:
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
    if not isinstance(key, str) or not key.strip():
        why = "api_key is empty" if api_key is not None else "environment variable OPENAI_API_KEY is not set"
        raise PermissionDeniedError(f"no OpenAI API key: {why}; pass api_key=... or set OPENAI_API_KEY",
                                    provider="openai")
    return key.strip()


def _parse_client_secret(data: Any, where: str, model: str) -> RealtimeToken:
    def bad(what: str) -> ConnectionFailedError:
        return ConnectionFailedError(f"{where} sent an unexpected client secret reply: {what}",
                                     provider="openai", details={"url": where})

    if not isinstance(data, Mapping):
        raise bad(f"expected a JSON object, got {type(data).__name__}")
    value = data.get("value")
    if not isinstance(value, str) or not value:
        raise bad("no 'value' string")
    if data.get("expires_at") is None:
        raise bad("no numeric 'expires_at'")
    try:
        expires_at = check_expiry(data["expires_at"], "'expires_at'")
    except ValueError as exc:
        raise bad(str(exc)) from exc
    session = data.get("session")
    minted_for = session.get("model") if isinstance(session, Mapping) else None
    config = SessionConfig(model=minted_for if isinstance(minted_for, str) else model)
    return RealtimeToken(provider="openai", token=value, expires_at=expires_at, config=config)
