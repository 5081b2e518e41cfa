"""Minting Gemini Live ephemeral tokens (``POST /v1alpha/auth_tokens``), or passing an API key.

Public as :func:`realtime_client.tokens.gemini_realtime_token`.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import requests

from ..._errors import ConnectionFailedError, PermissionDeniedError
from ..._models import RealtimeToken, SessionConfig, check_expiry
from ...tokens import TokenSource, _check_timeout, _check_url, _Request, _request_json, _safe_url
from . import _wire as wire
from ._setup import model_name

__all__ = ["gemini_realtime_token"]

_ENV_KEYS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # google-genai's order: GOOGLE_API_KEY wins


def gemini_realtime_token(
    model: str = wire.DEFAULT_MODEL,
    *,
    api_key: Optional[str] = None,
    uses: int = 1,
    expire_minutes: float = 30,
    expires_after: Optional[float] = None,
    new_session_expire_seconds: float = 60,
    session_config: Union[SessionConfig, Mapping[str, Any], None] = None,
    constraints: Optional[Mapping[str, Any]] = None,
    lock_additional_fields: Optional[Sequence[str]] = (),
    ephemeral: bool = True,
    base_url: str = wire.REST_BASE,
    timeout: float = 10.0,
    http: Optional[requests.Session] = None,
) -> TokenSource:
    """A token source for Gemini Live: ephemeral ``auth_tokens`` minted with an API key.

    Each call sends ``POST {base_url}/v1alpha/auth_tokens`` (header ``x-goog-api-key``) with
    ``uses``, ``expireTime``, ``newSessionExpireTime`` and the live-connect constraints
    (``bidiGenerateContentSetup``: the model, plus what ``session_config``/``constraints`` set)
    and returns ``RealtimeToken(provider="gemini")`` holding ``auth_tokens/...``. The client
    then connects on ``BidiGenerateContentConstrained`` with ``Authorization: Token ...``.
    Keep API keys on servers; ship :func:`~realtime_client.tokens.fetch_token` in apps (a
    TanStack route answering ``{"provider": "gemini", "token": ..., "expiresAt": ...}`` works).

    Args:
        model: the model the token is for (locked in the constraints).
        api_key: the API key; default ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (read on every
            call, so a rotated key is picked up).
        uses: sessions the token may start (0: unlimited; resuming a session uses none).
        expire_minutes: after this, messages on sessions using the token are refused (server
            default 30; at most 20 h).
        expires_after: the same lifetime in seconds, as the other providers' minting functions
            (and ``realtime-client token --expires-after``) take it; wins over ``expire_minutes``.
        new_session_expire_seconds: new sessions are refused after this (server default 60 s).
        session_config: settings to lock into the token: ``instructions``, ``voice``,
            ``temperature``, ``max_output_tokens``, ``output_modalities`` (a
            :class:`SessionConfig` or a dict for :meth:`SessionConfig.from_dict`).
        constraints: more ``BidiGenerateContentSetup`` fields (camelCase), merged last.
        lock_additional_fields: ``()`` (default) locks only the constrained fields, so the
            client's own setup (transcription, resumption, tools) still applies; a list of
            field paths locks those too; ``None`` locks the *whole* setup (the server then
            ignores everything the client sends in ``setup``).
        ephemeral: ``False`` returns the API key itself as the token, for trusted server-side
            scripts (sent as ``x-goog-api-key``); no request is made.
        base_url: the API origin; plain ``http`` only for localhost.
        timeout: seconds allowed for connecting and for the answer.
        http: a ``requests.Session`` to use.

    Returns:
        A :class:`~realtime_client.tokens.TokenSource`.

    Raises:
        PermissionDeniedError: no ``api_key`` and neither environment variable is set (at once).
        ValueError: an option out of range, a bad ``base_url`` or ``timeout``.

    Threads: the source may be called from any thread.

    .. versionadded:: 0.2.0
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError("model must be a non-empty string")
    if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
        raise ValueError(f"uses must be an int >= 0 (0: unlimited), got {uses!r}")
    if expires_after is not None:
        expire_minutes = _positive(expires_after, "expires_after", 20 * 3600) / 60.0
    expire = _positive(expire_minutes, "expire_minutes", 20 * 60)
    new_session = _positive(new_session_expire_seconds, "new_session_expire_seconds", expire * 60)
    if lock_additional_fields is not None and (isinstance(lock_additional_fields, str) or not all(
            isinstance(f, str) and f for f in lock_additional_fields)):
        raise TypeError("lock_additional_fields must be a list of field paths, () or None")
    _check_url(base_url, "base_url", https_only=True)
    seconds = _check_timeout(timeout)
    _resolve_key(api_key)  # fail fast when no key is configured
    config = session_config if isinstance(session_config, SessionConfig) or session_config is None \
        else SessionConfig.from_dict(dict(session_config))
    setup = _constraints(model.strip(), config, constraints)
    url = base_url.rstrip("/") + wire.AUTH_TOKENS_PATH

    if not ephemeral:
        def fetch_key() -> RealtimeToken:
            return RealtimeToken(provider="gemini", token=_resolve_key(api_key),
                                 config=SessionConfig(model=model.strip()))
        return TokenSource(fetch_key, url=wire.REST_BASE)

    def fetch() -> RealtimeToken:
        key = _resolve_key(api_key)
        now = datetime.datetime.now(datetime.timezone.utc)
        body: Dict[str, Any] = {
            "uses": uses, "expireTime": _rfc3339(now + datetime.timedelta(minutes=expire)),
            "newSessionExpireTime": _rfc3339(now + datetime.timedelta(seconds=new_session)),
            "bidiGenerateContentSetup": setup}
        if lock_additional_fields is not None:
            paths = [*_field_paths(setup).split(","), *lock_additional_fields]
            body["fieldMask"] = ",".join(dict.fromkeys(p for p in paths if p))  # once each, in order
        headers = {"x-goog-api-key": key, "Content-Type": "application/json", "Accept": "application/json"}
        data = _request_json(_Request(url, "POST", headers, body, seconds, http, (key,), "gemini"))
        fallback = (now + datetime.timedelta(minutes=expire)).timestamp()
        return _parse_auth_token(data, _safe_url(url), model.strip(), fallback)

    return TokenSource(fetch, url=url)


