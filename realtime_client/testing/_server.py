"""FakeRealtimeServer: a protocol-faithful OpenAI Realtime (GA) server on loopback, for tests and demos.

Transport, threads and knobs live here; the protocol itself is in ``_session.py``.

Threads: ``realtime-fake-server`` accepts connections (``websockets.sync.server``); websockets runs
one handler thread per connection, which receives and handles client events; each connection has
a ``realtime-fake-sender-N`` thread that sends queued frames and streams active responses.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import secrets
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve

from .._errors import RealtimeError
from .._models import RealtimeToken, SessionConfig
from ._connection import SHUTDOWN_REASON, FakeConnection
from ._response import Reply
from ._session import DEFAULT_INSTRUCTIONS

__all__ = ["FakeRealtimeServer"]

_log = logging.getLogger("realtime_client")


class _RedactCredentials(logging.Filter):
    """websockets logs request headers at DEBUG: blank out credentials before they are emitted.

    It also drops the EOF tracebacks that deliberate socket aborts (fault injection) cause."""

    _MARKERS = ("authorization", "openai-insecure-api-key", "api-key")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, EOFError):
            # drop_connections() aborts sockets on purpose; websockets calls the EOF it then
            # meets an "unexpected internal error". It is expected here: keep it out of sight.
            return False
        message = record.getMessage()
        if any(marker in message.lower() for marker in self._MARKERS):
            head = message.split(":", 1)[0] if ":" in message else message[:20]
            record.msg, record.args = f"{head}: <redacted>", None
        return True


_ws_log = logging.getLogger("realtime_client.testing.websockets")
_ws_log.addFilter(_RedactCredentials())


class FakeRealtimeServer:
    """A protocol-faithful OpenAI Realtime (GA) WebSocket server on loopback, in background threads.

    Use it like ``moto``: ``with FakeRealtimeServer() as server:`` then point a client at
    ``server.url`` with a token from ``server.token()`` (or ``get_token=server.get_token``).
    It streams scripted or default replies, runs an energy VAD on appended audio, honours
    ``response.cancel`` and ``conversation.item.truncate``, rejects unknown ``session.update``
    fields like the real API, and injects faults on demand. Every frame it sends validates
    against the ``openai`` package's GA server event models.

    Args:
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one (kept across ``stop()``/``start()``).
        model: the model reported when the URL has no ``?model=``.
        api_key: if set, only this bearer (or a token minted by :meth:`token`) is accepted;
            otherwise any non-empty token is.
        pacing: ``"fast"`` streams responses as fast as possible (yielding between steps, so a
            cancel that has arrived takes effect); ``"realtime"`` paces audio deltas at real time.
        audio_chunk_ms: audio carried by each ``response.output_audio.delta``.
        max_session_seconds: close every connection this long after it opened, with code 1001 and
            the real API's reason text.
        rate_limits: send ``rate_limits.updated`` after each ``response.done``.
        instructions: the default session instructions.
        voice: the default output voice.

    Other knobs: :meth:`script`, :attr:`user_transcripts`, :attr:`handshake_delay`,
    :meth:`reject_next_handshakes`, :meth:`drop_connections`, :meth:`close_connections`,
    :meth:`stall`, :meth:`send_raw`, :meth:`send_event`, :meth:`send_error`.

    Threads: every public method may be called from any thread.

    Example::

        with FakeRealtimeServer() as server:
            server.script(Reply.text("Hi there"))
            ...  # connect to server.url?model=gpt-realtime with server.token().token

    .. versionadded:: 0.1.0
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, model: str = "gpt-realtime-2.1",
                 api_key: Optional[str] = None, pacing: str = "fast", audio_chunk_ms: int = 100,
                 max_session_seconds: Optional[float] = None, rate_limits: bool = True,
                 instructions: str = DEFAULT_INSTRUCTIONS, voice: str = "marin") -> None:
        if pacing not in ("fast", "realtime"):
            raise ValueError(f"pacing must be 'fast' or 'realtime', got {pacing!r}")
        if audio_chunk_ms <= 0:
            raise ValueError(f"audio_chunk_ms must be positive, got {audio_chunk_ms!r}")
        self.host = host
        self.model = model
        self.api_key = api_key
        self.pacing = pacing
        self.audio_chunk_ms = int(audio_chunk_ms)
        self.max_session_seconds = max_session_seconds
        self.rate_limits = rate_limits
        self.instructions = instructions
        self.voice = voice
        #: seconds each handshake waits before it is answered (to test client handshake timeouts)
        self.handshake_delay: float = 0.0
        #: transcripts reported for the next committed voice turns (when transcription is on)
        self.user_transcripts: List[str] = []
        self.received: List[Any] = []
        self.sent: List[str] = []
        self.connections: List[FakeConnection] = []
        self._port = port
        self._lock = threading.Condition()
        self._sent_types: List[Optional[str]] = []
        self._script: Deque[Reply] = collections.deque()
        self._tokens: Dict[str, float] = {}
        self._rejects: Deque[int] = collections.deque()
        self._stall_until = 0.0
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._handlers: List[threading.Thread] = []
        self._event_counter = 0

    def __repr__(self) -> str:
        where = self.url if self._port else "not started"
        running = "running" if self._server is not None else "stopped"
        return f"<FakeRealtimeServer {running} {where} connections={len(self.connections)}>"

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeRealtimeServer:
        """Bind and start serving in the ``realtime-fake-server`` thread; idempotent; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = serve(
            self._handle, self.host, self._port, process_request=self._process_request,
            select_subprotocol=_select_subprotocol, compression=None, max_size=16 * 1024 * 1024,
            ping_interval=None, close_timeout=1.0,
            logger=_ws_log)
        self._port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="realtime-fake-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close every connection (1001), stop accepting, and join all threads within ``timeout``.

        Idempotent. The server can be started again on the same port.
        """
        server, thread = self._server, self._thread
        if server is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        server.shutdown()
        live = self._live()
        for conn in live:
            conn._request_close(1001, SHUTDOWN_REASON)
        for conn in live:
            conn._finished.wait(max(0.0, deadline - time.monotonic() - 0.3))
        for conn in live:
            if not conn._finished.is_set():
                conn._drop()
        for worker in [thread, *list(self._handlers)]:
            if worker is not None:
                worker.join(max(0.05, deadline - time.monotonic()))
                if worker.is_alive():
                    _log.warning("fake realtime server: thread %s did not stop in time", worker.name)
        self._handlers = [t for t in self._handlers if t.is_alive()]
        self._server = self._thread = None

    def __enter__(self) -> FakeRealtimeServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if not self._port:
            raise RealtimeError("FakeRealtimeServer has no port yet; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The WebSocket endpoint, ``ws://127.0.0.1:PORT/v1/realtime`` (clients add ``?model=``)."""
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def base_url(self) -> str:
        """The HTTP API base, ``http://127.0.0.1:PORT/v1``, for ``openai.OpenAI(base_url=...)``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- tokens and handshake --------------------------------------------------------------------

    def token(self, ttl: float = 600) -> RealtimeToken:
        """Mint a fresh ephemeral token accepted for ``ttl`` seconds (then the handshake gets 401)."""
        value = "ek_fake_" + secrets.token_urlsafe(18)
        expires_at = time.time() + ttl
        with self._lock:
            self._tokens[value] = expires_at
        return RealtimeToken(provider="openai", token=value, expires_at=expires_at,
                             config=SessionConfig(model=self.model))

    def get_token(self) -> RealtimeToken:
        """Same as :meth:`token` with the default lifetime; pass as ``RealtimeClient(get_token=...)``."""
        return self.token()

    def reject_next_handshakes(self, count: int = 1, status: int = 401) -> None:
        """Answer the next ``count`` handshakes with HTTP ``status`` (401, 403, 500, ...) and a JSON error."""
        with self._lock:
            self._rejects.extend([int(status)] * count)

    def _check_token(self, token: Optional[str]) -> Optional[Tuple[str, str]]:
        if not token:
            return ("missing_api_key", "You didn't provide an API key. You need to provide your API key "
                    "in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        with self._lock:
            expires_at = self._tokens.get(token)
        if expires_at is not None:
            if expires_at > time.time():
                return None
            return ("token_expired", "The ephemeral client secret has expired.")
        if self.api_key is None or secrets.compare_digest(token, self.api_key):
            return None
        return ("invalid_api_key", "Incorrect API key provided.")

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.handshake_delay > 0:
            self._stopping.wait(self.handshake_delay)
        parts = urlsplit(request.path)
        if parts.path.rstrip("/") != "/v1/realtime":
            return _http_error(connection, 404, "invalid_request_error", "not_found",
                               f"Invalid URL (GET {parts.path})")
        with self._lock:
            status = self._rejects.popleft() if self._rejects else None
        if status is not None:
            if status >= 500:
                return _http_error(connection, status, "server_error", None,
                                   "The server had an error while processing your request.")
            return _http_error(connection, status, "invalid_request_error", "invalid_api_key",
                               "Incorrect API key provided.")
        problem = self._check_token(_bearer(request.headers))
        if problem is not None:
            return _http_error(connection, 401, "invalid_request_error", problem[0], problem[1])
        query = parse_qs(parts.query)
        hidden = ("authorization", "sec-websocket-protocol", "sec-websocket-key")
        connection.fake_info = {  # type: ignore[attr-defined]
            "model": (query.get("model") or [self.model])[0], "path": request.path,
            "headers": {k: v for k, v in request.headers.raw_items() if k.lower() not in hidden}}
        return None

    def _handle(self, ws: ServerConnection) -> None:
        info = getattr(ws, "fake_info", None) or {"model": self.model, "path": "", "headers": {}}
        with self._lock:
            if self._stopping.is_set():
                conn = None
            else:
                conn = FakeConnection(self, ws, len(self.connections) + 1, info)
                self.connections.append(conn)
                self._handlers.append(threading.current_thread())
                self._lock.notify_all()
        if conn is None:
            ws.close(1001, SHUTDOWN_REASON)
            return
        if self._stall_until > time.monotonic():
            conn._stall(self._stall_until)
        conn._run()

    # -- recording and waiting ---------------------------------------------------------------------

    def _record_received(self, event: Any) -> None:
        with self._lock:
            self.received.append(event)
            self._lock.notify_all()

    def _record_sent(self, text: str, type_: Optional[str]) -> None:
        with self._lock:
            self.sent.append(text)
            self._sent_types.append(type_)
            self._lock.notify_all()

    def _live(self) -> List[FakeConnection]:
        with self._lock:
            return [c for c in self.connections if not c.closed]

    def wait_for_frame(self, type: str, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` client frames of ``type`` have been received and handled; return the last.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        def matches() -> List[Any]:
            return [e for e in self.received if isinstance(e, dict) and e.get("type") == type]
        with self._lock:
            if not self._lock.wait_for(lambda: len(matches()) >= count, timeout):
                got = sorted({str(e.get("type")) for e in self.received if isinstance(e, dict)})
                raise TimeoutError(f"received {len(matches())} of {count} '{type}' frame(s) within "
                                   f"{timeout}s; types received: {got}")
            return matches()[count - 1] if count > 0 else {}

    def wait_for_sent(self, type: str, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` frames of ``type`` have been sent (all connections); return the last, parsed.

        Raises:
            TimeoutError: fewer were sent within ``timeout`` seconds.
        """
        with self._lock:
            if not self._lock.wait_for(lambda: self._sent_types.count(type) >= count, timeout):
                raise TimeoutError(f"sent {self._sent_types.count(type)} of {count} '{type}' frame(s) "
                                   f"within {timeout}s")
            indexes = [i for i, t in enumerate(self._sent_types) if t == type]
            return json.loads(self.sent[indexes[count - 1]]) if count > 0 else {}

    def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> FakeConnection:
        """Block until ``count`` connections have opened (in total); return the ``count``-th.

        Raises:
            TimeoutError: fewer opened within ``timeout`` seconds.
        """
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.connections) >= count, timeout):
                raise TimeoutError(f"{len(self.connections)} of {count} connection(s) opened within "
                                   f"{timeout}s")
            return self.connections[count - 1]

    # -- scripted behaviour ------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies; each new response (any connection) consumes the next one.

        With the queue empty a response says ``"You said: <last user text>"`` (``"I heard you."``
        after a voice turn, ``"The tool returned: <output>"`` after a tool result), as audio in
        audio modality and as text in text modality.
        """
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"script() takes Reply objects, got {type(reply).__name__}")
        with self._lock:
            self._script.extend(replies)

    def _pop_reply(self) -> Optional[Reply]:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _pop_transcript(self) -> Optional[str]:
        with self._lock:
            return self.user_transcripts.pop(0) if self.user_transcripts else None

    # -- faults ------------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Abruptly close every live connection's TCP socket (no close frame)."""
        for conn in self._live():
            conn._drop()

    def close_connections(self, code: int, reason: str = "") -> None:
        """Close every live connection with a close frame, after the frames already queued."""
        for conn in self._live():
            conn._enqueue(("close", code, reason))

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (frames queue up and flow afterwards); new connections too."""
        until = time.monotonic() + seconds
        self._stall_until = max(self._stall_until, until)
        for conn in self._live():
            conn._stall(until)

    def send_raw(self, data: Union[str, bytes]) -> None:
        """Send ``data`` as-is (a text or binary frame) to every live connection; not in :attr:`sent`."""
        for conn in self._live():
            conn._enqueue(("raw", data))

    def send_event(self, event: Dict[str, Any]) -> None:
        """Send a server event to every live connection (``event_id`` added if missing); in :attr:`sent`."""
        event = dict(event)
        if "event_id" not in event:
            with self._lock:
                self._event_counter += 1
                event["event_id"] = f"event_fake{self._event_counter:06d}"
        for conn in self._live():
            conn._enqueue(("frame", copy.deepcopy(event)))

    def send_error(self, code: str, message: str, *, error_type: str = "invalid_request_error",
                   param: Optional[str] = None) -> None:
        """Send an ``error`` event to every live connection."""
        self.send_event({"type": "error", "error": {"type": error_type, "code": code, "message": message,
                                                    "param": param, "event_id": None}})


def _select_subprotocol(connection: ServerConnection, offered: Any) -> Any:
    return "realtime" if "realtime" in offered else None


def _bearer(headers: Any) -> Optional[str]:
    auth = headers.get("Authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for offered in value.split(","):
            name = offered.strip()
            if name.startswith("openai-insecure-api-key."):
                return name[len("openai-insecure-api-key."):]
    return None


def _http_error(connection: ServerConnection, status: int, error_type: str, code: Optional[str],
                message: str) -> Any:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    response = connection.respond(status, json.dumps(body) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
