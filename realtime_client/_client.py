"""The blocking facade: ``RealtimeClient``."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

from . import _actions as act
from . import _intents as it
from ._errors import ConnectionFailedError, RealtimeError
from ._live import AudioOptions, LiveSession
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
from ._provider import Adapter, provider_of
from ._state import StateOwner
from ._types import AudioInput, AudioOutput, Dispatcher
from ._util import Deadline, new_id
from ._validate import ImageData, check_client_options, image_payload, optional_path
from .dispatch import ThreadDispatcher

if TYPE_CHECKING:
    from .audio import AudioVisualization

__all__ = ["RealtimeClient"]

log = logging.getLogger("realtime_client")

TokenGetter = Callable[[], Union[RealtimeToken, Mapping[str, Any]]]
_CALLBACKS = ("on_status_change", "on_mode_change", "on_message", "on_error", "on_connect",
              "on_disconnect", "on_interrupted", "on_usage", "on_go_away", "on_provider_event")
_SESSION_OPTIONS = ("instructions", "voice", "tools", "vad_mode", "vad_config", "output_modalities",
                    "temperature", "max_output_tokens", "semantic_eagerness", "provider_options", "model")


class RealtimeClient:
    """A realtime voice conversation with an AI model, for code that is not async.

    ``connect()`` blocks until the session is live; everything else returns at once, and
    events arrive through the ``on_*`` callbacks and :meth:`on_state_change` subscribers.

    All arguments are keyword-only.

    Args:
        get_token: callable returning a :class:`RealtimeToken` or TanStack/snake_case token JSON;
            called on ``connect()``, on every reconnect and by the refresh timer before the
            token expires (see :mod:`realtime_client.tokens`). Only
            an adapter whose ``requires_token`` is false may go without one (an ElevenLabs
            public agent); it then connects with an empty token.
        adapter: the provider protocol, default ``openai_realtime()``.
        tools: :class:`Tool` objects or plain functions (wrapped with :func:`tool`).
        auto_playback: open the speaker on connect (with ``False`` and no ``audio_output``,
            assistant audio is not played).
        auto_capture: open the microphone on connect (with ``False`` and no ``audio_input``,
            there is no microphone at all).
        instructions: the system instructions (session setting, see :class:`SessionConfig`).
        voice: the output voice.
        vad_mode: turn detection: ``"server"`` (default), ``"semantic"`` or ``"manual"``
            (push-to-talk with :meth:`start_listening` / :meth:`stop_listening`).
        vad_config: a :class:`VADConfig` or a dict of its fields.
        output_modalities: ``"audio"`` (speech with a transcript) or ``"text"``.
        temperature: sampling temperature, for providers that take one (the OpenAI GA adapter
            refuses it).
        max_output_tokens: a positive int or ``"inf"``.
        semantic_eagerness: ``"low"``, ``"medium"``, ``"high"`` or ``"auto"``, with
            ``vad_mode="semantic"``.
        provider_options: deep-merged into the provider's own session object.
        model: the model (else the adapter's or the token's).
        audio_input: an input device from :mod:`realtime_client.audio` (or any
            ``AudioInput``); default the PyAudio microphone.
        audio_output: an output device (or any ``AudioOutput``); default the PyAudio speaker.
        input_device: which PyAudio microphone to open when ``audio_input`` is not given: an
            index or a case-insensitive name substring.
        output_device: which PyAudio speaker to open when ``audio_output`` is not given.
        echo: ``"off"`` (headphones), ``"gate"`` (default: while the assistant is audible, only
            microphone audio clearly louder than the expected echo is sent) or ``"aec"`` (a
            real acoustic echo canceller; needs ``pip install realtime-client[aec]``).
        record_to: a WAV path; the user's and the assistant's audio, as heard, are recorded
            into its left and right channels.
        capture_chunk_ms: milliseconds of microphone audio per frame sent (20 to 1000, rounded
            up to a multiple of 20; echo handling works in 20 ms either way). Default: what the
            provider recommends, 20 ms, or 100 ms for ElevenLabs. Smaller reaches the
            provider's voice detection sooner; larger costs less CPU (one wake-up and one
            frame per chunk).
        dispatcher: where callbacks run (default: one ``realtime-callbacks`` thread; see
            :mod:`realtime_client.dispatch`).
        tool_timeout: seconds a tool handler may take before an error result is sent.
        ping_interval: seconds of inbound silence before a WebSocket ping (default: what the
            provider tolerates, 20 s for OpenAI; 0 turns pings off).
        ping_timeout: seconds to wait for the pong (default 20 s for OpenAI).
        max_frame_bytes: larger incoming frames end the connection (code 1009).
        ca_file: a PEM bundle of certificate authorities to trust for ``wss://`` instead of the
            system's (a corporate TLS proxy, a test server); certificates are always verified.
        token_refresh: refetch the token before ``expires_at`` (60 s early, or halfway for
            short-lived tokens).
        reconnect: after an abnormal close (a dropped network, the provider's session cap), fetch
            a fresh token, reconnect with backoff, re-apply the session and replay the
            conversation (``True``: the default :class:`ReconnectPolicy`; ``False``: never).
        max_queued_frames: while reconnecting, user messages are queued up to this many frames;
            beyond that ``send_text`` raises.
        on_status_change: ``callback(status)`` whenever :attr:`status` changes.
        on_mode_change: ``callback(mode)`` whenever :attr:`mode` changes.
        on_message: ``callback(message)`` once per message: a user message when it is added,
            an assistant message when it is complete (or cut off).
        on_error: ``callback(error)`` with each :class:`RealtimeError` reported during a
            session (and a failed ``connect()``).
        on_connect: ``callback()`` when ``connect()`` made the session live. ``on_connect``
            and ``on_disconnect`` bracket a session as the app sees it: they fire for
            ``connect()`` and when the session ends, not around an automatic reconnect
            (watch ``on_status_change`` for ``reconnecting`` -> ``connected``).
        on_disconnect: ``callback()`` when a connected (or reconnecting) session ended.
        on_interrupted: ``callback()`` when barge-in or :meth:`interrupt` cut the assistant off.
        on_usage: ``callback(usage)`` with the :class:`UsageInfo` of each response.
        on_go_away: ``callback(time_left)`` when the provider announces the end of the
            session (OpenAI: ``0.0`` at its 60-minute close).
        on_provider_event: ``callback(name, data)`` with provider-specific news that has no
            place in the conversation state, as a name and a dict (ElevenLabs: ``"vad_score"``
            ``{"vad_score": 0.93}``, ``"latency"`` ``{"ping_ms": 41}``, ``"conversation"``
            ``{"conversation_id": ...}``; docs/providers.md lists them).
        on_state_change: a first :meth:`on_state_change` subscriber (every snapshot).

    See docs/callbacks.md for when each callback fires and in which order.

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
        get_token: Optional[TokenGetter] = None,
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
        capture_chunk_ms: Optional[int] = None,
        dispatcher: Optional[Dispatcher] = None,
        tool_timeout: float = 30.0,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        max_frame_bytes: int = 32 * 1024 * 1024,
        ca_file: Optional[str] = None,
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
        on_provider_event: Optional[Callable[[str, Dict[str, Any]], Any]] = None,
        on_state_change: Optional[Callable[[ClientState], Any]] = None,
    ) -> None:
        if get_token is not None and not callable(get_token):
            raise TypeError("get_token must be a callable returning a RealtimeToken or a dict")
        if dispatcher is not None and not callable(dispatcher):
            raise TypeError("dispatcher must be a callable taking a zero-argument function")
        check_client_options(adapter=adapter, instructions=instructions, voice=voice, model=model,
                             provider_options=provider_options, audio_input=audio_input,
                             audio_output=audio_output, input_device=input_device,
                             output_device=output_device, record_to=record_to, tool_timeout=tool_timeout,
                             ping_interval=ping_interval, ping_timeout=ping_timeout,
                             max_frame_bytes=max_frame_bytes, token_refresh=token_refresh, echo=echo,
                             ca_file=ca_file, capture_chunk_ms=capture_chunk_ms)
        callbacks: Dict[str, Optional[Callable[..., Any]]] = dict(
            on_status_change=on_status_change, on_mode_change=on_mode_change, on_message=on_message,
            on_error=on_error, on_connect=on_connect, on_disconnect=on_disconnect,
            on_interrupted=on_interrupted, on_usage=on_usage, on_go_away=on_go_away,
            on_provider_event=on_provider_event)
        for name, cb in (*callbacks.items(), ("on_state_change", on_state_change)):
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} must be callable, got {type(cb).__name__}")
        if adapter is None:
            from .adapters import openai_realtime

            adapter = openai_realtime()
        if get_token is None and getattr(adapter, "requires_token", True):
            raise TypeError(f"get_token is required for the {provider_of(adapter)} provider")
        from ._tools import as_session_tool

        config = SessionConfig(
            model=model, voice=voice, instructions=instructions,
            tools=tuple(as_session_tool(t) for t in tools), vad_mode=vad_mode, vad_config=vad_config,
            output_modalities=output_modalities, temperature=temperature,
            max_output_tokens=max_output_tokens, semantic_eagerness=semantic_eagerness,
            provider_options=dict(provider_options or {}))
        check = getattr(adapter, "check_config", None)
        if callable(check):
            check(config)
        if reconnect is True:
            reconnect = ReconnectPolicy()
        if reconnect is not False and not isinstance(reconnect, ReconnectPolicy):
            raise TypeError("reconnect must be True, False or a ReconnectPolicy")
        if max_queued_frames < 1:
            raise ValueError(f"max_queued_frames must be at least 1, got {max_queued_frames!r}")
        self._adapter = adapter
        self._get_token = get_token
        self._audio = AudioOptions(auto_playback=auto_playback, auto_capture=auto_capture,
                                   audio_input=audio_input, audio_output=audio_output,
                                   input_device=input_device, output_device=output_device, echo=echo,
                                   record_to=optional_path(record_to),
                                   capture_chunk_ms=capture_chunk_ms)
        self._own_dispatcher = ThreadDispatcher() if dispatcher is None else None
        self._dispatcher: Dispatcher = dispatcher or self._own_dispatcher  # type: ignore[assignment]
        self._transport_options = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                       max_frame_bytes=max_frame_bytes,
                                       ca_file=os.fspath(ca_file) if ca_file is not None else None)
        self._token_refresh = token_refresh
        self._reconnect: Optional[ReconnectPolicy] = reconnect or None
        self._max_queued = max_queued_frames
        self._tool_timeout = tool_timeout
        self._state = StateOwner(config, self._dispatcher, callbacks)
        if on_state_change is not None:
            self._state.subscribers = [on_state_change]
        self._live: Optional[LiveSession] = None
        self._generation = 0  # connect() calls so far: which session the callback thread serves
        self._connect_thread: Optional[threading.Thread] = None
        self._destroyed = False
        self._ask_lock = threading.Lock()
        from ._shutdown import register

        register(self)

    # --- read-only state ------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """The current :class:`ClientState` snapshot (immutable)."""
        return self._state.state

    @property
    def status(self) -> RealtimeStatus:
        """The connection status: ``idle``, ``connecting``, ``connected``, ``reconnecting`` or ``error``."""
        return self._state.state.status

    @property
    def mode(self) -> RealtimeMode:
        """What the conversation is doing: ``idle`` (not connected, or push-to-talk with the
        microphone closed), ``listening``, ``thinking`` (an answer is awaited, or received and not
        yet heard) or ``speaking`` (assistant audio is audible, or text streams)."""
        return self._state.state.mode

    @property
    def messages(self) -> Tuple[RealtimeMessage, ...]:
        """The completed messages, ordered by when each began; kept across reconnects and
        ``disconnect()``."""
        return self._state.state.messages

    @property
    def error(self) -> Optional[Exception]:
        """The current error: the latest one reported through ``on_error`` (a provider error
        event, a failed response, a refused session update, a device or token failure, or what
        ended the session), until the next successful ``connect()`` or reconnect clears it."""
        return self._state.state.error

    @property
    def pending_user_transcript(self) -> str:
        """The user's speech transcribed so far, before its message is complete (else ``""``)."""
        return self._state.state.pending_user_transcript

    @property
    def pending_assistant_transcript(self) -> str:
        """The assistant's answer streamed so far, before its message is complete (else ``""``)."""
        return self._state.state.pending_assistant_transcript

    @property
    def session_config(self) -> SessionConfig:
        """The session settings: those asked for, less any change the provider refused."""
        with self._state.lock:
            return self._state.conv.config

    @property
    def audio(self) -> Optional[AudioVisualization]:
        """Levels, spectra and waveforms of the microphone and the speaker
        (:class:`~realtime_client.audio.AudioVisualization`), or ``None`` when not connected or
        no audio device is in use."""
        live = self._live
        engine = live.engine if live is not None else None
        return engine.visualization if engine is not None else None

    def __repr__(self) -> str:
        s = self._state.state
        return (f"<RealtimeClient provider={provider_of(self._adapter)} status={s.status.value} "
                f"mode={s.mode.value} messages={len(s.messages)}>")

    def on_state_change(self, callback: Callable[[ClientState], Any]) -> Callable[[], None]:
        """Subscribe to every state change; returns a function that unsubscribes.

        Threads: ``callback`` runs on the dispatcher's thread with the new snapshot.
        """
        if not callable(callback):
            raise TypeError("on_state_change needs a callable")
        state = self._state
        with state.lock:
            self._check_usable()
            state.subscribers = [*state.subscribers, callback]

        def unsubscribe() -> None:
            with state.lock:
                state.subscribers = [s for s in state.subscribers if s is not callback]

        return unsubscribe

    # --- lifecycle -----------------------------------------------------------------------

    def connect(self, timeout: float = 15.0, wait: bool = True) -> None:
        """Fetch a token, open the connection, apply the session config and start audio.

        Blocks until the provider confirmed the session and applied the configuration. With
        ``wait=False`` it returns at once (status ``connecting``) and connects on a
        ``realtime-connect`` thread: success arrives as ``on_connect`` (and status
        ``connected``), failure as ``on_error`` and status ``error``. Use that from a GUI
        thread, so the window does not freeze during the handshake.

        Calling it while connected does nothing. While another ``connect()`` (or a
        reconnect) is under way, ``wait=True`` waits for that one and ``wait=False`` returns.

        Raises:
            RealtimeError: ``CONNECTION_FAILED`` (token fetch failed, refused, dropped, timed
                out), ``PERMISSION_DENIED``, ``TOKEN_EXPIRED``, ``PROVIDER_ERROR`` (the provider
                rejected the session config) or ``AUDIO_DEVICE``. Status is then ``error``.
            KeyboardInterrupt / SystemExit: passed through unchanged, after everything started
                so far is torn down (status ``idle``).

        Threads: any thread except the dispatcher's own when it is the default one (the
        callbacks fired while connecting would wait behind the call); ``wait=False`` is
        fine from anywhere, including callbacks.
        """
        deadline = Deadline(timeout)
        state = self._state
        with state.lock:
            self._check_usable()
            status = state.conv.status
            if status is RealtimeStatus.CONNECTED:
                return
            if status in (RealtimeStatus.CONNECTING, RealtimeStatus.RECONNECTING):
                if wait:
                    self._wait_connecting_locked(deadline)
                return
            self._generation += 1
            generation = self._generation
            live = self._live = self._new_live(generation)
            if self._own_dispatcher is not None:
                self._own_dispatcher.start()
            state.commit_locked(state.conv.reduce(act.Connecting(state.conv.config.vad_mode == "manual")))
        state.flush()
        if wait:
            self._start(live, generation, deadline)
            return
        thread = threading.Thread(target=self._start_in_background, args=(live, generation, deadline),
                                  name="realtime-connect", daemon=True)
        self._connect_thread = thread
        thread.start()

    def _wait_connecting_locked(self, deadline: Deadline) -> None:
        """Wait (lock held) for a connect or reconnect in progress elsewhere; raise its failure."""
        state, conv = self._state, self._state.conv
        busy = (RealtimeStatus.CONNECTING, RealtimeStatus.RECONNECTING)
        state.cond.wait_for(lambda: conv.status not in busy, deadline.remaining())
        if conv.status is RealtimeStatus.CONNECTED:
            return
        if conv.status in busy:
            raise ConnectionFailedError(f"still {conv.status.value} after {deadline.timeout:g} s")
        if isinstance(conv.error, RealtimeError):
            raise conv.error
        raise ConnectionFailedError(f"the connect in progress ended with status {conv.status.value}")

    def _start(self, live: LiveSession, generation: int, deadline: Deadline) -> None:
        try:
            live.start(deadline)
        except Exception as exc:
            err = exc if isinstance(exc, RealtimeError) else ConnectionFailedError(
                f"connect failed: {type(exc).__name__}: {exc}")
            self._abandon(live, generation, act.ConnectFailed(err))
            if err is exc:
                raise
            raise err from exc
        except BaseException:  # KeyboardInterrupt, SystemExit: tear down and let it through
            self._abandon(live, generation, act.SessionEnded(RealtimeStatus.IDLE))
            raise

    def _start_in_background(self, live: LiveSession, generation: int, deadline: Deadline) -> None:
        try:
            self._start(live, generation, deadline)
        except RealtimeError as exc:
            if self._state.callbacks.get("on_error") is None:  # else on_error reports it
                log.warning("connect(wait=False) failed: %s (status is now 'error'; pass on_error= "
                            "to handle failures)", exc)

    def _abandon(self, live: LiveSession, generation: int, outcome: Any) -> None:
        """A connect attempt failed or was interrupted: release it and report ``outcome``."""
        live.close(Deadline(1.0))
        state = self._state
        with state.lock:
            mine = self._live is live
            if mine:
                self._live = None
        if mine:  # not superseded by disconnect() or a newer connect()
            state.dispatch(outcome)
            state.flush()
        self._release_dispatcher(generation)

    def _release_dispatcher(self, generation: int) -> None:
        """End our callback thread once the session ``generation`` is over, unless a newer one
        began meanwhile (a callback may already have called connect() again). Never joins."""
        with self._state.lock:
            if generation == self._generation and self._own_dispatcher is not None:
                self._own_dispatcher.request_stop()

    def _new_live(self, generation: int) -> LiveSession:
        live: LiveSession

        def ended() -> None:  # the provider or a fatal error ended the session on its own
            with self._state.lock:
                if self._live is live:
                    self._live = None
            self._release_dispatcher(generation)

        live = LiveSession(state=self._state, adapter=self._adapter, get_token=self._get_token,
                           audio=self._audio, dispatcher=self._dispatcher,
                           tools=self._state.conv.config.tools, tool_timeout=self._tool_timeout,
                           transport_options=self._transport_options, token_refresh=self._token_refresh,
                           reconnect=self._reconnect, on_end=ended)
        return live

    def disconnect(self) -> None:
        """Stop audio, close the connection, cancel timers and join threads; status ``idle``.

        Idempotent. Safe from any thread, including from inside a callback or a tool handler.
        All ``realtime-*`` threads are joined within about one second.
        """
        deadline = Deadline(1.0)
        state = self._state
        with state.lock:
            live, self._live = self._live, None
            connecting, self._connect_thread = self._connect_thread, None
        if live is not None:
            live.close(deadline)
        if connecting is not None and connecting is not threading.current_thread():
            connecting.join(max(0.0, deadline.remaining()))  # a blocking get_token may outlive it
        if self._own_dispatcher is not None and state.conv.status is not RealtimeStatus.IDLE:
            self._own_dispatcher.start()  # it may have ended with a failed session: say 'idle' too
        state.dispatch(act.SessionEnded(RealtimeStatus.IDLE))
        state.flush()
        if self._own_dispatcher is not None:
            self._own_dispatcher.stop(max(0.05, deadline.remaining()))

    def destroy(self) -> None:
        """Disconnect, drop subscriptions and callbacks, release audio. Idempotent.

        After this every method except ``disconnect``/``destroy`` raises ``RealtimeError``.
        """
        self.disconnect()
        state = self._state
        with state.lock:
            self._destroyed = True
            state.subscribers = []
            state.callbacks = dict.fromkeys(state.callbacks)

    def __enter__(self) -> RealtimeClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.destroy()

    def _check_usable(self) -> None:
        if self._destroyed:
            raise RealtimeError("this RealtimeClient was destroyed; create a new one", code="UNKNOWN")

    def _run(self, item: Any) -> None:
        live = self._live
        if live is not None:
            live.run(item)
        else:
            self._state.dispatch(item)
            self._state.flush()

    # --- conversation intents --------------------------------------------------------------

    def send_text(self, text: str) -> RealtimeMessage:
        """Add a user text message and ask for a response. Returns at once with the message.

        While the client is reconnecting the message is queued and sent once the session is
        back (at most ``max_queued_frames`` waiting messages).

        Raises:
            TypeError: not a string. ValueError: empty text. RealtimeError: not connected.
        """
        if not isinstance(text, str):
            raise TypeError(f"send_text needs a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("send_text needs a non-empty string")
        return self._send_user_parts((TextPart(text),), "send text")

    def send_image(self, data: ImageData, mime_type: Optional[str] = None, *,
                   respond: bool = True) -> RealtimeMessage:
        """Send an image as a user message and ask for a response (``respond=False``: don't).

        ``data``: raw bytes, a file path (``str``/``pathlib.Path``), base64 text, a ``data:`` URL
        or an http(s) URL (downloaded here and sent inline: at most 10 s, 20 MiB). A ``str`` that
        names an existing file *and* is valid base64 is read as the file. The type comes from the
        content's magic bytes, never from ``mime_type``, and must be one the provider takes
        (OpenAI: PNG and JPEG; WebP/GIF are refused, nothing is converted). ``respond=False``
        only adds the image, e.g. before a question sent with ``send_text``/``ask``. Gemini
        answers no image on its own (it is context for the next question, typed or spoken), so
        there the image is only added whatever ``respond`` says.

        Raises:
            TypeError / ValueError: not an image we can send (the message says what it got and
                what is accepted). ConnectionFailedError: a URL could not be fetched (shown
                without its query string). RealtimeError: not connected.

        Threads: any thread; with a URL it blocks up to 10 s, so avoid calling it from a callback.

        .. versionchanged:: 0.2.0 file paths; the type is always sniffed; ``respond``.
        """
        if not isinstance(respond, bool):
            raise TypeError(f"respond must be True or False, got {respond!r}")
        data, mime_type = image_payload(data, mime_type, adapter=self._adapter)
        return self._send_user_parts((ImagePart(data, mime_type),), "send an image", respond)

    def _send_user_parts(self, parts: Tuple[Any, ...], what: str, respond: bool = True) -> RealtimeMessage:
        state = self._state
        with state.lock:
            self._check_usable()
            status = state.conv.status
            if status is RealtimeStatus.RECONNECTING:
                if len(state.conv.queued) + 2 > self._max_queued:
                    raise RealtimeError(f"cannot {what}: reconnecting, and {len(state.conv.queued)} "
                                        "messages are already waiting to be sent", code="CONNECTION_FAILED")
            elif status is not RealtimeStatus.CONNECTED:
                raise RealtimeError(f"cannot {what}: the client is {status.value}, not connected",
                                    code="CONNECTION_FAILED")
            msg = RealtimeMessage(id=new_id("msg"), role="user", parts=parts)
        self._run(act.SendUser(msg, respond))
        with state.lock:
            if not state.conv.log.has(msg.id):  # a disconnect() on another thread came first
                raise RealtimeError(f"cannot {what}: the client disconnected meanwhile",
                                    code="CONNECTION_FAILED")
        return msg

    def send_context(self, text: str, *, context_id: Optional[str] = None) -> None:
        """Give the model background information without asking it to answer.

        For what the app knows and the user did not say ("the user opened the pricing page").
        It does not interrupt the assistant. With ``context_id``, a later update with the same
        id replaces this one. ElevenLabs: ``contextual_update``. Queued while reconnecting.

        Raises:
            TypeError / ValueError: ``text`` is not a non-empty string. RealtimeError: not
                connected, or the provider has no such message (``code="PROVIDER_ERROR"``).

        Threads: any thread.

        .. versionadded:: 0.2.0
        """
        if not isinstance(text, str):
            raise TypeError(f"send_context needs a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("send_context needs a non-empty string")
        if context_id is not None and (not isinstance(context_id, str) or not context_id):
            raise ValueError("context_id must be a non-empty string or None")
        self._send_optional(it.ContextUpdate(text, context_id), "send context")

    def signal_activity(self) -> None:
        """Tell the provider the user is active (typing, about to speak).

        The agent holds back and the provider's inactivity timeout restarts (ElevenLabs closes
        a conversation after 60 s without user input). ElevenLabs: ``user_activity``; how much
        it holds the agent back is not documented. Queued while reconnecting.

        Raises:
            RealtimeError: not connected, or the provider has no such message.

        Threads: any thread.

        .. versionadded:: 0.2.0
        """
        self._send_optional(it.UserActivity(), "signal activity")

    def _send_optional(self, intent: Any, what: str) -> None:
        state = self._state
        with state.lock:
            self._check_usable()
            status, info = state.conv.status, state.conv.info
            if status not in (RealtimeStatus.CONNECTED, RealtimeStatus.RECONNECTING):
                raise RealtimeError(f"cannot {what}: the client is {status.value}, not connected",
                                    code="CONNECTION_FAILED")
            if type(intent).__name__ not in info.optional_intents:
                raise RealtimeError(f"cannot {what}: the {info.provider} provider has no such message",
                                    code="PROVIDER_ERROR", provider=info.provider)
        self._run(act.SendIntent(intent))

    def update_session(self, **changes: Any) -> None:
        """Change session settings (``instructions``, ``voice``, ``tools``, ``vad_mode``, ...).

        Only the settings named here are sent, and only once the provider accepted them do they
        become part of what a reconnect re-applies. A change the provider refuses (OpenAI cannot
        change the voice once the assistant has spoken) arrives through ``on_error`` and is
        forgotten, so it does not poison later updates. When not connected the change applies
        with the next ``connect()``.
        """
        unknown = set(changes) - set(_SESSION_OPTIONS)
        if unknown:
            raise TypeError(f"unknown session option(s): {', '.join(sorted(unknown))}")
        if "tools" in changes:
            from ._tools import as_session_tool

            changes["tools"] = tuple(as_session_tool(t) for t in changes["tools"])
        state = self._state
        with state.lock:
            self._check_usable()
            config = state.conv.config.merged(**changes)
        check = getattr(self._adapter, "check_config", None)
        if callable(check):
            check(config)
        live = self._live
        if live is not None and "tools" in changes:
            live.update_tools(config.tools)
        self._run(act.ChangeConfig(new_id("cfg"), config, tuple(changes)))

    def interrupt(self) -> None:
        """Cut the assistant off now: stop playback, cancel the response, truncate to what was heard.

        Does nothing (and raises nothing) when nothing is playing and no response is active.

        Raises:
            RealtimeError: the client was destroyed.
        """
        with self._state.lock:
            self._check_usable()
        self._run(act.RequestInterrupt())

    def start_listening(self) -> None:
        """Open the microphone and stream it to the provider."""
        with self._state.lock:
            self._check_usable()
            if self._state.conv.status is not RealtimeStatus.CONNECTED:
                status = self._state.conv.status.value
                raise RealtimeError(f"cannot start listening: the client is {status}, not connected",
                                    code="CONNECTION_FAILED")
        live = self._live
        engine = live.engine if live is not None else None
        if engine is None or not engine.has_input:
            raise RealtimeError("no audio input: this client uses no audio devices (auto_playback and "
                                "auto_capture are off); pass audio_input= or auto_capture=True",
                                code="AUDIO_DEVICE")
        # the microphone counts as open before the first chunk can arrive: a fast input (a file
        # read flat out) may deliver all of its audio before start_capture() returns
        self._run(act.MicChanged(True))
        try:
            engine.start_capture()
        except BaseException:
            self._run(act.MicChanged(False))
            raise

    def stop_listening(self) -> None:
        """Close the microphone. With ``vad_mode='manual'`` this commits the captured audio
        (at least the provider's minimum, 100 ms for OpenAI; less is discarded) and asks for a
        response: push-to-talk.

        Raises:
            RealtimeError: the client was destroyed.
        """
        with self._state.lock:
            self._check_usable()
        live = self._live
        engine = live.engine if live is not None else None
        if engine is not None:
            engine.stop_capture()
        self._run(act.PushToTalkEnded())

    def ask(self, text: str, timeout: float = 60.0) -> RealtimeMessage:
        """Send ``text`` and block until the assistant's answer is complete; return it.

        Concurrent calls are serialized. Raises the builtin ``TimeoutError`` on timeout, and
        the provider's error at once when the response fails or is refused.
        """
        deadline = Deadline(timeout)
        if not self._ask_lock.acquire(timeout=deadline.remaining()):
            raise TimeoutError("another ask() is still waiting for its answer")
        try:
            msg = self.send_text(text)
            with self._state.lock:
                request = self._state.conv.answer_request.pop(msg.id, None)
            if request is None:  # queued while reconnecting: the next request answers it
                request = self._state.conv.requests_made + 1
            return self._wait(lambda log: log.answer_to(request), deadline)
        finally:
            self._ask_lock.release()

    def wait_for_playback(self, timeout: Optional[float] = None) -> None:
        """Block until every assistant audio chunk received so far has been played.

        Returns at once when nothing is queued (or there is no speaker). "Played" means heard:
        the speaker has gone quiet after those chunks, device latency included; audio the
        user interrupted counts as done. Also returns when the session ends.

        Raises:
            TimeoutError: the audio is still playing after ``timeout`` seconds.
            RealtimeError: the client was destroyed.

        Threads: any thread; called from a callback it holds up later callbacks until it returns.
        """
        deadline = Deadline(timeout) if timeout is not None else None
        state, conv = self._state, self._state.conv
        with state.cond:
            self._check_usable()
            target = conv.chunks_played
            done = state.cond.wait_for(
                lambda: conv.chunks_over >= min(target, conv.chunks_played)
                or conv.status is not RealtimeStatus.CONNECTED,
                deadline.remaining() if deadline is not None else None)
        if not done:
            raise TimeoutError(f"assistant audio still playing after {timeout:g} s")

    def wait_for_response(self, timeout: float = 60.0) -> RealtimeMessage:
        """Block until the next assistant answer is complete (tool round trips included).

        Raises the builtin ``TimeoutError`` on timeout, and the provider's error at once when
        the response fails."""
        with self._state.lock:
            self._check_usable()
            seen = self._state.conv.log.turns_completed
        return self._wait(lambda log: log.last_result if log.turns_completed > seen else None,
                          Deadline(timeout))

    def _wait(self, result_of: Callable[[Any], Any], deadline: Deadline) -> RealtimeMessage:
        """Block until ``result_of(message log)`` gives a turn's result, or the session ends."""
        state, conv = self._state, self._state.conv
        ended = (RealtimeStatus.IDLE, RealtimeStatus.ERROR)
        with state.cond:
            state.cond.wait_for(lambda: result_of(conv.log) is not None or conv.status in ended,
                                deadline.remaining())
            result = result_of(conv.log)
            status, error = conv.status, conv.error
        if isinstance(result, RealtimeMessage):
            return result
        if isinstance(result, Exception):
            raise result
        if status in ended:
            if isinstance(error, RealtimeError):
                raise error
            raise RealtimeError(f"the client is {status.value}; no response will come",
                                code="CONNECTION_FAILED")
        raise TimeoutError(f"no complete assistant response within {deadline.timeout:g} s")
