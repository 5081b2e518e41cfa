"""The blocking facade: ``RealtimeClient``."""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._conversation import Conversation, Effects
from ._errors import ConnectionFailedError, RealtimeError
from ._models import (
    ClientState,
    ImagePart,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    RealtimeToken,
    ReconnectPolicy,
    SessionConfig,
    TextPart,
)
from ._notify import Notifier
from ._refresh import TokenRefresher
from ._transport import CloseInfo, WebSocketTransport
from ._types import Adapter, AudioInput, AudioOutput, Dispatcher
from ._util import Deadline, new_id
from ._validate import check_client_options, image_payload, optional_path
from ._wiring import ClientWiring
from .dispatch import ThreadDispatcher

__all__ = ["RealtimeClient"]

log = logging.getLogger("realtime_client")

TokenGetter = Callable[[], Union[RealtimeToken, Mapping[str, Any]]]
_CALLBACKS = ("on_status_change", "on_mode_change", "on_message", "on_error", "on_connect",
              "on_disconnect", "on_interrupted", "on_usage", "on_go_away")
_SESSION_OPTIONS = ("instructions", "voice", "tools", "vad_mode", "vad_config", "output_modalities",
                    "temperature", "max_output_tokens", "semantic_eagerness", "provider_options", "model")
MANUAL_COMMIT_MIN_MS = 100


