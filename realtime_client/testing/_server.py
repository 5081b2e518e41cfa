"""FakeRealtimeServer: a loopback WebSocket server that speaks one provider's realtime protocol.

The server is generic: sockets, threads, optional TLS, fault injection, recording and waits.
Everything provider-specific comes from a :class:`~._peer.PeerFactory` (``_providers.py``)
and the per-connection :class:`~._peer.Peer` it builds; the OpenAI one is ``_openai/``.

Threads: ``realtime-fake-server`` accepts connections (``websockets.sync.server``); websockets runs
one handler thread per connection, which receives and handles client frames; each connection has
a ``realtime-fake-sender-N`` thread that sends queued frames and streams active responses.
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Union

from websockets.sync.server import ServerConnection, serve

from .._errors import RealtimeError
from .._models import RealtimeToken
from ._connection import SHUTDOWN_REASON, ConnectionOptions, FakeConnection
from ._handshake import Gatekeeper, RedactCredentials, handshake_request, public_headers, respond
from ._http import HttpRequest, http_aware_connection, not_found
from ._peer import HttpRefusal, PeerFactory, PeerSettings
from ._providers import peer_factory
from ._recorder import Recorder
from ._reply import Reply
from ._speech import make_ear, make_voice
from ._tls import LoopbackCA

__all__ = ["FakeRealtimeServer"]

_log = logging.getLogger("realtime_client")
_ws_log = logging.getLogger("realtime_client.testing.websockets")
_ws_log.addFilter(RedactCredentials())


class FakeRealtimeServer:
    """A protocol-faithful realtime WebSocket server on loopback, in background threads.

    Use it like ``moto``: ``with FakeRealtimeServer() as server:`` then point a client at
    it with ``adapter=server.adapter()`` and ``get_token=server.get_token``. The OpenAI peer
    streams scripted or default replies, runs an energy VAD on appended audio, honours
    ``response.cancel`` and ``conversation.item.truncate``, rejects unknown ``session.update``
    fields like the real API, and every frame it sends validates against the ``openai``
    package's GA server event models.

    Args:
        provider: which protocol to speak; a key of the provider registry (``"openai"``,
            ``"azure"``, ``"grok"``, ``"gemini"``, ``"elevenlabs"``).
        tls: serve ``wss://`` with a certificate from a throw-away CA (see :attr:`ca_file`).
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one (kept across ``stop()``/``start()``).
        model: the model served when the URL names none (default: the provider's).
        api_key: if set, only this key (or a token minted by :meth:`token`) is accepted;
            otherwise any non-empty credential is.
        pacing: ``"fast"`` streams responses as fast as possible (yielding between steps, so a
            cancel that has arrived takes effect); ``"realtime"`` paces audio at real time.
        audio_chunk_ms: audio carried by each output audio frame.
        max_session_seconds: close every connection this long after it opened, with the
            provider's session-cap close code and reason (OpenAI: 1001 and the real text;
            Gemini: 1011 after a ``goAway``).
        go_away_seconds: providers that warn before the cap (Gemini ``goAway {timeLeft}``)
            warn this long before ``max_session_seconds`` (default: the provider's, 50 s for
            Gemini, capped to the session length).
        rate_limits: report rate limits after each response (OpenAI ``rate_limits.updated``).
        instructions: the default session instructions (default: the provider's).
        voice: the default output voice name (default: the provider's).
        speech: how text replies sound. ``"synthetic"`` (default): a deterministic voice-like
            signal, 60 ms per character. ``"espeak"``: real speech from the ``espeak-ng``
            program, resampled to the wire rate (a reply with an explicit ``duration_ms``
            stays synthetic). ``"auto"``: espeak-ng when it is installed, else synthetic.
            A callable ``speech(text, rate)`` returning int16 samples is used as the voice
            itself (for tests that need to know every sample a reply contains).
        hearing: whether the user's voice turns are recognised. ``"off"`` (default).
            ``"pocketsphinx"``: offline recognition with pocketsphinx's bundled English model
            (``pip install 'realtime-client[speech]'``; approximate, and it takes about 0.1 s
            per second of speech while the connection waits); the words become the turn's
            transcript (unless :attr:`user_transcripts` has one queued) and the default reply
            is ``"You said: <words>"``. ``"auto"``: pocketsphinx when it is installed.
        provider_options: knobs only this provider's peer has, passed to its factory (for
            example ``{"resumption_ttl": 5}`` for ``"grok"``, ``{"ping_interval": 0.2}`` for
            ``"elevenlabs"``); an unknown key is a ValueError.

    Raises:
        ValueError: an unknown ``provider`` (the message names the known ones), a bad
            ``pacing``, ``audio_chunk_ms``, ``speech`` or ``hearing``, or ``speech="espeak"``
            / ``hearing="pocketsphinx"`` without the program or package.

    Other knobs: :meth:`script`, :attr:`user_transcripts`, :attr:`handshake_delay`,
    :meth:`reject_next_handshakes`, :meth:`drop`, :meth:`drop_connections`,
    :meth:`close_connections`, :meth:`stall`, :meth:`send_raw`, :meth:`send_event`,
    :meth:`send_error`.

    Threads: every public method may be called from any thread.

    Example::

        with FakeRealtimeServer() as server:
            server.script(Reply.text("Hi there"))
            client = RealtimeClient(get_token=server.get_token, adapter=server.adapter())

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``provider``, ``tls``, :attr:`ca_file`, :meth:`adapter`,
       :meth:`drop`; :attr:`base_url` no longer ends in ``/v1``.
    .. versionchanged:: 0.2.0 ``speech`` and ``hearing`` (spoken replies, recognised voice turns).
    .. versionchanged:: 0.2.0 ``speech`` may be a callable.
    """

    def __init__(self, provider: str = "openai", *, tls: bool = False, host: str = "127.0.0.1",
                 port: int = 0, model: Optional[str] = None, api_key: Optional[str] = None,
                 pacing: str = "fast", audio_chunk_ms: int = 100,
                 max_session_seconds: Optional[float] = None, rate_limits: bool = True,
                 instructions: Optional[str] = None, voice: Optional[str] = None,
                 speech: Union[str, Callable[[str, int], Any]] = "synthetic", hearing: str = "off",
                 provider_options: Optional[Dict[str, Any]] = None,
                 go_away_seconds: Optional[float] = None) -> None:
        if pacing not in ("fast", "realtime"):
            raise ValueError(f"pacing must be 'fast' or 'realtime', got {pacing!r}")
        if audio_chunk_ms <= 0:
            raise ValueError(f"audio_chunk_ms must be positive, got {audio_chunk_ms!r}")
        self._factory: PeerFactory = peer_factory(provider, **dict(provider_options or {}))
        self._voice: Optional[Callable[[str, int], Any]] = speech if callable(speech) else make_voice(speech)
        self._ear = make_ear(hearing)
        #: ``"espeak"``, ``"synthetic"`` or ``"custom"``: how replies actually sound (``"auto"`` resolved)
        self.speech = "custom" if callable(speech) else "synthetic" if self._voice is None else "espeak"
        #: ``"pocketsphinx"`` or ``"off"``: whether voice turns are recognised (``"auto"`` resolved)
        self.hearing = "off" if self._ear is None else "pocketsphinx"
        self.provider = self._factory.name
        self.tls = bool(tls)
        self.host = host
        self.model: str = model or self._factory.default_model
        self._pacing = pacing
        self.audio_chunk_ms = int(audio_chunk_ms)
        self.max_session_seconds = max_session_seconds
        self.go_away_seconds = go_away_seconds
        self.rate_limits = rate_limits
        self.instructions = instructions
        self.voice = voice
        #: seconds each handshake waits before it is answered (to test client handshake timeouts)
        self.handshake_delay: float = 0.0
        #: transcripts reported for the next committed voice turns (when transcription is on)
        self.user_transcripts: List[str] = []
        #: plain HTTP requests received (REST endpoints such as client_secrets), credentials redacted
        self.http_requests: List[HttpRequest] = []
        self._recorder = Recorder(getattr(self._factory, "frame_type", None))
        self._gate = Gatekeeper(self._factory, api_key)
        self._ca: Optional[LoopbackCA] = None
        self._port = port
        self._lock = threading.Lock()
        self._script: Deque[Reply] = collections.deque()
        self._stall_until = 0.0
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._handlers: List[threading.Thread] = []

    def __repr__(self) -> str:
        where = self.url if self._port else "not started"
        running = "running" if self._server is not None else "stopped"
        return (f"<FakeRealtimeServer {self.provider} {running} {where} "
                f"connections={len(self.connections)}>")

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeRealtimeServer:
        """Bind and start serving in the ``realtime-fake-server`` thread; idempotent; returns self."""
        if self._server is not None:
            return self
        context: Optional[ssl.SSLContext] = None
        if self.tls:
            if self._ca is None:
                self._ca = LoopbackCA(self.host)
            context = self._ca.server_context()
        self._stopping.clear()
        self._server = serve(
            self._handle, self.host, self._port, process_request=self._process_request,
            select_subprotocol=self._select_subprotocol, compression=None, max_size=16 * 1024 * 1024,
            ping_interval=None, close_timeout=1.0, ssl=context, logger=_ws_log,
            create_connection=http_aware_connection(self._http_request))  # type: ignore[arg-type]
        self._port = self._server.socket.getsockname()[1]
        bind = getattr(self._factory, "bind", None)
        if callable(bind):  # a provider whose tokens name the server (ElevenLabs signed URLs)
            bind(self.url, self.base_url)
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
        live = self._recorder.live()
        for conn in live:
            conn.close_now(1001, SHUTDOWN_REASON)
        for conn in live:
            conn.wait_closed(deadline - time.monotonic() - 0.3)
        for conn in live:
            if not conn.closed:
                conn.abort()
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

    # -- where and how to connect ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if not self._port:
            raise RealtimeError("FakeRealtimeServer has no port yet; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The realtime WebSocket endpoint, e.g. ``ws://127.0.0.1:PORT/v1/realtime`` (``wss://`` with TLS)."""
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}{self._factory.endpoint_path}"

    @property
    def base_url(self) -> str:
        """The server's HTTP origin, ``http://127.0.0.1:PORT`` (``https://`` with TLS).

        For the OpenAI SDK: ``openai.OpenAI(base_url=server.base_url + "/v1", ...)``.
        """
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Optional[str]:
        """Path of the throw-away CA's PEM certificate when ``tls=True`` (after :meth:`start`), else None."""
        return self._ca.ca_file if self._ca is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts only this server's CA (``tls=True``, after :meth:`start`).

        Raises:
            RealtimeError: the server does not use TLS or has not started.
        """
        if self._ca is None:
            raise RealtimeError("ssl_context() needs FakeRealtimeServer(tls=True), started")
        return self._ca.client_context()

    def adapter(self, **options: Any) -> Any:
        """The provider's client adapter pointed at :attr:`url`; ``options`` go to its factory.

        For OpenAI this is ``realtime_client.adapters.openai_realtime(url=self.url, **options)``.
        """
        return self._factory.adapter(self.url, **options)

    # -- tokens and handshake --------------------------------------------------------------------

    def token(self, ttl: float = 600) -> RealtimeToken:
        """Mint a fresh token for this provider accepted for ``ttl`` seconds (then the handshake gets 401)."""
        return self._gate.mint(ttl, self.model)

    def get_token(self) -> RealtimeToken:
        """Same as :meth:`token` with the default lifetime; pass as ``RealtimeClient(get_token=...)``."""
        return self.token()

    @property
    def api_key(self) -> Optional[str]:
        """The only static key accepted (None: any non-empty credential is); settable."""
        return self._gate.api_key

    @api_key.setter
    def api_key(self, value: Optional[str]) -> None:
        self._gate.api_key = value

    @property
    def pacing(self) -> str:
        """``"fast"`` or ``"realtime"``; setting it also re-paces the live connections."""
        return self._pacing

    @pacing.setter
    def pacing(self, value: str) -> None:
        if value not in ("fast", "realtime"):
            raise ValueError(f"pacing must be 'fast' or 'realtime', got {value!r}")
        self._pacing = value
        for conn in self._recorder.live():
            conn.set_pacing(value)

    def reject_next_handshakes(self, count: int = 1, status: int = 401) -> None:
        """Answer the next ``count`` handshakes with HTTP ``status`` (401, 403, 500, ...) and a JSON error."""
        self._gate.reject_next(count, status)

    @property
    def factory(self) -> PeerFactory:
        """The provider's peer factory (provider-specific controls live on it)."""
        return self._factory

    def _http_request(self, request: HttpRequest) -> HttpRefusal:
        with self._lock:
            self.http_requests.append(request.redacted())
        handler = getattr(self._factory, "http", None)
        answer = handler(request, self._gate, self.model) if callable(handler) else None
        return answer if answer is not None else not_found(request)

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        return self._factory.select_subprotocol(list(offered))

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.handshake_delay > 0:
            self._stopping.wait(self.handshake_delay)
        view = handshake_request(request)
        refusal = self._gate.check(view)
        if refusal is not None and refusal.close is None:
            return respond(connection, refusal)
        connection.fake_request = view  # type: ignore[attr-defined]
        connection.fake_close = None if refusal is None else refusal.close  # type: ignore[attr-defined]
        return None


    def _handle(self, ws: ServerConnection) -> None:
        view = getattr(ws, "fake_request", None) or handshake_request(ws.request)
        refused = getattr(ws, "fake_close", None)
        if refused is not None:  # the provider reports refused credentials as a close frame,
            code, reason = refused  # in answer to the client's first message
            try:
                ws.recv(timeout=5.0)
            except Exception:  # no message, or the client went away: close anyway
                pass
            ws.close(code, reason.encode("utf-8")[:123].decode("utf-8", "ignore"))
            return
        settings = PeerSettings(model=self.model, next_reply=self._pop_reply,
                                next_transcript=self._pop_transcript, instructions=self.instructions,
                                voice=self.voice, audio_chunk_ms=self.audio_chunk_ms,
                                rate_limits=self.rate_limits, speak=self._voice, hear=self._ear,
                                max_session_seconds=self.max_session_seconds,
                                go_away_seconds=self.go_away_seconds)
        frame_type = getattr(self._factory, "frame_type", None)
        options = ConnectionOptions(pacing=self.pacing, max_session_seconds=self.max_session_seconds,
                                    session_cap=self._factory.session_cap, stall_until=self._stall_until,
                                    binary=bool(getattr(self._factory, "binary_frames", False)),
                                    **({"frame_type": frame_type} if frame_type is not None else {}))

        def make(number: int) -> FakeConnection:
            return FakeConnection(number, ws, self._factory.peer(view, settings), self._recorder,
                                  path=view.target, headers=public_headers(view), options=options)

        with self._lock:
            if self._stopping.is_set():
                conn = None
            else:
                conn = self._recorder.add_connection(make)
                self._handlers.append(threading.current_thread())
        if conn is None:
            ws.close(1001, SHUTDOWN_REASON)
            return
        conn.serve()

    # -- recording and waiting ---------------------------------------------------------------------

    @property
    def received(self) -> List[Any]:
        """Every parsed frame received, all connections, in order (a live list)."""
        return self._recorder.received

    @property
    def sent(self) -> List[str]:
        """Every protocol frame sent (raw text), all connections, fault frames excluded (a live list)."""
        return self._recorder.sent

    @property
    def connections(self) -> List[FakeConnection]:
        """Every connection accepted so far, open or closed (a live list)."""
        return self._recorder.connections

    def wait_for_frame(self, type: str, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` frames of ``type`` have been received (all connections).

        Returns the ``count``-th such frame, parsed.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        return self._recorder.wait_for_frame(type, timeout, count)

    def wait_for_sent(self, type: str, timeout: float = 5.0, count: int = 1) -> Dict[str, Any]:
        """Block until ``count`` frames of ``type`` have been sent (all connections).

        Returns the ``count``-th such frame, parsed.

        Raises:
            TimeoutError: fewer were sent within ``timeout`` seconds.
        """
        return self._recorder.wait_for_sent(type, timeout, count)

    def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> FakeConnection:
        """Block until ``count`` connections have opened (in total); return the ``count``-th.

        Raises:
            TimeoutError: fewer opened within ``timeout`` seconds.
        """
        return self._recorder.wait_for_connection(count, timeout)

    # -- scripted behaviour ------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies; each new response (any connection) consumes the next one.

        With the queue empty a response says ``"You said: <last user text>"`` (``"I heard you."``
        after a voice turn, ``"The tool returned: <output>"`` after a tool result), as audio in
        audio modality and as text in text modality.

        Raises:
            TypeError: an argument is not a :class:`Reply`.
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

    def drop(self, code: Optional[int] = None, reason: str = "") -> None:
        """End every live connection now, without sending what is still queued.

        Args:
            code: send a close frame with this code (and ``reason``); None aborts the TCP
                connections with no close frame, as a network failure would.
        """
        for conn in self._recorder.live():
            if code is None:
                conn.abort()
            else:
                conn.close_now(code, reason)

    def drop_connections(self) -> None:
        """Abruptly close every live connection's TCP socket (no close frame); ``drop(code=None)``."""
        self.drop(None)

    def close_connections(self, code: int, reason: str = "") -> None:
        """Close every live connection with a close frame, after the frames already queued."""
        for conn in self._recorder.live():
            conn.close(code, reason)

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (frames queue up and flow afterwards); new connections too."""
        until = time.monotonic() + seconds
        self._stall_until = max(self._stall_until, until)
        for conn in self._recorder.live():
            conn.stall(until)

    def send_raw(self, data: Union[str, bytes]) -> None:
        """Send ``data`` as-is (a text or binary frame) to every live connection; not in :attr:`sent`."""
        for conn in self._recorder.live():
            conn.send_raw(data)

    def send_event(self, event: Dict[str, Any]) -> None:
        """Send a server event to every live connection (``event_id`` added if missing); in :attr:`sent`."""
        for conn in self._recorder.live():
            conn.send_event(event)

    def send_error(self, code: str, message: str, *, error_type: str = "invalid_request_error",
                   param: Optional[str] = None) -> None:
        """Send the provider's error event to every live connection."""
        for conn in self._recorder.live():
            conn.send_error(code, message, error_type=error_type, param=param)
