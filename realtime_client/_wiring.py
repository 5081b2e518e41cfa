"""The client's wiring: how frames, effects, audio and timers flow between its parts.

``RealtimeClient`` (``_client.py``) is the public facade; this base class holds the machinery
it shares with its background threads. Every method here runs on one of those threads or is
called by the facade, and follows the same rule: lock, reduce, snapshot, unlock, then act.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Union

from . import _events as ev
from ._conversation import Conversation, Effects
from ._errors import (
    ConnectionFailedError,
    PermissionDeniedError,
    ProviderError,
    RealtimeError,
    TokenExpiredError,
)
from ._models import (
    ClientState,
    RealtimeMessage,
    RealtimeStatus,
    RealtimeToken,
    ReconnectPolicy,
    SessionConfig,
)
from ._notify import Notifier
from ._refresh import TokenRefresher
from ._tools import ToolRunner
from ._transport import CloseInfo, WebSocketTransport
from ._types import Adapter, AudioInput, AudioOutput, Dispatcher, Frame
from ._util import Deadline, new_id

__all__ = ["ClientWiring"]

log = logging.getLogger("realtime_client")

# Close codes worth reconnecting after: going away (the 60-minute cap), no status, abnormal drop,
# server error, service restart, try again later, bad gateway.
RECONNECT_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})
# Provider error codes after which the session cannot usefully go on (retrying will not help).
FATAL_PROVIDER_CODES = frozenset({"insufficient_quota", "invalid_api_key", "account_deactivated",
                                  "billing_hard_limit_reached"})


def _within_budget(messages: Sequence[RealtimeMessage], budget: int) -> List[RealtimeMessage]:
    """The newest messages whose text fits in ``budget`` characters, oldest first."""
    kept: List[RealtimeMessage] = []
    used = 0
    for msg in reversed(messages):
        used += len(msg.text)
        if used > budget:
            break
        kept.append(msg)
    return kept[::-1]


class ClientWiring:
    """Internal base of :class:`~realtime_client.RealtimeClient`; not public API."""

    _adapter: Adapter
    _config: SessionConfig
    _lock: threading.Lock
    _cond: threading.Condition
    _conv: Conversation
    _state: ClientState
    _seen_version: int
    _notifier: Notifier
    _callbacks: Dict[str, Optional[Callable[..., Any]]]
    _subscribers: List[Callable[[ClientState], Any]]
    _dispatcher: Dispatcher
    _generation: int
    _disconnecting: bool
    _closed_info: Optional[CloseInfo]
    _transport: Optional[WebSocketTransport]
    _engine: Any
    _tools: ToolRunner
    _token: Optional[RealtimeToken]
    _token_refresh: bool
    _refresher: Optional[TokenRefresher]
    _auto_playback: bool
    _auto_capture: bool
    _audio_input: Optional[AudioInput]
    _audio_output: Optional[AudioOutput]
    _audio_options: Dict[str, Any]
    _captured_ms: float
    _reconnect: Optional[ReconnectPolicy]
    _reconnector: Optional[threading.Thread]
    _stop_reconnect: threading.Event
    _replay_count: int
    _pending_frames: Deque[Frame]

    _get_token: Callable[[], Any]
    _transport_options: Dict[str, Any]

    # --- connecting ------------------------------------------------------------------------

    def _open_session(self, generation: int, deadline: Deadline) -> None:
        token = self._fetch_token()
        self._token = token
        request = self._adapter.connection_request(token, self._config)
        transport = WebSocketTransport(on_frame=self._on_frame,
                                       on_close=functools.partial(self._on_closed, generation),
                                       **self._transport_options)
        self._transport = transport
        transport.open(request, deadline.remaining())
        self._wait_locked_for(lambda: self._conv.session_ready, deadline, "the session to be created")
        event_id = new_id("evt_cfg")
        with self._lock:
            self._conv.config_event_id = event_id
            self._conv.config_applied = False
        self._send(self._adapter.session_update(self._config, event_id))
        self._wait_locked_for(lambda: self._conv.config_applied or self._conv.config_error is not None,
                              deadline, "the session configuration to be applied")
        if self._conv.config_error is not None:
            raise self._conv.config_error

    def _fetch_token(self) -> RealtimeToken:
        try:
            raw = self._get_token()
            token = raw if isinstance(raw, RealtimeToken) else RealtimeToken.from_dict(raw)
        except RealtimeError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(f"get_token failed: {type(exc).__name__}: {exc}") from exc
        if token.expired:
            raise TokenExpiredError("the token from get_token has already expired",
                                    provider=token.provider)
        return token

    def _wait_locked_for(self, predicate: Callable[[], bool], deadline: Deadline, what: str) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate() or self._closed_info is not None
                                     or self._disconnecting, deadline.remaining())
            info = self._closed_info
            if self._disconnecting:
                raise ConnectionFailedError(f"disconnect() was called while waiting for {what}")
        if info is not None and not predicate():
            if info.error is not None:
                raise info.error
            raise ConnectionFailedError(f"the server closed the connection (code {info.code}) while "
                                        f"waiting for {what}")
        if not ok:
            raise ConnectionFailedError(f"timed out waiting for {what}")

    def _teardown(self, deadline: Deadline) -> None:
        self._stop_reconnect.set()
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None and reconnector is not threading.current_thread():
            reconnector.join(max(0.05, deadline.remaining() / 2))
            if reconnector.is_alive():
                log.warning("the reconnect thread is still opening a connection; abandoning it")
        self._pending_frames.clear()
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.request_stop()
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close(timeout=max(0.05, deadline.remaining() / 2))
        transport = self._transport
        if transport is not None:
            transport.close(timeout=max(0.05, deadline.remaining() / 2))
        self._tools.close(timeout=max(0.05, deadline.remaining() / 2))
        if refresher is not None:
            refresher.stop(max(0.05, deadline.remaining()))

    # --- internals: the reader side -------------------------------------------------------------

    def _on_frame(self, payload: Union[str, bytes]) -> None:
        for event in self._adapter.parse(payload):
            if isinstance(event, ev.SpeechStarted):
                self._barge_in()
            fx = Effects()
            with self._lock:
                self._conv.handle(event, fx, self._engine is not None and self._engine_playing_enabled())
                self._commit_locked(fx)
            self._apply(fx)
            if isinstance(event, ev.ProviderErrorEvent) and event.code in FATAL_PROVIDER_CODES:
                self._fail(ProviderError(f"the provider ended the session: {event.message}",
                                         provider=self._adapter.provider, details={"code": event.code}))

    def _fail(self, error: RealtimeError) -> None:
        """A fatal provider error: status error, connection closed, no reconnect."""
        with self._lock:
            if self._conv.status is not RealtimeStatus.CONNECTED:
                return
            self._conv.set_status(RealtimeStatus.ERROR, error)
            self._notify_locked("on_disconnect")
            self._commit_locked()
        self._drain_outbox()
        log.error("%s", error)
        transport = self._transport
        if transport is not None:
            transport.close(timeout=0.5)

    def _barge_in(self) -> None:
        engine = self._engine
        with self._lock:
            busy = self._conv.audible or self._conv.active_response is not None
        if not busy:
            return
        played = engine.flush() if engine is not None else None
        fx = Effects()
        with self._lock:
            cancel = not self._adapter.server_cancels_on_speech(self._config)
            self._conv.interrupt(played, cancel=cancel, fx=fx)
            self._commit_locked(fx)
        self._apply(fx)

    def _on_closed(self, generation: int, info: CloseInfo) -> None:
        with self._lock:
            self._closed_info = info
            self._cond.notify_all()
            if generation != self._generation or self._disconnecting:
                return
            if self._conv.status is not RealtimeStatus.CONNECTED:
                return  # connect() is still running and will report the failure
            if info.code == 1001:
                self._notify_locked("on_go_away", 0.0)
            reconnect = (not info.clean and self._reconnect is not None
                         and info.code in RECONNECT_CODES)
            if reconnect:
                fx = Effects()
                self._conv.session_lost(fx)
                self._conv.set_status(RealtimeStatus.RECONNECTING)
                self._replay_count = len(self._conv.messages)
                self._commit_locked(fx)
                log.warning("connection lost (%s, code %d): reconnecting", info.reason or "no reason",
                            info.code)
            elif info.clean:
                self._conv.set_status(RealtimeStatus.IDLE)
            else:
                self._conv.set_status(RealtimeStatus.ERROR, info.error)
                self._notify_locked("on_error", info.error)
            if not reconnect:
                self._notify_locked("on_disconnect")
            self._commit_locked()
        self._drain_outbox()
        if reconnect:
            engine = self._engine
            if engine is not None:
                engine.flush()  # the rest of that audio died with the session
            self._start_reconnect()
            return
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close(timeout=0.5)
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.request_stop()

    def _on_tool_result(self, outcome: Any) -> None:
        fx = Effects()
        with self._lock:
            if self._conv.status is not RealtimeStatus.CONNECTED:
                return
            self._conv.tool_finished(outcome, fx)
            self._commit_locked(fx)
        self._apply(fx)

    # --- reconnecting ------------------------------------------------------------------------

    def _start_reconnect(self) -> None:
        self._stop_reconnect = threading.Event()
        thread = threading.Thread(target=self._reconnect_loop, args=(self._stop_reconnect,),
                                  name="realtime-reconnect", daemon=True)
        self._reconnector = thread
        thread.start()

    def _reconnect_loop(self, stop: threading.Event) -> None:
        policy = self._reconnect
        assert policy is not None
        last: Optional[RealtimeError] = None
        for attempt in range(policy.attempts):
            if stop.wait(policy.delay(attempt, random.random())):
                return
            with self._lock:
                if self._disconnecting:
                    return
                self._generation += 1
                generation = self._generation
                self._closed_info = None
                self._conv.session_ready = self._conv.config_applied = False
                self._conv.config_error = None
            try:
                self._open_session(generation, Deadline(policy.connect_timeout))
            except PermissionDeniedError as exc:
                last = exc
                break  # the credentials were refused: retrying cannot help
            except RealtimeError as exc:
                last = exc
                log.warning("reconnect attempt %d of %d failed: %s", attempt + 1, policy.attempts, exc)
                self._close_transport()
                continue
            if stop.is_set():
                return
            self._resume_session()
            return
        if stop.is_set():
            return
        error = last or ConnectionFailedError("could not reconnect")
        with self._lock:
            if self._disconnecting:
                return
            self._conv.set_status(RealtimeStatus.ERROR, error)
            self._pending_frames.clear()
            self._notify_locked("on_error", error)
            self._notify_locked("on_disconnect")
            self._commit_locked()
        self._drain_outbox()
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close(timeout=0.5)

    def _resume_session(self) -> None:
        """Replay the conversation into the new session, send what was queued, go live again."""
        with self._lock:
            history = self._conv.messages[: self._replay_count]
            budget = self._reconnect.history_chars if self._reconnect is not None else 0
        frames = self._adapter.history_items(_within_budget(history, budget))
        for frame in frames:
            self._send_quietly(frame)
        with self._lock:
            queued = list(self._pending_frames)
            self._pending_frames.clear()
            self._conv.set_status(RealtimeStatus.CONNECTED)
            self._conv.settle_mode()
            self._commit_locked()
        for frame in queued:
            self._send_quietly(frame)
        self._drain_outbox()
        log.info("reconnected; replayed %d conversation items and %d queued frames", len(frames),
                 len(queued))

    def _close_transport(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.close(timeout=0.5)

    def _send_quietly(self, frame: Frame) -> None:
        try:
            self._send(frame)
        except RealtimeError as exc:
            log.warning("could not send %s: %s", frame.get("type"), exc)

    # --- internals: effects, notifications --------------------------------------------------------

    def _send(self, frame: Frame) -> None:
        transport = self._transport
        if transport is None:
            raise ConnectionFailedError("not connected")
        transport.send(json.dumps(frame, separators=(",", ":")))

    def _apply(self, fx: Effects) -> None:
        if fx.frames:
            with self._lock:
                if self._conv.status is RealtimeStatus.RECONNECTING:
                    self._pending_frames.extend(fx.frames)  # sent once the new session is live
                    fx.frames = []
        for frame in fx.frames:
            self._send_quietly(frame)
        engine = self._engine
        if engine is not None:
            for item_id in fx.drop_items:
                engine.drop_item(item_id)
            for item_id, pcm in fx.play:
                engine.play(item_id, pcm)
        for call in fx.tool_calls:
            self._tools.submit(call.call_id, call.name, call.arguments)
        self._drain_outbox()

    def _notify_locked(self, name: str, *args: Any) -> None:
        callback = self._callbacks.get(name)
        if callback is not None:
            self._notifier.queue(callback, *args)

    def _commit_locked(self, fx: Optional[Effects] = None) -> None:
        """Turn the reducer's changes into one snapshot plus queued notifications (lock held)."""
        conv, old = self._conv, self._state
        self._cond.notify_all()  # waiters also watch fields no snapshot shows (session_ready, ...)
        if fx is not None:
            for name, args in fx.notifications:
                self._notify_locked(name, *args)
        changed = (conv.version != self._seen_version or conv.status is not old.status
                   or conv.mode is not old.mode or conv.error is not old.error)
        if not changed:
            return
        new = conv.snapshot()
        self._seen_version = conv.version
        self._state = new
        if new.status is not old.status:
            self._notify_locked("on_status_change", new.status)
        if new.mode is not old.mode:
            self._notify_locked("on_mode_change", new.mode)
        for subscriber in self._subscribers:
            self._notifier.queue(subscriber, new)

    def _drain_outbox(self) -> None:
        self._notifier.flush()

    # --- internals: audio -----------------------------------------------------------------------

    def _start_audio(self) -> None:
        if not (self._auto_playback or self._auto_capture or self._audio_input or self._audio_output):
            return
        from .audio._engine import AudioEngine

        options = self._audio_options
        output = self._audio_output
        if output is None and self._auto_playback:
            from .audio import PyAudioOutput

            output = PyAudioOutput(device=options["output_device"])
        source = self._audio_input
        if source is None and self._auto_capture:
            from .audio import PyAudioInput

            source = PyAudioInput(device=options["input_device"])
        engine = AudioEngine(output=output if self._auto_playback or self._audio_output else None,
                             input=source, provider_output_rate=self._adapter.output_sample_rate,
                             provider_input_rate=self._adapter.input_sample_rate,
                             on_capture=self._on_capture, on_playback_started=self._on_playback_started,
                             on_playback_idle=self._on_playback_idle, on_error=self._report_error,
                             dispatcher=self._dispatcher, echo=options["echo"],
                             record_to=options["record_to"])
        self._engine = engine
        if output is not None and (self._auto_playback or self._audio_output is not None):
            engine.start_playback()
        if self._auto_capture and source is not None:
            engine.start_capture()

    def _has_input(self) -> bool:
        engine = self._engine
        return engine is not None and getattr(engine, "has_input", True)

    def _engine_capturing(self) -> bool:
        return bool(getattr(self._engine, "capturing", False))

    def _engine_playing_enabled(self) -> bool:
        return bool(getattr(self._engine, "has_output", True))

    def _on_capture(self, pcm: bytes) -> None:
        ms = len(pcm) / (self._adapter.input_sample_rate * 2 / 1000.0)
        with self._lock:
            # capture starts at the end of connect(), after the session config was applied
            if not self._conv.config_applied or self._disconnecting:
                return
            self._captured_ms += ms
        try:
            self._send(self._adapter.append_audio(pcm))
        except RealtimeError as exc:
            log.debug("dropping captured audio: %s", exc)

    def _on_playback_started(self, item_id: str) -> None:
        with self._lock:
            self._conv.playback_started(item_id)
            self._commit_locked()
        self._drain_outbox()

    def _on_playback_idle(self) -> None:
        with self._lock:
            self._conv.playback_idle()
            self._commit_locked()
        self._drain_outbox()


    # --- internals: token refresh -----------------------------------------------------------------

    def _start_refresher(self) -> None:
        token = self._token
        if not self._token_refresh or token is None or token.expires_at is None:
            return
        self._refresher = TokenRefresher(token, self._fetch_token, on_token=self._store_token,
                                         on_error=self._report_error)
        self._refresher.start()

    def _store_token(self, token: RealtimeToken) -> None:
        self._token = token

    def _report_error(self, error: Exception) -> None:
        with self._lock:
            self._notify_locked("on_error", error)
        self._drain_outbox()
