"""Azure OpenAI credentials: minted client secrets, Entra ID tokens and resource keys.

Public as :func:`realtime_client.tokens.azure_openai_realtime_token`,
:func:`~realtime_client.tokens.azure_entra_token` and
:func:`~realtime_client.tokens.azure_openai_api_key_token`.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import requests

from ..._errors import ConnectionFailedError, PermissionDeniedError
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

__all__ = ["azure_entra_token", "azure_openai_api_key_token", "azure_openai_realtime_token"]

#: Entra tokens whose expiry cannot be read are assumed to last this long (they last about an hour)
_UNKNOWN_ENTRA_TTL = 300.0


def azure_openai_realtime_token(
    *,
    endpoint: Optional[str] = None,
    deployment: Optional[str] = None,
    api_key: Optional[str] = None,
    model: Optional[str] = None,
    session_config: Optional[Mapping[str, Any]] = None,
    expires_after: Optional[int] = None,
    azure_ad_token_provider: Optional[Callable[[], str]] = None,
    timeout: float = 10.0,
    http: Optional[requests.Session] = None,
) -> TokenSource:
    """A token source that mints Azure OpenAI realtime client secrets.

    Each call sends ``POST {endpoint}/openai/v1/realtime/client_secrets`` with
    ``{"session": {"type": "realtime", "model": deployment, **session_config}}`` (and
    ``expires_after`` when given), authenticated by the ``api-key`` header or, with
    ``azure_ad_token_provider``, by ``Authorization: Bearer <Entra ID token>``, and returns a
    ``RealtimeToken(provider="azure")`` holding the secret (``value``). Keep keys on servers.

    Args:
        endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        deployment: the realtime model deployment the secret is for.
        api_key: the resource key; default ``AZURE_OPENAI_API_KEY`` (read on every call).
        model: another name for ``deployment``.
        session_config: more GA session fields baked into the secret.
        expires_after: lifetime in seconds (10 to 7200), sent as ``{"anchor": "created_at",
            "seconds": N}``; default: not sent (Azure's default applies; **UNCONFIRMED** that
            Azure honours it, so it is only sent when asked for).
        azure_ad_token_provider: a callable returning an Entra ID access token (e.g.
            ``azure.identity.get_bearer_token_provider(credential, scope)``), used instead of a key.
        timeout: seconds allowed for connecting and for the answer.
        http: a ``requests.Session`` to use.

    Returns:
        A :class:`TokenSource`.

    Raises:
        PermissionDeniedError: no key and no token provider (at once).
        ValueError: no endpoint or deployment, a bad ``expires_after`` or ``timeout``.

    Threads: the source may be called from any thread.

    .. versionadded:: 0.3.0
    """
    name = deployment or model
    if deployment is not None and model is not None and deployment != model:
        raise ValueError(f"deployment={deployment!r} and model={model!r} disagree; give one of them")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("deployment must name your realtime model deployment")
    if expires_after is not None and (isinstance(expires_after, bool) or not isinstance(expires_after, int)
                                      or not 10 <= expires_after <= 7200):
        raise ValueError(f"expires_after must be an int between 10 and 7200 seconds, got {expires_after!r}")
    if azure_ad_token_provider is not None and not callable(azure_ad_token_provider):
        raise TypeError("azure_ad_token_provider must be a callable returning an Entra ID token")
    url = endpoint_http_url(endpoint, wire.CLIENT_SECRETS_PATH)
    seconds = _check_timeout(timeout)
    if azure_ad_token_provider is None:
        _resolve_key(api_key)  # fail fast when no key is configured
    body: dict = {"session": {"type": "realtime", "model": name, **dict(session_config or {})}}
    if expires_after is not None:
        body["expires_after"] = {"anchor": "created_at", "seconds": expires_after}

    def fetch() -> RealtimeToken:
        if azure_ad_token_provider is not None:
            secret = _entra_string(azure_ad_token_provider())
            headers = {"Authorization": f"Bearer {secret}"}
        else:
            secret = _resolve_key(api_key)
            headers = {wire.API_KEY_HEADER: secret}
        headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        data = _request_json(_Request(url, "POST", headers, body, seconds, http, (secret,), "azure"))
        return _client_secret_token(data, _safe_url(url), "azure", name)

    return TokenSource(fetch, url=url)


def azure_openai_api_key_token(api_key: Optional[str] = None) -> Callable[[], RealtimeToken]:
    """A token source handing out an Azure OpenAI resource key (sent in the ``api-key`` header).

    The token never expires, so the client does not refresh it. Use it on servers and in
    trusted scripts only.

    Args:
        api_key: the key; default the ``AZURE_OPENAI_API_KEY`` environment variable (read on
            every call).

    Raises:
        PermissionDeniedError: no key is configured (at once, and on a call after it is unset).

    .. versionadded:: 0.3.0
    """
    _resolve_key(api_key)
    return _KeySource(api_key)


class _KeySource:
    def __init__(self, api_key: Optional[str]) -> None:
        self._api_key = api_key

    def __call__(self) -> RealtimeToken:
        return RealtimeToken(provider="azure", token=_resolve_key(self._api_key))

    def __repr__(self) -> str:
        return "azure_openai_api_key_token(<redacted>)"


class EntraTokenSource:
    """A token source returning Entra ID access tokens for Azure OpenAI (built by
    :func:`azure_entra_token`); ``repr`` shows the scope only.

    Threads: may be called from any thread (the credential's own thread-safety applies).
    """

    def __init__(self, credential: Any, scope: str) -> None:
        self._credential = credential
        self.scope = scope

    def __call__(self) -> RealtimeToken:
        get_token = getattr(self._credential, "get_token", None)
        try:
            if callable(get_token):  # an azure-identity credential: AccessToken(token, expires_on)
                access = get_token(self.scope)
                secret = _entra_string(getattr(access, "token", None))
                expires_on = getattr(access, "expires_on", None)
                expires_at = float(expires_on) if isinstance(expires_on, (int, float)) else None
            else:
                secret = _entra_string(self._credential())
                expires_at = None
        except PermissionDeniedError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(f"the Entra ID credential failed: {type(exc).__name__}",
                                        provider="azure") from exc
        if expires_at is None or not expires_at > 0:
            expires_at = _jwt_expiry(secret) or time.time() + _UNKNOWN_ENTRA_TTL
        return RealtimeToken(provider="azure", token=secret, expires_at=expires_at)

    def __repr__(self) -> str:
        return f"EntraTokenSource(scope={self.scope!r})"


def azure_entra_token(credential: Union[Callable[[], str], Any], *,
                      scope: str = wire.ENTRA_SCOPE) -> EntraTokenSource:
    """A token source of Entra ID (Azure AD) access tokens, sent as ``Authorization: Bearer``.

    Args:
        credential: an ``azure-identity`` credential (anything with ``get_token(scope)``
            returning an access token with ``token`` and ``expires_on``), or a callable returning
            the token string (``azure.identity.get_bearer_token_provider(credential, scope)``).
        scope: the scope asked for; default ``https://cognitiveservices.azure.com/.default``.

    Returns:
        A callable for ``RealtimeClient(get_token=...)``. Each token's ``expires_at`` is the
        credential's ``expires_on``, else the JWT's ``exp``, else five minutes from now, so the
        client refreshes it before it lapses.

    Example::

        from azure.identity import DefaultAzureCredential
        get_token = azure_entra_token(DefaultAzureCredential())

    .. versionadded:: 0.3.0
    """
    if not callable(credential) and not callable(getattr(credential, "get_token", None)):
        raise TypeError("credential must be an azure-identity credential or a callable returning a token")
    if not isinstance(scope, str) or not scope:
        raise ValueError("scope must be a non-empty string")
    return EntraTokenSource(credential, scope)


def endpoint_http_url(endpoint: Optional[str], path: str) -> str:
    """``path`` on the resource ``endpoint`` (default ``AZURE_OPENAI_ENDPOINT``), https only
    (http for loopback hosts, for tests).

    Raises:
        ValueError: no endpoint, or not an http(s) URL.
    """
    text = endpoint if endpoint is not None else os.environ.get(wire.ENDPOINT_ENV, "")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("endpoint is required (https://<resource>.openai.azure.com), "
                         f"or set {wire.ENDPOINT_ENV}")
    text = text.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    _check_url(url, "endpoint", https_only=True)
    return url


def _resolve_key(api_key: Optional[str]) -> str:
    key = api_key if api_key is not None else os.environ.get(wire.KEY_ENV, "")
    if not isinstance(key, str) or not key.strip():
        why = "api_key is empty" if api_key is not None else f"environment variable {wire.KEY_ENV} is not set"
        raise PermissionDeniedError(f"no Azure OpenAI key: {why}; pass api_key=... or set {wire.KEY_ENV} "
                                    "(or use an Entra ID token)", provider="azure")
    return key.strip()


def _entra_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PermissionDeniedError("the Entra ID token provider returned no token", provider="azure")
    return value.strip()


def _jwt_expiry(token: str) -> Optional[float]:
    """The ``exp`` claim of a JWT (read, not verified: it only schedules the refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp > 0 else None
