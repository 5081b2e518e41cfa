"""The live session: everything one ``connect()`` runs until ``disconnect()``.

It owns the current connection (a WebSocket transport plus its provider session), the audio
engine, the tool runner and the token refresher, and carries out the reducer's effects. Every
change of conversation state still goes through the state owner (``_state.py``): this module
only moves frames, audio and tool results between the outside world and the reducer.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any, Callable, Dict, Optional, Sequence, Set

from . import _actions as act
from . import _events as ev
from ._errors import ConnectionFailedError, RealtimeError, TokenExpiredError
from ._models import RealtimeStatus, RealtimeToken, ReconnectPolicy
from ._provider import Adapter, CloseAction, ProviderSession, ResumeState
from ._reducer import Effects
from ._refresh import TokenRefresher
from ._state import StateOwner
from ._tools import ToolRunner, client_tools
from ._transport import CloseInfo, WebSocketTransport
from ._types import AudioInput, AudioOutput, Dispatcher, Frame
from ._util import Deadline

__all__ = ["AudioOptions", "Connection", "LiveSession"]

log = logging.getLogger("realtime_client")

_SPARE_TOKEN_MIN_S = 5.0  # a refreshed token closer than this to expiry is not worth a connect


class AudioOptions:
    """How the facade wants audio: devices or device choices, echo handling, recording."""

    def __init__(self, *, auto_playback: bool, auto_capture: bool, audio_input: Optional[AudioInput],
                 audio_output: Optional[AudioOutput], input_device: Any, output_device: Any, echo: str,
                 record_to: Optional[str], capture_chunk_ms: Optional[int] = None) -> None:
        self.auto_playback = auto_playback
        self.auto_capture = auto_capture
        self.audio_input = audio_input
        self.audio_output = audio_output
        self.input_device = input_device
        self.output_device = output_device
        self.echo = echo
        self.record_to = record_to
        self.capture_chunk_ms = capture_chunk_ms  # None: the provider's

    @property
    def wanted(self) -> bool:
        return bool(self.auto_playback or self.auto_capture or self.audio_input or self.audio_output)


class Connection:
    """One WebSocket and its provider session (a reconnect makes a new one)."""

    def __init__(self, provider: ProviderSession) -> None:
        self.provider = provider
        self.transport: Optional[WebSocketTransport] = None
        self.closed: Optional[CloseInfo] = None
        self.opened = False  # the WebSocket handshake succeeded
        self.ready_at: Optional[float] = None  # monotonic time the session became live
        self.recycling = False  # handed over to a new connection before the session cap
        self.retired = False  # the client is leaving it on purpose (a planned move)
        self._unknown_types: Set[str] = set()
        self._malformed = 0

    def report_noise(self, event: Any) -> None:
        """Log an unknown or malformed frame, without letting a misbehaving server flood the log."""
        if isinstance(event, ev.UnknownEvent):
            if event.type not in self._unknown_types:
                self._unknown_types.add(event.type)
                log.warning("ignoring unknown provider event type %r (logged once per type)",
                            event.type[:100])
            return
        self._malformed += 1
        n = self._malformed
        level = logging.WARNING if n <= 10 or n % 100 == 0 else logging.DEBUG  # the first few, then 1 in 100
        log.log(level, "ignoring a malformed frame from the provider (#%d this session): %s (starts %r)",
                n, event.reason, event.excerpt[:80])

    def send_frame(self, frame: Frame) -> None:
        transport = self.transport
        if transport is None:
            raise ConnectionFailedError("not connected")
        transport.send(json.dumps(frame, separators=(",", ":")))

    def close(self, timeout: float) -> None:
        transport = self.transport
        if transport is not None:
            transport.close(timeout=max(0.05, timeout))


class LiveSession:
    """One ``connect()`` .. ``disconnect()`` span: connections, audio, tools, token refresh.

    Threads: ``start`` and ``close`` from the facade's caller; ``run`` from any thread; the
    transport, audio and tool callbacks arrive on their own threads and never run user code.
    """

    def __init__(self, *, state: StateOwner, adapter: Adapter, get_token: Optional[Callable[[], Any]],
                 audio: AudioOptions, dispatcher: Dispatcher, tools: Sequence[Any], tool_timeout: float,
                 transport_options: Dict[str, Any], token_refresh: bool,
                 reconnect: Optional[ReconnectPolicy], on_end: Callable[[], None] = lambda: None) -> None:
        from ._reconnect import Reconnector
        from ._recycle import Recycler

        self._state = state
        self._on_end = on_end
        self._adapter = adapter
        self._get_token = get_token
        self._audio = audio
        self._dispatcher = dispatcher
        self._transport_options = transport_options
        self._token_refresh = token_refresh
        self._tools = ToolRunner(client_tools(tools), default_timeout=tool_timeout,
                                 on_result=self._on_tool_result)
        self._reconnector = Reconnector(self, reconnect) if reconnect is not None else None
        self._recycler = Recycler(self) if reconnect is not None else None
        self.engine: Any = None
        self._refresher: Optional[TokenRefresher] = None
        self._token: Optional[RealtimeToken] = None
        self._spare_token: Optional[RealtimeToken] = None  # refreshed ahead, not yet used
        self._connection: Optional[Connection] = None
        self.closing = False

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, deadline: Deadline) -> None:
        """Open the first connection and start audio; raises ``RealtimeError`` on failure."""
        self.open_connection(deadline, resume=None)
        self._check_not_closing()
        self._start_audio()
        self._start_refresher()
        connection = self._connection
        if self._recycler is not None and connection is not None \
                and connection.provider.info.session_cap is not None:
            self._recycler.start()
        engine = self.engine
        connected = act.Connected(mic_open=bool(engine is not None and engine.capturing),
                                  playback=bool(engine is not None and engine.has_output))
        # Everything runs before the session is announced, and under the lock close() marks
        # itself in: a disconnect() racing this either follows Connected or makes start() fail
        # (the caller then closes again, stopping what was started after the first close).
        with self._state.lock:
            self._check_not_closing()
            fx = self._state.conv.reduce(connected)
            self._state.commit_locked(fx)
        self._execute(fx)

    def _check_not_closing(self) -> None:
        if self.closing:
            raise ConnectionFailedError("disconnect() was called while connecting")

    def close(self, deadline: Deadline) -> None:
        """Stop everything this session started, joining threads within ``deadline``."""
        with self._state.lock:
            self.closing = True
            self._state.cond.notify_all()
        if self._reconnector is not None:
            self._reconnector.stop(max(0.05, deadline.remaining() / 2))
        if self._recycler is not None:
            self._recycler.stop(max(0.05, deadline.remaining() / 4))
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.request_stop()
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close(timeout=max(0.05, deadline.remaining() / 2))
        connection = self._connection
        if connection is not None:
            connection.close(deadline.remaining() / 2)
        self._state.attach(None, None)
        self._tools.close(timeout=max(0.05, deadline.remaining() / 2))
        if refresher is not None:
            refresher.stop(max(0.05, deadline.remaining()))

    def update_tools(self, tools: Sequence[Any]) -> None:
        self._tools.update_tools(client_tools(tools))

    # --- connections ---------------------------------------------------------------------------

    def open_connection(self, deadline: Deadline, resume: Optional[ResumeState]) -> None:
        """Fetch a token, open a socket, run the provider's handshake until ``Ready``."""
        token = self._take_spare_token() or self.fetch_token()
        self._check_not_closing()
        self._token = token
        provider = self._adapter.new_session()
        connection = Connection(provider)
        self._connection = connection
        self._state.attach(provider, connection.send_frame)
        with self._state.lock:  # first: the provider may refine its info once it knows the model
            request = provider.connection_request(token, self._state.conv.config, resume)
        self.run(act.SessionOpened(provider.info, can_move=self._reconnector is not None))
        with self._state.lock:
            # before the socket opens: the server may speak first and be answered at once
            first_frames = provider.start(self._state.conv.started, resume)
        info = provider.info
        options = dict(self._transport_options)
        for key in ("ping_interval", "ping_timeout"):
            if options.get(key) is None:
                options[key] = getattr(info, key) or 0.0
        transport = WebSocketTransport(on_frame=functools.partial(self._on_frame, connection),
                                       on_close=functools.partial(self._on_closed, connection),
                                       audio_fields=info.audio_fields, **options)
        connection.transport = transport
        transport.open(request, deadline.remaining())
        connection.opened = True
        with self._state.lock:
            self._state.queue_frames_locked(first_frames)
        self._state.send_frames()
        self._wait_ready(connection, deadline)
        connection.ready_at = time.monotonic()

    def _wait_ready(self, connection: Connection, deadline: Deadline) -> None:
        conv = self._state.conv
        with self._state.cond:
            self._state.cond.wait_for(lambda: conv.ready or conv.start_error is not None
                                      or connection.closed is not None or self.closing,
                                      deadline.remaining())
            ready, error, closed = conv.ready, conv.start_error, connection.closed
        if error is not None:
            raise error
        if ready:
            return
        if self.closing:
            raise ConnectionFailedError("disconnect() was called while waiting for the session")
        if closed is not None:
            with self._state.lock:  # the provider knows what its close codes mean (1008: refused)
                action = connection.provider.classify_close(closed.code, closed.reason, closed.error)
            if action.error is not None:
                raise action.error
            if closed.error is not None:
                raise closed.error
            raise ConnectionFailedError(f"the server closed the connection (code {closed.code}) while "
                                        "waiting for the session to be ready")
        raise ConnectionFailedError("timed out waiting for the session to be ready")

    def resume_refused(self, error: RealtimeError) -> bool:
        """Whether the failed attempt reached the provider, which then declined the session:
        a 4xx answer to the handshake, or a socket that opened but never became ready, unless
        the provider calls its close a transient one worth retrying as it was (Gemini's 1011
        while the old socket is still being closed)."""
        status = error.details.get("status") if isinstance(error.details, dict) else None
        if isinstance(status, int) and 400 <= status < 500:
            return True
        connection = self._connection
        if connection is None or not connection.opened:
            return False
        closed = connection.closed
        if closed is not None and not closed.clean:
            with self._state.lock:
                action = connection.provider.classify_close(closed.code, closed.reason, closed.error)
            if action.action == "reconnect":
                return False
        return True

    @property
    def state_owner(self) -> StateOwner:
        return self._state

    @property
    def current_connection(self) -> Optional[Connection]:
        return self._connection

    def recycle(self, connection: Connection, time_left: float) -> None:
        """Hand over from ``connection`` to a new one before the provider's session cap ends it
        (called by the recycler at a quiet moment): announce it, close it, reconnect."""
        with self._state.lock:
            if (connection is not self._connection or self.closing or self._reconnector is None
                    or self._state.conv.status is not RealtimeStatus.CONNECTED):
                return
        log.info("recycling the connection %.0f s before the provider's session cap", time_left)
        self.run(ev.GoAway(time_left))
        self.run(act.SessionLost(go_away=False))
        self._state.attach(None, None)
        resume = connection.provider.resume_state()
        connection.close(1.0)  # its close sees status reconnecting and leaves it to the reconnector
        self._reconnector.start(resume)

    def close_connection(self) -> None:
        connection = self._connection
        if connection is not None:
            connection.close(0.5)

    def fetch_token(self) -> RealtimeToken:
        if self._get_token is None:  # the adapter needs no credential (checked by the facade)
            return RealtimeToken(provider=getattr(self._adapter, "provider", "unknown"), token="")
        try:
            raw = self._get_token()
            token = raw if isinstance(raw, RealtimeToken) else RealtimeToken.from_dict(raw)
        except RealtimeError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(f"get_token failed: {type(exc).__name__}: {exc}") from exc
        if token.expired:
            raise TokenExpiredError("the token from get_token has already expired", provider=token.provider)
        return token

    # --- the reader side -------------------------------------------------------------------------

    def _on_frame(self, connection: Connection, payload: Any) -> None:
        events = self._state.receive(connection.provider, payload)
        self._state.send_frames()  # replies (a handshake answer, a pong) go out first
        for event in events:
            if isinstance(event, (ev.UnknownEvent, ev.Malformed)):
                connection.report_noise(event)
            elif not isinstance(event, ev.Ignored):
                self.run(event)

    def _on_closed(self, connection: Connection, info: CloseInfo) -> None:
        with self._state.lock:
            connection.closed = info
            self._state.cond.notify_all()
            if connection is not self._connection or self.closing or connection.retired:
                return
            if self._state.conv.status is not RealtimeStatus.CONNECTED:
                return  # connect() or a reconnect attempt is waiting and reports it
            action = CloseAction("clean") if info.clean else connection.provider.classify_close(
                info.code, info.reason, info.error)
        if action.action == "reconnect" and self._reconnector is not None:
            log.warning("connection lost (%s, code %d): reconnecting", info.reason or "no reason", info.code)
            self.run(act.SessionLost(go_away=action.go_away))
            self._state.attach(None, None)
            engine = self.engine
            if engine is not None:
                engine.flush()  # the rest of that audio died with the session
            self._reconnector.start(connection.provider.resume_state())
            return
        clean = action.action == "clean"
        error = None if clean else (action.error or info.error)
        self.end(RealtimeStatus.IDLE if clean else RealtimeStatus.ERROR, error, notify_error=not clean,
                 go_away=action.go_away)

    def _move(self) -> None:
        """Leave the live connection on purpose and resume on a new one (``Effects.reconnect``).

        The old socket is closed first (Gemini refuses a resume while it is open), on the
        reconnect thread; status goes ``reconnecting`` -> ``connected``; what the user says or
        sends meanwhile is held and sent on the new connection.
        """
        with self._state.lock:
            connection = self._connection
            if self._reconnector is None or connection is None or self.closing or connection.retired \
                    or connection.closed is not None:
                log.info("not moving to a new connection: reconnecting is off or nothing is live")
                return
            connection.retired = True
        self.run(act.SessionLost(planned=True))
        self._state.attach(None, None)
        self._reconnector.start(None, retire=connection)

    def retire(self, connection: Connection, timeout: float) -> ResumeState:
        """Close ``connection`` (a planned move) and say how the next one resumes it."""
        connection.close(timeout)
        with self._state.lock:
            return connection.provider.resume_state()

    def end(self, status: RealtimeStatus, error: Optional[Exception], *, notify_error: bool,
            go_away: bool = False) -> None:
        """The session is over (without a disconnect() call): report it, release audio/timers."""
        self.run(act.SessionEnded(status, error, notify_error=notify_error, go_away=go_away))
        self._state.attach(None, None)
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close(timeout=0.5)
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.request_stop()
        if self._recycler is not None:
            self._recycler.request_stop()
        self._on_end()

    # --- effects ---------------------------------------------------------------------------------

    def run(self, item: Any) -> None:
        """Reduce ``item`` and carry out the effects."""
        self._execute(self._state.dispatch(item))

    def _execute(self, fx: Effects) -> None:
        self._state.send_frames()
        engine = self.engine
        if engine is not None:
            for item_id in fx.drop_items:
                engine.drop_item(item_id)
            for item_id, audio in fx.play:
                engine.play(item_id, audio)
        for call in fx.tool_calls:
            self._tools.submit(call.call_id, call.name, call.arguments)
        for call_id in fx.cancel_tools:
            log.info("the provider cancelled tool call %s; its result will not be sent", call_id)
        if fx.flush:
            played = engine.flush() if engine is not None else None
            self._execute(self._state.dispatch(act.Flushed(played, fx.flush_by_speech)))
        self._state.flush()
        if fx.fail is not None:
            log.error("%s", fx.fail)
            self.end(RealtimeStatus.ERROR, fx.fail, notify_error=False)
            self.close_connection()
        elif fx.reconnect:
            self._move()

    def _on_tool_result(self, outcome: Any) -> None:
        self.run(act.ToolFinished(outcome))

    # --- audio -----------------------------------------------------------------------------------

    def _start_audio(self) -> None:
        opts = self._audio
        if not opts.wanted:
            return
        from .audio._engine import AudioEngine

        output = opts.audio_output
        if output is None and opts.auto_playback:
            from .audio import PyAudioOutput

            output = PyAudioOutput(device=opts.output_device)
        source = opts.audio_input
        if source is None:  # the default microphone; opened by auto_capture or start_listening()
            from .audio import PyAudioInput

            source = PyAudioInput(device=opts.input_device)
        with self._state.lock:
            info = self._state.conv.info
        self._input_format = info.input_format
        engine = AudioEngine(output=output if opts.auto_playback or opts.audio_output else None,
                             input=source, provider_output_format=info.output_format,
                             provider_input_format=info.input_format,
                             on_capture=self._on_capture, on_playback_started=self._on_playback_started,
                             on_playback_idle=self._on_playback_idle, on_error=self._report_error,
                             dispatcher=self._dispatcher, echo=opts.echo, record_to=opts.record_to,
                             send_ms=opts.capture_chunk_ms or info.input_chunk_ms)
        self.engine = engine
        if output is not None and (opts.auto_playback or opts.audio_output is not None):
            engine.start_playback()
        if opts.auto_capture and source is not None:
            engine.start_capture()

    def _on_capture(self, audio: bytes) -> None:
        self.run(act.CapturedAudio(audio, self._input_format.duration_ms(len(audio))))

    def _on_playback_started(self, item_id: str) -> None:
        engine = self.engine
        self.run(act.PlaybackStarted(item_id, engine.started_audible_at if engine is not None else None))

    def _on_playback_idle(self) -> None:
        engine = self.engine
        self.run(act.PlaybackIdle(engine.played_through if engine is not None else None))

    def _report_error(self, error: Exception) -> None:
        self.run(act.ReportError(error))

    # --- token refresh ---------------------------------------------------------------------------

    def _start_refresher(self) -> None:
        token = self._token
        if not self._token_refresh or token is None or token.expires_at is None:
            return
        self._refresher = TokenRefresher(token, self.fetch_token, on_token=self._store_token,
                                         on_error=self._report_error)
        self._refresher.start()

    def _store_token(self, token: RealtimeToken) -> None:
        self._token = token
        self._spare_token = token  # the next connection (a reconnect) opens with it

    def _take_spare_token(self) -> Optional[RealtimeToken]:
        """The token the refresher fetched, once, if it stays valid long enough to connect with."""
        token, self._spare_token = self._spare_token, None
        left = token.seconds_left() if token is not None else None
        if token is None or (left is not None and left < _SPARE_TOKEN_MIN_S):
            return None
        return token
