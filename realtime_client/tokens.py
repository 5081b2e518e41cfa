"""Token sources: callables that return a fresh :class:`~realtime_client.RealtimeToken`.

Pass one as ``RealtimeClient(get_token=...)``. Two kinds:

- :func:`fetch_token` asks *your* server's token endpoint (for example a TanStack Start route)
  for a token; the app never sees a provider API key. Use this in apps you ship.
- :func:`openai_realtime_token`, :func:`grok_realtime_token` and
  :func:`azure_openai_realtime_token` mint an ephemeral client secret themselves, with an API
  key (Azure: or an Entra ID token), and :func:`elevenlabs_realtime_token` a signed ElevenLabs
  conversation URL. Use these on servers and in trusted scripts.
  :func:`azure_entra_token` and :func:`azure_openai_api_key_token` hand Azure an Entra ID
  token or a resource key directly. :func:`gemini_realtime_token` mints a Gemini Live
  ``auth_tokens/...`` token (or passes the API key).

Neither ever puts a token, an API key or an ``Authorization`` header into a log record,
a ``repr`` or an exception message.

Example::

    from realtime_client.tokens import fetch_token
    get_token = fetch_token("http://localhost:3000/api/realtime-token")
    token = get_token()  # POSTs {} and parses the JSON reply

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import json as _json
import re
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

import attrs
import requests

from ._errors import ConnectionFailedError, PermissionDeniedError
from ._models import RealtimeToken, SessionConfig, check_expiry
from ._util import is_loopback_host

__all__ = ["TokenSource", "azure_entra_token", "azure_openai_api_key_token", "azure_openai_realtime_token",
           "elevenlabs_realtime_token", "fetch_token", "gemini_realtime_token", "grok_realtime_token",
           "openai_realtime_token"]

# Each provider mints its tokens next to its protocol; this module is their public home.

_MAX_BODY = 1 << 20  # a token reply is tiny; refuse to buffer more than this
_EXCERPT = 200
_SECRET_HEADERS = ("authorization", "cookie", "x-api-key", "api-key", "proxy-authorization")
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;]+"), "Bearer <redacted>"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-*]+"), "sk-<redacted>"),
    (re.compile(r"\bek_[A-Za-z0-9_\-*]+"), "ek_<redacted>"),
    (re.compile(r"\bxai-[A-Za-z0-9_\-*]+"), "xai-<redacted>"),
    (re.compile(r"(?i)(\"(?:token|value|client_secret|secret|api_?key|key|authorization|access_token)\""
                r"\s*:\s*)\"[^\"]*\""), r'\1"<redacted>"'),
    (re.compile(r"[A-Za-z0-9_\-+=]{32,}"), "<redacted>"),  # long opaque strings: keys, JWT parts
)


def _redact(text: str, secrets: Sequence[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_url(url: str, what: str, *, https_only: bool = False) -> None:
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a string URL, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL, got {_safe_url(url)!r}")
    if https_only and parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"{what} must use https (plain http is allowed only for localhost), "
                         f"got {_safe_url(url)!r}")


class TokenSource:
    """A callable returning a fresh :class:`~realtime_client.RealtimeToken` on each call.

    Built by :func:`fetch_token` and :func:`openai_realtime_token`. ``repr`` shows only the
    endpoint URL (without any query string or credentials).

    Threads: safe to call from any thread, also concurrently; each call blocks for at most
    about the source's ``timeout`` per network step.
    """

    def __init__(self, fetch: Callable[[], RealtimeToken], *, url: str) -> None:
        self._fetch = fetch
        self._url = _safe_url(url)

    @property
    def url(self) -> str:
        """The endpoint, without query string or credentials."""
        return self._url

    def __call__(self) -> RealtimeToken:
        """Fetch a new token.

        Raises:
            ConnectionFailedError: the endpoint could not be reached, timed out, failed or sent
                something that is not a token.
            PermissionDeniedError: the endpoint answered 401/403, or no API key is configured.
        """
        return self._fetch()

    def __repr__(self) -> str:
        return f"TokenSource(url={self._url!r})"


@attrs.frozen
class _Request:
    """One HTTP exchange; ``secrets`` are scrubbed from anything that may be shown."""

    url: str
    method: str
    headers: Dict[str, str] = attrs.field(repr=False)
    body: Any = attrs.field(repr=False)
    timeout: float
    session: Optional[requests.Session] = attrs.field(repr=False)
    secrets: Sequence[str] = attrs.field(repr=False, default=())
    provider: Optional[str] = None


def _request_json(req: _Request) -> Any:
    """Send ``req`` and return its parsed JSON body, translating every failure."""
    where = _safe_url(req.url)
    info: Dict[str, Any] = {"provider": req.provider, "details": {"url": where}}
    kwargs: Dict[str, Any] = {"headers": req.headers, "timeout": (req.timeout, req.timeout),
                              "stream": True, "allow_redirects": True}
    if req.body is not None:
        kwargs["json"] = req.body
    deadline = time.monotonic() + req.timeout
    try:
        sender = req.session if req.session is not None else requests
        response = sender.request(req.method, req.url, **kwargs)
    except requests.Timeout as exc:
        raise ConnectionFailedError(f"token request to {where} timed out after {req.timeout:g} s",
                                    **info) from exc
    except requests.RequestException as exc:
        reason = _redact(_reason(exc), req.secrets)[:_EXCERPT]
        raise ConnectionFailedError(f"could not reach token endpoint {where}: {reason}", **info) from exc
    with response:
        body = _read_body(response, deadline, req.timeout, info)
    status = response.status_code
    if status in (401, 403):
        excerpt = _excerpt(body, req.secrets)
        raise PermissionDeniedError(f"token endpoint {where} refused the request (HTTP {status})"
                                    + (f": {excerpt}" if excerpt else ""),
                                    provider=req.provider, details={"url": where, "status": status})
    if not 200 <= status < 300:
        excerpt = _excerpt(body, req.secrets)
        raise ConnectionFailedError(f"token endpoint {where} answered HTTP {status}"
                                    + (f": {excerpt}" if excerpt else ""),
                                    provider=req.provider, details={"url": where, "status": status})
    try:
        return _json.loads(body.decode(response.encoding or "utf-8"))
    except (UnicodeDecodeError, LookupError, ValueError):
        # A success body may be the secret itself, so say what it was, never what it said.
        kind = response.headers.get("Content-Type", "no content type")
        raise ConnectionFailedError(f"token endpoint {where} did not answer with JSON "
                                    f"({_redact(kind)[:80]}, {len(body)} bytes)",
                                    provider=req.provider, details={"url": where, "status": status}) from None


def _read_body(response: requests.Response, deadline: float, timeout: float, info: Dict[str, Any]) -> bytes:
    where = info["details"]["url"]
    chunks = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=16384):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_BODY:
                raise ConnectionFailedError(f"token endpoint {where} sent over {_MAX_BODY} bytes", **info)
            if time.monotonic() > deadline:
                raise ConnectionFailedError(f"token request to {where} timed out after {timeout:g} s", **info)
    except requests.RequestException as exc:
        if "timed out" in str(exc).lower() or isinstance(exc, requests.Timeout):
            raise ConnectionFailedError(f"token request to {where} timed out after {timeout:g} s",
                                        **info) from exc
        raise ConnectionFailedError(f"token endpoint {where} broke off its answer ({type(exc).__name__})",
                                    **info) from exc
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3's MaxRetryError, whose .reason is the useful part.
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _excerpt(body: bytes, secrets: Sequence[str]) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = _json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping):  # OpenAI-style {"error": {"message": ...}} or {"error": "..."}
        err = data.get("error")
        message = err.get("message") if isinstance(err, Mapping) else err
        if isinstance(message, str):
            text = message
    text = " ".join(_redact(text, secrets).split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def fetch_token(
    url: str,
    *,
    method: str = "POST",
    headers: Optional[Mapping[str, str]] = None,
    json: Any = None,
    timeout: float = 10.0,
    session: Optional[requests.Session] = None,
    provider: Optional[str] = None,
) -> TokenSource:
    """A token source that asks your token endpoint (e.g. a TanStack Start route) for a token.

    Each call sends ``method`` to ``url`` (with a JSON body, ``{}`` unless ``json`` is given,
    except for ``GET``) and parses the reply with :meth:`RealtimeToken.from_dict`: TanStack's
    ``{"provider", "token", "expiresAt" (ms), "config"}``, snake_case ``expires_at`` (seconds),
    or OpenAI's raw ``{"value", "expires_at", "session"}``.

    Args:
        url: the endpoint: ``https://``, or ``http://`` to this machine (localhost, 127.0.0.0/8, ``::1``).
        method: the HTTP method.
        headers: extra request headers (e.g. your app's own auth); never logged.
        json: the request body; default ``{}``.
        timeout: seconds allowed for connecting and for the answer.
        session: a ``requests.Session`` to reuse connections and cookies.
        provider: the provider to assume when the reply does not name one.

    Returns:
        A :class:`TokenSource`.

    Raises:
        ValueError: ``url`` is not an https URL (or http to this machine), or ``timeout`` is
            not positive (at once).

    Threads: the source may be called from any thread.

    .. versionadded:: 0.1.0
    """
    _check_url(url, "token endpoint url", https_only=True)  # a token must not cross a network in clear
    seconds = _check_timeout(timeout)
    verb = method.upper()
    req_headers = {"Accept": "application/json", **dict(headers or {})}
    body = None if verb in ("GET", "HEAD") else (json if json is not None else {})
    secrets = tuple(part for k, v in req_headers.items() if k.lower() in _SECRET_HEADERS
                    for part in (v, v.split()[-1] if v.split() else v))

    def fetch() -> RealtimeToken:
        data = _request_json(_Request(url, verb, req_headers, body, seconds, session, secrets))
        return _parse_token(data, _safe_url(url), provider)

    return TokenSource(fetch, url=url)


def _parse_token(data: Any, where: str, provider: Optional[str]) -> RealtimeToken:
    if isinstance(data, Mapping):
        data = dict(data)
        if provider and not data.get("provider"):
            data["provider"] = provider
        session = data.get("session")
        if "config" not in data and isinstance(session, Mapping) and isinstance(session.get("model"), str):
            data["config"] = {"model": session["model"]}  # OpenAI's raw client_secrets reply
    try:
        return RealtimeToken.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ConnectionFailedError(f"token endpoint {where} sent JSON that is not a token: {exc}",
                                    details={"url": where}) from exc


def _client_secret_token(data: Any, where: str, provider: str, model: Optional[str]) -> RealtimeToken:
    """A token from a ``client_secrets`` reply: top-level ``{"value", "expires_at"}`` (seconds),
    or the same nested under ``client_secret`` (older and third-party shapes); an ``expires_at``
    above 1e12 is read as milliseconds. Raises ConnectionFailedError naming what is wrong, never
    what the secret is."""
    def bad(what: str) -> ConnectionFailedError:
        return ConnectionFailedError(f"{where} sent an unexpected client secret reply: {what}",
                                     provider=provider, details={"url": where})

    if not isinstance(data, Mapping):
        raise bad(f"expected a JSON object, got {type(data).__name__}")
    source: Mapping[str, Any] = data
    nested = data.get("client_secret")
    if not isinstance(data.get("value"), str) and isinstance(nested, Mapping):
        source = nested
    value = source.get("value")
    if not isinstance(value, str) or not value:
        raise bad("no 'value' string")
    raw = source.get("expires_at", data.get("expires_at"))
    if raw is None:
        raise bad("no numeric 'expires_at'")
    try:
        expires_at = check_expiry(raw, "'expires_at'")
    except ValueError as exc:
        raise bad(str(exc)) from exc
    if expires_at > 1e12:  # milliseconds
        expires_at /= 1000.0
    session = data.get("session")
    minted_for = session.get("model") if isinstance(session, Mapping) else None
    config = SessionConfig(model=minted_for if isinstance(minted_for, str) else model)
    return RealtimeToken(provider=provider, token=value, expires_at=expires_at, config=config)


# Each provider mints next to its protocol (after the helpers above, which they use).
from .adapters._azure._token import (  # noqa: E402
    azure_entra_token,
    azure_openai_api_key_token,
    azure_openai_realtime_token,
)
from .adapters._elevenlabs._token import elevenlabs_realtime_token  # noqa: E402
from .adapters._gemini._token import gemini_realtime_token  # noqa: E402
from .adapters._grok._token import grok_realtime_token  # noqa: E402
from .adapters._openai._token import openai_realtime_token  # noqa: E402
