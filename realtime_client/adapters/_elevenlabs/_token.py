"""Signed URLs for private ElevenLabs agents (``GET /v1/convai/conversation/get-signed-url``).

Public as :func:`realtime_client.tokens.elevenlabs_realtime_token`.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, Optional

import requests

from ..._errors import ConnectionFailedError, PermissionDeniedError
from ..._models import RealtimeToken
from ...tokens import TokenSource, _check_timeout, _check_url, _Request, _request_json, _safe_url
from . import _wire as wire

__all__ = ["elevenlabs_realtime_token"]


def elevenlabs_realtime_token(
    agent_id: str,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    *,
    residency: Optional[str] = None,
    environment: Optional[str] = None,
    branch_id: Optional[str] = None,
    include_conversation_id: bool = False,
    timeout: float = 10.0,
    http: Optional[requests.Session] = None,
) -> TokenSource:
    """A token source that gets signed conversation URLs for a private ElevenLabs agent.

    Each call sends ``GET {base_url}/v1/convai/conversation/get-signed-url?agent_id=...`` with
    the ``xi-api-key`` header and returns ``RealtimeToken(provider="elevenlabs", token=<signed
    URL>)``, which expires 15 minutes later: the window to *start* a conversation (the
    conversation itself may last longer). A public agent needs no token: leave ``get_token``
    out. Keep API keys on servers; ship :func:`~realtime_client.tokens.fetch_token` in apps.

    Args:
        agent_id: the agent.
        api_key: the API key; default the ``ELEVENLABS_API_KEY`` environment variable (read on
            every call).
        base_url: the API origin, as in the official SDK's ``ElevenLabs(base_url=...)``;
            default ``https://api.elevenlabs.io`` (or the ``residency`` host).
        residency: ``"us"``, ``"eu"``, ``"in"`` or ``"sg"``: that data-residency host.
        environment: the agent environment, a query parameter when given.
        branch_id: the agent branch, a query parameter when given.
        include_conversation_id: ask for a URL naming its conversation (single use).
        timeout: seconds allowed for connecting and for the answer.
        http: a ``requests.Session`` to use.

    Returns:
        A :class:`~realtime_client.tokens.TokenSource`.

    Raises:
        PermissionDeniedError: no ``api_key`` and ``ELEVENLABS_API_KEY`` is unset (at once).
        ValueError: an empty ``agent_id``, a bad ``base_url``, ``residency`` or ``timeout``.

    Threads: the source may be called from any thread.

    .. versionadded:: 0.2.0
    """
    if not isinstance(agent_id, str) or not agent_id.strip():
        raise ValueError("agent_id must be a non-empty string")
    if residency is not None and residency not in wire.RESIDENCY_HOSTS:
        raise ValueError(f"residency must be one of {tuple(wire.RESIDENCY_HOSTS)}, got {residency!r}")
    if base_url is not None and residency is not None:
        raise ValueError("give base_url= or residency=, not both")
    origin = base_url or f"https://{wire.RESIDENCY_HOSTS[residency or 'global']}"
    _check_url(origin, "base_url", https_only=True)
    seconds = _check_timeout(timeout)
    _resolve_key(api_key)  # fail fast when no key is configured
    params = {"agent_id": agent_id.strip()}
    if include_conversation_id:
        params["include_conversation_id"] = "true"
    if branch_id is not None:
        params["branch_id"] = branch_id
    if environment is not None:
        params["environment"] = environment
    prepared = requests.Request("GET", origin.rstrip("/") + wire.SIGNED_URL_PATH, params=params).prepare()
    url = str(prepared.url)

    def fetch() -> RealtimeToken:
        key = _resolve_key(api_key)
        headers = {"xi-api-key": key, "Accept": "application/json"}
        started = time.time()
        data = _request_json(_Request(url, "GET", headers, None, seconds, http, (key,), "elevenlabs"))
        return _parse_signed_url(data, _safe_url(url), started)

    return TokenSource(fetch, url=url)


def _resolve_key(api_key: Optional[str]) -> str:
    key = api_key if api_key is not None else os.environ.get("ELEVENLABS_API_KEY", "")
    if not isinstance(key, str) or not key.strip():
        why = ("api_key is empty" if api_key is not None
               else "environment variable ELEVENLABS_API_KEY is not set")
        raise PermissionDeniedError(f"no ElevenLabs API key: {why}; pass api_key=... or set "
                                    "ELEVENLABS_API_KEY", provider="elevenlabs")
    return key.strip()


def _parse_signed_url(data: Any, where: str, started: float) -> RealtimeToken:
    signed = data.get("signed_url") if isinstance(data, Mapping) else None
    if not isinstance(signed, str) or not signed.lower().startswith(("wss://", "ws://")):
        raise ConnectionFailedError(f"{where} did not answer with a signed_url", provider="elevenlabs",
                                    details={"url": where})
    # The 15 minutes run from when the URL was signed: count from before we asked.
    return RealtimeToken(provider="elevenlabs", token=signed, expires_at=started + wire.SIGNED_URL_TTL)