class RealtimeClient(ClientWiring):
    """A realtime voice conversation with an AI model, for code that is not async.

    ``connect()`` blocks until the session is live; everything else returns at once, and
    events arrive through the ``on_*`` callbacks and :meth:`on_state_change` subscribers.

    Args (all keyword-only):
        get_token: callable returning a :class:`RealtimeToken` or TanStack/snake_case token JSON;
            called on ``connect()`` and by the refresh timer before the token expires.
        adapter: the provider protocol, default ``openai_realtime()``.
        tools: :class:`Tool` objects or plain functions (wrapped with :func:`tool`).
        auto_playback / auto_capture: start the speaker / microphone on connect.
        instructions, voice, vad_mode (``server``/``semantic``/``manual``), vad_config,
            output_modalities, temperature, max_output_tokens, semantic_eagerness,
            provider_options, model: the session settings (see :class:`SessionConfig`).
        audio_input / audio_output: devices from :mod:`realtime_client.audio`; default the
            PyAudio microphone and speaker.
        input_device / output_device: which PyAudio device to open when ``audio_input`` /
            ``audio_output`` is not given: an index or a case-insensitive name substring.
        echo: ``"off"`` (headphones), ``"gate"`` (default: while the assistant is audible, only
            microphone audio clearly louder than the expected echo is sent) or ``"aec"`` (a
            real acoustic echo canceller; needs ``pip install realtime-client[aec]``).
        record_to: a WAV path; the user's and the assistant's audio, as heard, are recorded
            into its left and right channels.
        dispatcher: where callbacks run (default: one ``realtime-callbacks`` thread).
        tool_timeout: seconds a tool handler may take before an error result is sent.
        ping_interval / ping_timeout: WebSocket keep-alive after this much inbound silence.
        max_frame_bytes: larger incoming frames end the connection (code 1009).
        token_refresh: refetch the token before ``expires_at`` (60 s early, or halfway for
            short-lived tokens).
        reconnect: after an abnormal close (a dropped network, the provider's session cap), fetch
            a fresh token, reconnect with backoff, re-apply the session and replay the
            conversation (``True``: the default :class:`ReconnectPolicy`; ``False``: never).
        max_queued_frames: while reconnecting, user messages are queued up to this many frames;
            beyond that ``send_text`` raises.
        on_status_change, on_mode_change, on_message, on_error, on_connect, on_disconnect,
            on_interrupted, on_usage, on_go_away: callbacks (see the design doc for when each
            fires; ``on_message`` fires once per message).

    Raises:
        TypeError / ValueError: a bad option, at construction time.

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
        input_device: Union[int, str, None] = None,
        output_device: Union[int, str, None] = None,
        echo: str = "gate",
        record_to: Optional[str] = None,
        dispatcher: Optional[Dispatcher] = None,
        tool_timeout: float = 30.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        max_frame_bytes: int = 32 * 1024 * 1024,
        token_refresh: bool = True,
        reconnect: Union[bool, ReconnectPolicy] = True,
        max_queued_frames: int = 256,
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
        check_client_options(adapter=adapter, instructions=instructions, voice=voice, model=model,
                             provider_options=provider_options, audio_input=audio_input,
                             audio_output=audio_output, input_device=input_device,
                             output_device=output_device, record_to=record_to, tool_timeout=tool_timeout,
                             ping_interval=ping_interval, ping_timeout=ping_timeout,
                             max_frame_bytes=max_frame_bytes, token_refresh=token_refresh, echo=echo)
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
        self._audio_options: Dict[str, Any] = dict(input_device=input_device, output_device=output_device,
                                                   echo=echo, record_to=optional_path(record_to))
        self._own_dispatcher = ThreadDispatcher() if dispatcher is None else None
        self._dispatcher: Dispatcher = dispatcher or self._own_dispatcher  # type: ignore[assignment]
        self._callbacks: Dict[str, Optional[Callable[..., Any]]] = callbacks
        self._subscribers: List[Callable[[ClientState], Any]] = []
        self._transport_options = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                       max_frame_bytes=max_frame_bytes)
        self._token_refresh = token_refresh
        if reconnect is True:
            reconnect = ReconnectPolicy()
        if reconnect is not False and not isinstance(reconnect, ReconnectPolicy):
            raise TypeError("reconnect must be True, False or a ReconnectPolicy")
        self._reconnect = reconnect or None
        self._reconnector = None
        self._stop_reconnect = threading.Event()
        self._replay_count = 0
        self._pending_frames = collections.deque()
        if max_queued_frames < 1:
            raise ValueError(f"max_queued_frames must be at least 1, got {max_queued_frames!r}")
        self._max_queued_frames = max_queued_frames

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
        from ._shutdown import register

        register(self)

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
            self._check_usable()
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
            TypeError: not a string. ValueError: empty text. RealtimeError: not connected.
        """
        if not isinstance(text, str):
            raise TypeError(f"send_text needs a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("send_text needs a non-empty string")
        return self._send_user_parts((TextPart(text),), "send text")

    def send_image(self, data: Union[str, bytes], mime_type: str = "image/png") -> RealtimeMessage:
        """Send an image as a user message: raw bytes, base64 text, an http(s) URL or a ``data:`` URL.

        Raises:
            TypeError / ValueError: not an image we can send (empty, not base64, over 20 MiB, or
                not PNG/JPEG/WebP/GIF). RealtimeError: not connected.
        """
        data, mime_type = image_payload(data, mime_type)
        return self._send_user_parts((ImagePart(data, mime_type),), "send an image")

    def _send_user_parts(self, parts: Tuple[Any, ...], what: str) -> RealtimeMessage:
        fx = Effects()
        with self._lock:
            self._check_usable()
            if self._conv.status is RealtimeStatus.RECONNECTING:
                if len(self._pending_frames) + 2 > self._max_queued_frames:
                    raise RealtimeError(f"cannot {what}: reconnecting, and {len(self._pending_frames)} "
                                        "frames are already waiting to be sent", code="CONNECTION_FAILED")
            else:
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
            self._check_usable()
            seen = self._conv.turns_completed
        return self._wait_turn(seen, Deadline(timeout))

    def _wait_turn(self, seen: int, deadline: Deadline) -> RealtimeMessage:
        with self._cond:
            ended = (RealtimeStatus.IDLE, RealtimeStatus.ERROR)
            self._cond.wait_for(lambda: self._conv.turns_completed > seen or self._conv.status in ended,
                                deadline.remaining())
            if self._conv.turns_completed > seen and self._conv.last_turn is not None:
                return self._conv.last_turn
            status, error = self._conv.status, self._conv.error
        if status in ended:
            if isinstance(error, RealtimeError):
                raise error
            raise RealtimeError(f"the client is {status.value}; no response will come",
                                code="CONNECTION_FAILED")
        raise TimeoutError(f"no complete assistant response within {deadline.timeout:g} s")
