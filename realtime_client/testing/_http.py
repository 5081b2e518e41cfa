"""Plain HTTP on the fake server's WebSocket port: a provider's REST routes beside its socket.

Official SDKs point one ``base_url`` at both a provider's REST API (e.g. Gemini's
``POST /v1alpha/auth_tokens``) and its WebSocket endpoint, so the fake serves both on one port.
``websockets`` only parses ``GET`` upgrade requests, so :func:`front_connection` builds the
``ServerConnection`` class the server is created with: it reads each request head itself, answers
plain HTTP requests through a handler and closes them, and hands upgrade requests to
``websockets`` with the bytes it read replayed first.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Callable, Dict, Optional, Tuple, Type
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection

from ._peer import HttpReply, HttpRequest

__all__ = ["HttpHandler", "front_connection"]

_log = logging.getLogger("realtime_client")

HttpHandler = Callable[[HttpRequest], HttpReply]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}


class _Answered(Exception):
    """The request was plain HTTP and has been answered; websockets closes the socket."""


class _Replay:
    """A socket whose first ``recv`` calls return bytes already read from it."""

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        self._sock = sock
        self._data = data

    def recv(self, size: int, *args: Any) -> bytes:
        if self._data:
            out, self._data = self._data[:size], self._data[size:]
            return out
        return self._sock.recv(size, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _read_head(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < _MAX_HEAD:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.settimeout(None)
    return data


def _parse(head: bytes) -> Tuple[str, str, Dict[str, str], Tuple[Tuple[str, str], ...], bytes]:
    text, _, rest = head.partition(b"\r\n\r\n")
    lines = text.decode("latin-1").split("\r\n")
    method, target = ([*lines[0].split(" "), "", ""])[:2]
    headers = tuple((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line))
    parts = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
    return method.upper(), parts.path, query, headers, rest


def _send(sock: socket.socket, reply: HttpReply) -> None:
    body = json.dumps(reply.body).encode("utf-8")
    head = (f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}\r\n"
            "Content-Type: application/json; charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode("latin-1") + body)


def front_connection(handler: Optional[HttpHandler], timeout: float = 10.0) -> Type[ServerConnection]:
    """A ``ServerConnection`` class that answers plain HTTP with ``handler`` (404 without one)."""

    class FrontConnection(ServerConnection):
        def __init__(self, sock: socket.socket, protocol: Any, **kwargs: Any) -> None:
            head = _read_head(sock, timeout)
            method, path, query, headers, rest = _parse(head)
            upgrade = any(k.lower() == "upgrade" and v.lower() == "websocket" for k, v in headers)
            if (method == "GET" and upgrade) or b"\r\n\r\n" not in head:
                super().__init__(_Replay(sock, head), protocol, **kwargs)  # type: ignore[arg-type]
                return
            length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            try:
                size = int(length)
            except ValueError:
                size = -1
            if not 0 <= size <= _MAX_BODY:
                _send(sock, HttpReply(413 if size > 0 else 400, {"error": {"message": "bad Content-Length"}}))
                raise _Answered()
            body = rest
            sock.settimeout(timeout)
            try:
                while len(body) < size:
                    chunk = sock.recv(min(65536, size - len(body)))
                    if not chunk:
                        break
                    body += chunk
            finally:
                sock.settimeout(None)
            request = HttpRequest(method, path, query, headers, body[:size])
            try:
                reply = handler(request) if handler is not None else None
            except Exception:
                _log.exception("fake realtime server: the HTTP handler failed")
                reply = HttpReply(500, {"error": {"code": 500, "message": "internal error"}})
            if reply is None:
                reply = HttpReply(404, {"error": {"code": 404, "message": f"{method} {path} not found",
                                                  "status": "NOT_FOUND"}})
            _send(sock, reply)
            raise _Answered()

    return FrontConnection
