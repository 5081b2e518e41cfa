"""The blocking facade: ``RealtimeClient``."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _events as ev
from ._conversation import Conversation, Effects
from ._errors import ConnectionFailedError, RealtimeError, TokenExpiredError
from ._models import (
    ClientState,
    ImagePart,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    RealtimeToken,
    SessionConfig,
    TextPart,
)
from ._notify import Notifier
from ._refresh import TokenRefresher
from ._transport import CloseInfo, WebSocketTransport
from ._types import Adapter, AudioInput, AudioOutput, Dispatcher, Frame
from ._util import Deadline, new_id
from .dispatch import ThreadDispatcher

__all__ = ["RealtimeClient"]

log = logging.getLogger("realtime_client")

TokenGetter = Callable[[], Union[RealtimeToken, Mapping[str, Any]]]
_CALLBACKS = ("on_status_change", "on_mode_change", "on_message", "on_error", "on_connect",
              "on_disconnect", "on_interrupted", "on_usage", "on_go_away")
_SESSION_OPTIONS = ("instructions", "voice", "tools", "vad_mode", "vad_config", "output_modalities",
                    "temperature", "max_output_tokens", "semantic_eagerness", "provider_options", "model")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MANUAL_COMMIT_MIN_MS = 100


class RealtimeClient:
    """A realtime voice conversation with an AI model, for code that is not async.

    ``connect()`` blocks until the session is live; everything else returns at once, and
    events arrive through the ``on_*`` callbacks and :meth:`on_state_change` subscribers.
    See the README for the full list of options; every option is keyword-only.

    Threads: every public method may be called from any thread, including from inside a
    callback. Callbacks run on the dispatcher's thread (by default one thread named
    ``realtime-callbacks``), never on the socket-reader or audio threads.

    Example::

        with RealtimeClient(get_token=server.get_token, adapter=openai_realtime(server.url),
                            auto_capture=False, auto_playback=False) as client:
            print(client.ask("What's 2+2?", timeout=30).text)

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        get_token: TokenGetter,
        adapter: Optional[Adapter] = None,
        tools: Sequence[Any] = (),
        auto_playback: bool = True,
        auto_capture: bool = True,
        instructions: Optional[str] = None,
        voice: Optional[str] = None,
        vad_mode: str = "server",
        vad_config: Any = None,
        output_modalities: Any = None,
        temperature: Optional[float] = None,
        max_output_tokens: Union[int, str, None] = None,
        semantic_eagerness: Optional[str] = None,
        provider_options: Optional[Mapping[str, Any]] = None,
        model: Optional[str] = None,
        audio_input: Optional[AudioInput] = None,
        audio_output: Optional[AudioOutput] = None,
        dispatcher: Optional[Dispatcher] = None,
        tool_timeout: float = 30.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        token_refresh: bool = True,
        on_status_change: Optional[Callable[[RealtimeStatus], Any]] = None,
        on_mode_change: Optional[Callable[[RealtimeMode], Any]] = None,
        on_message: Optional[Callable[[RealtimeMessage], Any]] = None,
        on_error: Optional[Callable[[RealtimeError], Any]] = None,
        on_connect: Optional[Callable[[], Any]] = None,
        on_disconnect: Optional[Callable[[], Any]] = None,
        on_interrupted: Optional[Callable[[], Any]] = None,
        on_usage: Optional[Callable[[Any], Any]] = None,
        on_go_away: Optional[Callable[[float], Any]] = None,
    ) -> None:
        if not callable(get_token):
            raise TypeError("get_token must be a callable returning a RealtimeToken or a dict")
        if dispatcher is not None and not callable(dispatcher):
            raise TypeError("dispatcher must be a callable taking a zero-argument function")
        if tool_timeout <= 0:
            raise ValueError(f"tool_timeout must be positive, got {tool_timeout!r}")
        callbacks = dict(on_status_change=on_status_change, on_mode_change=on_mode_change,
                         on_message=on_message, on_error=on_error, on_connect=on_connect,
                         on_disconnect=on_disconnect, on_interrupted=on_interrupted, on_usage=on_usage,
                         on_go_away=on_go_away)
        for name, cb in callbacks.items():
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} must be callable, got {type(cb).__name__}")
        if adapter is None:
            from .adapters import openai_realtime

            adapter = openai_realtime()
        from ._tools import ToolRunner, as_tool

        self._runner_cls = ToolRunner

        self._config = SessionConfig(
            model=model, voice=voice, instructions=instructions, tools=tuple(as_tool(t) for t in tools),
            vad_mode=vad_mode, vad_config=vad_config, output_modalities=output_modalities,
            temperature=temperature, max_output_tokens=max_output_tokens,
            semantic_eagerness=semantic_eagerness, provider_options=dict(provider_options or {}))
        self._get_token = get_token
        self._adapter = adapter
        self._auto_playback = auto_playback
        self._auto_capture = auto_capture
        self._audio_input = audio_input
        self._audio_output = audio_output
        self._own_dispatcher = ThreadDispatcher() if dispatcher is None else None
        self._dispatcher: Dispatcher = dispatcher or self._own_dispatcher  # type: ignore[assignment]
        self._callbacks: Dict[str, Optional[Callable[..., Any]]] = callbacks
        self._subscribers: List[Callable[[ClientState], Any]] = []
        self._ping = (ping_interval, ping_timeout)
        self._token_refresh = token_refresh

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._conv = Conversation(adapter, transcribes_input=getattr(adapter, "transcribes_input", True))
        self._state = self._conv.snapshot()
        self._seen_version = -1
        self._notifier = Notifier(self._dispatcher)
        self._generation = 0
        self._destroyed = False
        self._disconnecting = False
        self._closed_info: Optional[CloseInfo] = None
        self._transport: Optional[WebSocketTransport] = None
        self._engine: Any = None
        self._token: Optional[RealtimeToken] = None
        self._tool_timeout = tool_timeout
        self._tools = ToolRunner(self._config.tools, default_timeout=tool_timeout,
                                 on_result=self._on_tool_result)
        self._refresher: Optional[TokenRefresher] = None
        self._ask_lock = threading.Lock()
        self._captured_ms = 0.0

    # --- read-only state ------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """The current :class:`ClientState` snapshot (immutable)."""
        return self._state

    @property
    def status(self) -> RealtimeStatus:
        return self._state.status

    @property
    def mode(self) -> RealtimeMode:
        return self._state.mode

    @property
    def messages(self) -> Tuple[RealtimeMessage, ...]:
        return self._state.messages

    @property
    def error(self) -> Optional[Exception]:
        return self._state.error

    @property
    def pending_user_transcript(self) -> str:
        return self._state.pending_user_transcript

    @property
    def pending_assistant_transcript(self) -> str:
        return self._state.pending_assistant_transcript

    @property
    def session_config(self) -> SessionConfig:
        """The session settings applied on connect and remembered for reconnects."""
        return self._config

    @property
    def audio(self) -> Any:
        """The :class:`~realtime_client.audio.AudioVisualization`, or ``None`` when not connected."""
        engine = self._engine
        return engine.visualization if engine is not None else None

    def __repr__(self) -> str:
        s = self._state
        return (f"<RealtimeClient provider={self._adapter.provider} status={s.status.value} "
                f"mode={s.mode.value} messages={len(s.messages)}>")

    def on_state_change(self, callback: Callable[[ClientState], Any]) -> Callable[[], None]:
        """Subscribe to every state change; returns a function that unsubscribes.

        Threads: ``callback`` runs on the dispatcher's thread with the new snapshot.
        """
        if not callable(callback):
            raise TypeError("on_state_change needs a callable")
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]

        return unsubscribe

    # --- lifecycle -----------------------------------------------------------------------

    def connect(self, timeout: float = 15.0) -> None:
        """Fetch a token, open the connection, apply the session config and start audio.

        Blocks until the provider confirmed the session and applied the configuration.

        Raises:
            RealtimeError: ``CONNECTION_FAILED`` (token fetch failed, refused, dropped, timed
                out), ``PERMISSION_DENIED``, ``TOKEN_EXPIRED``, ``PROVIDER_ERROR`` (the provider
                rejected the session config) or ``AUDIO_DEVICE``. Status is then ``error``.

        Threads: any thread except the dispatcher's own when it is the default one (the
        callbacks fired while connecting would wait behind the call).
        """
        deadline = Deadline(timeout)
        with self._lock:
            self._check_usable()
            if self._conv.status is RealtimeStatus.CONNECTED:
                return
            if self._conv.status in (RealtimeStatus.CONNECTING, RealtimeStatus.RECONNECTING):
                raise RealtimeError("connect() is already in progress on another thread",
                                    code="CONNECTION_FAILED")
            self._generation += 1
            generation = self._generation
            self._disconnecting = False
            self._closed_info = None
            self._conv.reset_session()
            self._conv.manual = self._config.vad_mode == "manual"
            self._conv.set_status(RealtimeStatus.CONNECTING)
            self._commit_locked()
        if self._own_dispatcher is not None:
            self._own_dispatcher.start()
        self._tools = self._runner_cls(self._config.tools, default_timeout=self._tool_timeout,
                                       on_result=self._on_tool_result)
        self._drain_outbox()
        try:
            self._open_session(generation, deadline)
            self._start_audio()
        except BaseException as exc:
            err = exc if isinstance(exc, RealtimeError) else ConnectionFailedError(
                f"connect failed: {type(exc).__name__}: {exc}")
            self._teardown(Deadline(1.0))
            with self._lock:
                self._conv.set_status(RealtimeStatus.ERROR, err)
                self._notify_locked("on_error", err)
                self._commit_locked()
            self._drain_outbox()
            if err is exc:
                raise
            raise err from exc
        with self._lock:
            self._conv.set_status(RealtimeStatus.CONNECTED)
            self._conv.mic_open = self._engine is not None and self._engine_capturing()
            self._conv.settle_mode()
            self._notify_locked("on_connect")
            self._commit_locked()
        self._drain_outbox()
        self._start_refresher()

    def _open_session(self, generation: int, deadline: Deadline) -> None:
        token = self._fetch_token()
        self._token = token
        request = self._adapter.connection_request(token, self._config)
        transport = WebSocketTransport(on_frame=self._on_frame,
                                       on_close=functools.partial(self._on_closed, generation),
                                       ping_interval=self._ping[0], ping_timeout=self._ping[1])
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

    def disconnect(self) -> None:
        """Stop audio, close the connection, cancel timers and join threads; status ``idle``.

        Idempotent. Safe from any thread, including from inside a callback or a tool handler.
        All ``realtime-*`` threads are joined within about one second.
        """
        deadline = Deadline(1.0)
        with self._lock:
            self._disconnecting = True
            self._generation += 1
            was = self._conv.status
            self._cond.notify_all()
        self._teardown(deadline)
        with self._lock:
            self._conv.reset_session()
            self._conv.set_status(RealtimeStatus.IDLE)
            if was in (RealtimeStatus.CONNECTED, RealtimeStatus.RECONNECTING):
                self._notify_locked("on_disconnect")
            self._commit_locked()
        self._drain_outbox()
        if self._own_dispatcher is not None:
            self._own_dispatcher.stop(max(0.05, deadline.remaining()))

    def destroy(self) -> None:
        """Disconnect, drop subscriptions and callbacks, release audio. Idempotent.

        After this every method except ``disconnect``/``destroy`` raises ``RealtimeError``.
        """
        self.disconnect()
        with self._lock:
            self._destroyed = True
            self._subscribers = []
            self._callbacks = dict.fromkeys(self._callbacks)

    def __enter__(self) -> RealtimeClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.destroy()

    def _teardown(self, deadline: Deadline) -> None:
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

    def _check_usable(self) -> None:
        if self._destroyed:
            raise RealtimeError("this RealtimeClient was destroyed; create a new one", code="UNKNOWN")

    def _require_connected_locked(self, what: str) -> None:
        self._check_usable()
        if self._conv.status is not RealtimeStatus.CONNECTED:
            raise RealtimeError(f"cannot {what}: the client is {self._conv.status.value}, not connected",
                                code="CONNECTION_FAILED")

    # --- conversation intents --------------------------------------------------------------

    def send_text(self, text: str) -> RealtimeMessage:
        """Add a user text message and ask for a response. Returns at once with the message.

        Raises:
            ValueError: empty text. RealtimeError: not connected.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("send_text needs a non-empty string")
        return self._send_user_parts((TextPart(text),), "send text")

    def send_image(self, data: Union[str, bytes], mime_type: str = "image/png") -> RealtimeMessage:
        """Send an image (base64 text, raw bytes, or an http(s) URL) as a user message."""
        if isinstance(data, (bytes, bytearray)):
            raw_len = len(data)
            data = base64.b64encode(bytes(data)).decode("ascii")
        elif isinstance(data, str) and data.startswith(("http://", "https://", "data:")):
            raw_len = 0
        elif isinstance(data, str):
            try:
                raw_len = len(base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError("send_image data must be base64, bytes, or an http(s)/data URL") from exc
        else:
            raise TypeError(f"send_image data must be str or bytes, got {type(data).__name__}")
        if mime_type not in _IMAGE_TYPES:
            raise ValueError(f"unsupported image type {mime_type!r}; use one of {', '.join(_IMAGE_TYPES)}")
        if raw_len > MAX_IMAGE_BYTES:
            raise ValueError(f"image is {raw_len} bytes; the limit is {MAX_IMAGE_BYTES}")
        return self._send_user_parts((ImagePart(data, mime_type),), "send an image")

    def _send_user_parts(self, parts: Tuple[Any, ...], what: str) -> RealtimeMessage:
        fx = Effects()
        with self._lock:
            self._require_connected_locked(what)
            msg = RealtimeMessage(id=new_id("msg"), role="user", parts=parts)
            self._conv.add_user_message(msg, fx)
            self._commit_locked(fx)
        self._apply(fx)
        return msg

    def update_session(self, **changes: Any) -> None:
        """Change session settings (``instructions``, ``voice``, ``tools``, ``vad_mode``, ...).

        The change is remembered for later connects; when connected it is sent at once and a
        rejection by the provider arrives through ``on_error``.
        """
        unknown = set(changes) - set(_SESSION_OPTIONS)
        if unknown:
            raise TypeError(f"unknown session option(s): {', '.join(sorted(unknown))}")
        if "tools" in changes:
            from ._tools import as_tool

            changes["tools"] = tuple(as_tool(t) for t in changes["tools"])
        with self._lock:
            self._check_usable()
            self._config = self._config.merged(**changes)
            self._conv.manual = self._config.vad_mode == "manual"
            connected = self._conv.status is RealtimeStatus.CONNECTED
            config = self._config
            if connected:
                self._conv.config_event_id = new_id("evt_cfg")
            event_id = self._conv.config_event_id
        self._tools.update_tools(config.tools)
        if connected:
            self._send(self._adapter.session_update(config, event_id))

    def interrupt(self) -> None:
        """Cut the assistant off now: stop playback, cancel the response, truncate to what was heard.

        Does nothing (and raises nothing) when nothing is playing and no response is active.
        """
        engine = self._engine
        played = engine.flush() if engine is not None else None
        fx = Effects()
        with self._lock:
            if self._conv.status is not RealtimeStatus.CONNECTED:
                return
            self._conv.interrupt(played, cancel=True, fx=fx)
            self._commit_locked(fx)
        self._apply(fx)

    def start_listening(self) -> None:
        """Open the microphone and stream it to the provider."""
        with self._lock:
            self._require_connected_locked("start listening")
            engine = self._engine
        if engine is None or not self._has_input():
            raise RealtimeError("no audio input: pass audio_input= or use the default microphone",
                                code="AUDIO_DEVICE")
        with self._lock:
            self._captured_ms = 0.0
        engine.start_capture()
        with self._lock:
            self._conv.mic_open = True
            self._conv.settle_mode()
            self._commit_locked()
        self._drain_outbox()

    def stop_listening(self) -> None:
        """Close the microphone. With ``vad_mode='manual'`` this commits the captured audio
        (at least 100 ms; less is discarded) and asks for a response: push-to-talk."""
        engine = self._engine
        if engine is not None:
            engine.stop_capture()
        fx = Effects()
        with self._lock:
            if self._conv.status is not RealtimeStatus.CONNECTED:
                return
            was_open = self._conv.mic_open
            self._conv.mic_open = False
            if was_open and self._conv.manual:
                if self._captured_ms >= MANUAL_COMMIT_MIN_MS:
                    fx.frames.append(self._adapter.commit_audio())
                    self._conv.request_response(fx)
                    self._conv.mode = RealtimeMode.THINKING
                else:
                    fx.frames.append(self._adapter.clear_audio())
                    self._conv.settle_mode()
            self._captured_ms = 0.0
            self._commit_locked(fx)
        self._apply(fx)

    def ask(self, text: str, timeout: float = 60.0) -> RealtimeMessage:
        """Send ``text`` and block until the assistant's answer is complete; return it.

        Concurrent calls are serialized. Raises the builtin ``TimeoutError`` on timeout.
        """
        deadline = Deadline(timeout)
        if not self._ask_lock.acquire(timeout=deadline.remaining()):
            raise TimeoutError("another ask() is still waiting for its answer")
        try:
            with self._lock:
                seen = self._conv.turns_completed
            self.send_text(text)
            return self._wait_turn(seen, deadline)
        finally:
            self._ask_lock.release()

    def wait_for_response(self, timeout: float = 60.0) -> RealtimeMessage:
        """Block until the next assistant answer is complete (tool round trips included)."""
        with self._lock:
            seen = self._conv.turns_completed
        return self._wait_turn(seen, Deadline(timeout))

    def _wait_turn(self, seen: int, deadline: Deadline) -> RealtimeMessage:
        with self._cond:
            self._cond.wait_for(lambda: self._conv.turns_completed > seen
                                or self._conv.status is not RealtimeStatus.CONNECTED, deadline.remaining())
            if self._conv.turns_completed > seen and self._conv.last_turn is not None:
                return self._conv.last_turn
            status, error = self._conv.status, self._conv.error
        if status is not RealtimeStatus.CONNECTED:
            if isinstance(error, RealtimeError):
                raise error
            raise RealtimeError(f"the client is {status.value}; no response will come",
                                code="CONNECTION_FAILED")
        raise TimeoutError(f"no complete assistant response within {deadline.timeout:g} s")

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
            if info.clean:
                self._conv.set_status(RealtimeStatus.IDLE)
            else:
                self._conv.set_status(RealtimeStatus.ERROR, info.error)
                self._notify_locked("on_error", info.error)
            self._notify_locked("on_disconnect")
            self._commit_locked()
        self._drain_outbox()
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

    # --- internals: effects, notifications --------------------------------------------------------

    def _send(self, frame: Frame) -> None:
        transport = self._transport
        if transport is None:
            raise ConnectionFailedError("not connected")
        transport.send(json.dumps(frame, separators=(",", ":")))

    def _apply(self, fx: Effects) -> None:
        for frame in fx.frames:
            try:
                self._send(frame)
            except RealtimeError as exc:
                log.warning("could not send %s: %s", frame.get("type"), exc)
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

        output = self._audio_output
        if output is None and self._auto_playback:
            from .audio import PyAudioOutput

            output = PyAudioOutput()
        source = self._audio_input
        if source is None and self._auto_capture:
            from .audio import PyAudioInput

            source = PyAudioInput()
        engine = AudioEngine(output=output if self._auto_playback or self._audio_output else None,
                             input=source, provider_output_rate=self._adapter.output_sample_rate,
                             provider_input_rate=self._adapter.input_sample_rate,
                             on_capture=self._on_capture, on_playback_started=self._on_playback_started,
                             on_playback_idle=self._on_playback_idle, on_error=self._report_error,
                             dispatcher=self._dispatcher)
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
