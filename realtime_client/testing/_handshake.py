"""The fake server's handshake: minted tokens, forced refusals and the credential check.

:class:`Gatekeeper` decides whether an upgrade request may open a connection; the provider's
:class:`~._peer.PeerFactory` says where the credential sits and how a refusal is worded. The
helpers convert between ``websockets`` request/response objects and the neutral values in
``_peer.py``, and a logging filter keeps credentials out of websockets' debug logs.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
import threading
import time
from typing import Any, Deque, Dict, Optional
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection

from .._models import RealtimeToken
from ._peer import (
    EXPIRED_TOKEN,
    INVALID_CREDENTIALS,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    REJECTED,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerFactory,
)

__all__ = ["Gatekeeper", "RedactCredentials", "handshake_request", "public_headers", "respond"]

#: header names never copied into :attr:`FakeConnection.headers`
_HIDDEN_HEADERS = ("authorization", "sec-websocket-protocol", "sec-websocket-key", "api-key",
                   "x-goog-api-key", "xi-api-key")


class Gatekeeper:
    """Tokens minted by the server, refusals queued by tests, and the check of each request.

    Args:
        factory: the provider (credential location, refusal bodies, token shape).
        api_key: if set, only this key or a minted, unexpired token is accepted; otherwise
            any non-empty credential is.

    Threads: any thread.
    """

    def __init__(self, factory: PeerFactory, api_key: Optional[str]) -> None:
        self._factory = factory
        self.api_key = api_key
        self._lock = threading.Lock()
        self._tokens: Dict[str, float] = {}
        self._rejects: Deque[int] = collections.deque()

    def mint(self, ttl: float, model: str) -> RealtimeToken:
        """A fresh token accepted for ``ttl`` seconds."""
        expires_at = time.time() + ttl
        token = self._factory.token(secrets.token_urlsafe(18), expires_at, model)
        with self._lock:
            self._tokens[token.token] = expires_at
        return token

    def reject_next(self, count: int, status: int) -> None:
        """Refuse the next ``count`` handshakes with HTTP ``status``."""
        with self._lock:
            self._rejects.extend([int(status)] * count)

    def check(self, request: HandshakeRequest) -> Optional[HttpRefusal]:
        """The refusal for ``request``, or None to accept it."""
        factory = self._factory
        if not factory.accepts_path(request.path):
            return factory.refusal(404, NOT_FOUND, request)
        with self._lock:
            status = self._rejects.popleft() if self._rejects else None
        if status is not None:
            return factory.refusal(status, SERVER_ERROR if status >= 500 else REJECTED, request)
        problem = self._credential_problem(factory.credential(request))
        return None if problem is None else factory.refusal(401, problem, request)

    def credential_problem(self, credential: Optional[str]) -> Optional[str]:
        """Why ``credential`` is refused (one of ``_peer``'s problem constants), or None."""
        return self._credential_problem(credential)

    def _credential_problem(self, credential: Optional[str]) -> Optional[str]:
        if not credential:
            return MISSING_CREDENTIALS
        with self._lock:
            expires_at = self._tokens.get(credential)
        if expires_at is not None:
            return None if expires_at > time.time() else EXPIRED_TOKEN
        if self.api_key is None or secrets.compare_digest(credential, self.api_key):
            return None
        return INVALID_CREDENTIALS


def handshake_request(request: Any) -> HandshakeRequest:
    """The neutral view of a ``websockets`` upgrade request."""
    parts = urlsplit(request.path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
    offered = tuple(p.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol")
                    for p in value.split(",") if p.strip())
    return HandshakeRequest(path=parts.path, target=request.path, query=query,
                            headers=tuple(request.headers.raw_items()), subprotocols=offered)


def public_headers(request: HandshakeRequest) -> Dict[str, str]:
    """The request headers without credentials or handshake keys."""
    return {k: v for k, v in request.headers if k.lower() not in _HIDDEN_HEADERS}


def respond(connection: ServerConnection, refusal: HttpRefusal) -> Any:
    """A ``websockets`` HTTP response carrying ``refusal`` as JSON."""
    response = connection.respond(refusal.status, json.dumps(dict(refusal.body)) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class RedactCredentials(logging.Filter):
    """websockets logs request headers at DEBUG: blank out credentials before they are emitted.

    It also drops the EOF tracebacks that deliberate socket aborts (fault injection) cause.
    """

    _MARKERS = ("authorization", "insecure-api-key", "api-key", "xi-api-key")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, EOFError):
            # drop() aborts sockets on purpose; websockets calls the EOF it then meets an
            # "unexpected internal error". It is expected here: keep it out of sight.
            return False
        message = record.getMessage()
        if any(marker in message.lower() for marker in self._MARKERS):
            head = message.split(":", 1)[0] if ":" in message else message[:20]
            record.msg, record.args = f"{head}: <redacted>", None
        return True