def _positive(value: Any, what: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= limit:
        raise ValueError(f"{what} must be a number in (0, {limit:g}], got {value!r}")
    return float(value)


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _constraints(model: str, config: Optional[SessionConfig],
                 extra: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    from .._common import deep_merge

    setup: Dict[str, Any] = {"model": model_name(model)}
    if config is not None:
        generation: Dict[str, Any] = {}
        if config.output_modalities:
            generation["responseModalities"] = ["TEXT" if config.output_modalities == ("text",) else "AUDIO"]
        if config.voice is not None:
            generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": config.voice}}}
        if config.temperature is not None:
            generation["temperature"] = config.temperature
        if isinstance(config.max_output_tokens, int):
            generation["maxOutputTokens"] = config.max_output_tokens
        if generation:
            setup["generationConfig"] = generation
        if config.instructions is not None:
            setup["systemInstruction"] = {"parts": [{"text": config.instructions}]}
    return deep_merge(setup, extra) if extra else setup


def _field_paths(setup: Mapping[str, Any]) -> str:
    """The constrained fields as a field mask: one level deep, as google-genai computes it."""
    paths: List[str] = []
    for key, value in setup.items():
        if isinstance(value, Mapping) and value:
            paths.extend(f"{key}.{sub}" for sub in value)
        else:
            paths.append(key)
    return ",".join(paths)


def _resolve_key(api_key: Optional[str]) -> str:
    key = api_key
    if key is None:
        key = next((os.environ[k] for k in _ENV_KEYS if os.environ.get(k, "").strip()), "")
    if not isinstance(key, str) or not key.strip():
        why = "api_key is empty" if api_key is not None else "GOOGLE_API_KEY and GEMINI_API_KEY are not set"
        raise PermissionDeniedError(f"no Gemini API key: {why}; pass api_key=... or set GEMINI_API_KEY",
                                    provider="gemini")
    return key.strip()


def _parse_time(value: Any) -> Optional[float]:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # fractions of any length: datetime takes at most 6 digits
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _parse_auth_token(data: Any, where: str, model: str, fallback_expiry: float) -> RealtimeToken:
    def bad(what: str) -> ConnectionFailedError:
        return ConnectionFailedError(f"{where} sent an unexpected auth token reply: {what}",
                                     provider="gemini", details={"url": where})

    if not isinstance(data, Mapping):
        raise bad(f"expected a JSON object, got {type(data).__name__}")
    name = data.get("name")
    if not isinstance(name, str) or not name.startswith(wire.EPHEMERAL_PREFIX):
        raise bad(f"no 'name' string starting {wire.EPHEMERAL_PREFIX!r}")
    expires = _parse_time(data.get("expireTime"))
    try:
        expires_at = check_expiry(expires if expires is not None else fallback_expiry, "'expireTime'")
    except ValueError as exc:
        raise bad(str(exc)) from exc
    return RealtimeToken(provider="gemini", token=name, expires_at=expires_at,
                         config=SessionConfig(model=model))
