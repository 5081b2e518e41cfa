"""Plain HTTP requests on the fake server's port: a provider's REST endpoints (``client_secrets``).

``websockets`` only parses ``GET`` upgrade requests, and providers mint tokens with ``POST`` (or a
plain ``GET``, ElevenLabs). :func:`http_aware_connection` stands in for ``websockets``' connection
class: it reads the head of each new connection, hands a WebSocket upgrade (``GET`` with
``Upgrade: websocket``) to ``websockets`` with those bytes put back, and answers anything else
itself through a handler that returns an :class:`~._peer.HttpRefusal` (a status and a JSON body,
whatever the status). Providers opt in with ``PeerFactory.http``.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import attrs
from websockets.sync.server import ServerConnection

from ._peer import HttpRefusal

__all__ = ["HttpRequest", "http_aware_connection", "json_body", "not_found"]

_log = logging.getLogger("realtime_client")
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}
_HIDDEN = ("authorization", "api-key", "x-api-key", "xi-api-key", "x-goog-api-key", "cookie")


@attrs.frozen
class HttpRequest:
    """One plain HTTP request to the fake server (not a WebSocket upgrade).

    Attributes:
        method: ``POST``, ``GET``, ...
        path: the path without the query string.
        query: each query parameter's first value.
        headers: ``(name, value)`` pairs in order.
        body: the raw body.
    """

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Tuple[Tuple[str, str], ...] = ()
    body: bytes = attrs.field(default=b"", repr=lambda b: f"<{len(b)} bytes>")

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def redacted(self) -> HttpRequest:
        """A copy whose credential headers read ``<redacted>`` (what the server records)."""
        headers = tuple((k, "<redacted>" if k.lower() in _HIDDEN else v) for k, v in self.headers)
        return attrs.evolve(self, headers=headers)


def not_found(request: HttpRequest) -> HttpRefusal:
    """A generic 404 for a route the provider does not serve."""
    return HttpRefusal(404, {"error": {"message": f"Invalid URL ({request.method} {request.path})",
                                       "type": "invalid_request_error", "code": "not_found"}})


class _Prefetched:
    """A socket whose first ``recv`` calls return bytes read ahead (the upgrade request's start)."""

    def __init__(self, sock: socket.socket, head: bytes) -> None:
        self._sock = sock
        self._head = head

    def recv(self, bufsize: int, *args: Any) -> bytes:
        if self._head:
            data, self._head = self._head[:bufsize], self._head[bufsize:]
            return data
        return self._sock.recv(bufsize, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Answered(Exception):
    """A plain HTTP request was answered; websockets then closes the socket."""


def http_aware_connection(handle: Callable[[HttpRequest], HttpRefusal]) -> Callable[..., ServerConnection]:
    """A ``create_connection`` for ``websockets.sync.server.serve`` that answers plain HTTP
    requests with ``handle`` and passes WebSocket upgrades on."""

    def create(sock: socket.socket, protocol: Any, **kwargs: Any) -> ServerConnection:
        head = _read_until(sock, lambda data: len(data) >= 4 or b"\r\n" in data)
        if head.startswith(b"GET "):
            # a GET is an upgrade only with ``Upgrade: websocket``; a plain GET (ElevenLabs'
            # get-signed-url) is the provider's to answer, like any other method
            head = _read_until(sock, lambda data: b"\r\n\r\n" in data, head)
            if _is_upgrade(head):
                return ServerConnection(_Prefetched(sock, head), protocol, **kwargs)  # type: ignore[arg-type]
        _answer(sock, head, handle)
        raise _Answered()

    return create


def _is_upgrade(head: bytes) -> bool:
    """The request head asks for a WebSocket (``Upgrade: websocket``, any case); a head cut
    short is handed to ``websockets`` too, whose parser then answers it."""
    top, complete, _ = head.partition(b"\r\n\r\n")
    if not complete:
        return True
    for line in top.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.strip().lower():
            return True
    return False


def _read_until(sock: socket.socket, done: Callable[[bytes], bool], data: bytes = b"",
                limit: int = _MAX_HEAD) -> bytes:
    sock.settimeout(_READ_TIMEOUT)
    try:
        while not done(data):
            chunk = sock.recv(16384)
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                break
    finally:
        sock.settimeout(None)
    return data


def _answer(sock: socket.socket, head: bytes, handle: Callable[[HttpRequest], HttpRefusal]) -> None:
    try:
        data = _read_until(sock, lambda d: b"\r\n\r\n" in d, head)
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        pairs = (line.partition(":") for line in lines[1:] if line)
        headers = tuple((k.strip(), v.strip()) for k, _, v in pairs)
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
        if length > _MAX_BODY:
            response = HttpRefusal(413, {"error": {"message": "Request too large.",
                                                   "type": "invalid_request_error"}})
        else:
            body = _read_until(sock, lambda d: len(d) >= length, rest, _MAX_BODY)[:length]
            parts = urlsplit(target)
            query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
            request = HttpRequest(method.upper(), parts.path, query, headers, body)
            response = handle(request)
    except (ValueError, OSError) as exc:
        response = HttpRefusal(400, {"error": {"message": f"Malformed HTTP request ({type(exc).__name__}).",
                                               "type": "invalid_request_error"}})
    except Exception:
        _log.exception("fake realtime server: HTTP handler failed")
        response = HttpRefusal(500, {"error": {"message": "The server had an error.",
                                               "type": "server_error"}})
    payload = (json.dumps(dict(response.body)) + "\n").encode()
    status = response.status
    lines_out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: application/json",
                 f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    try:
        sock.sendall("\r\n".join(lines_out).encode("latin-1") + payload)
    except OSError:
        pass


def json_body(request: HttpRequest) -> Optional[Dict[str, Any]]:
    """The request body as a JSON object, or None."""
    data = request.json()
    return data if isinstance(data, dict) else None
