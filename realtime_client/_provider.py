"""The provider seam: a sans-I/O session per connection, built by the adapter (a factory).

A provider session speaks one provider's wire protocol and nothing else: no sockets, threads,
clocks, audio devices or callbacks. The live session (``_live.py``) drives it:

* ``connection_request(token, config, resume)``: URL, headers and subprotocols to open.
* ``start(config, resume)``: frames to send as soon as the socket is open (OpenAI: none, it
  waits for ``session.created``; Gemini: ``setup``; ElevenLabs: the initiation data).
* ``receive(frame)``: normalized, turn-shaped events *and* frames to send back at once (the
  OpenAI session answers ``session.created`` with ``session.update``; ElevenLabs ``ping`` with
  ``pong``). The handshake is over when it yields :class:`~realtime_client._events.Ready`.
* ``send(intent)``: frames for one intent, ``[]`` where the provider has no such thing.
* ``take_events()`` (optional): events the intents just sent caused by themselves, where no
  frame will report them (ElevenLabs: a turn the client cut off has ended); the client
  reduces them right after the intents.
* ``classify_close(code, reason)``: what a closed socket means (reconnect, clean, fatal).
* ``resume_state()``: what the next connection needs to pick the conversation up again; also
  asked of a connection that failed to start (a refused resumption handle: start fresh, replay).
  ``classify_close`` is asked about closes before the session is ready too (``connect()``
  raises the error it names).
* ``info``: rates, formats and capabilities the client and the audio engine plan with.

Threads: one provider session is used under the client's state lock only, so it needs no
lock of its own; ``receive`` and ``send`` may therefore come from different threads.
"""

from __future__ import annotations

from typing import (
    Any,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    Union,
    runtime_checkable,
)

import attrs

from ._errors import RealtimeError
from ._events import Event
from ._intents import Intent
from ._models import RealtimeToken, SessionConfig
from ._types import ConnectionRequest, Frame
from .audio._format import PCM16_24K, AudioFormat

__all__ = [
    "Adapter",
    "CloseAction",
    "ProviderInfo",
    "ProviderSession",
    "Received",
    "ResumeState",
]


def _as_tuple(items: Iterable[Any]) -> Tuple[Any, ...]:
    return tuple(items)


@attrs.frozen
class ProviderInfo:
    """What a provider session offers, for the client and the audio engine.

    Attributes:
        provider: the provider's name (a key of ``adapters.ADAPTERS``).
        input_format / output_format: wire audio each way; the engine resamples and encodes.
        can_truncate: the provider can be told how much of an item the user heard.
        speech_interrupts: the provider's VAD ``SpeechStarted`` means the user barged in (the
            client flushes playback at once); providers that announce barge-in themselves
            (Gemini ``interrupted``, ElevenLabs ``interruption``) send ``Interrupted`` instead.
        live_session_update: ``update_session`` can change a live session (else it applies
            on the next connection).
        transcribes_input: user speech becomes a transcript (the client waits for it before
            announcing a voice message).
        commit_min_ms: push-to-talk turns shorter than this are discarded, not committed.
        images_answered: an image sent alone is a turn the provider can be asked to answer;
            ``False`` where images are context for the next spoken or typed turn (Gemini's
            video frames), so ``send_image(respond=True)`` asks for nothing there.
        answers_on_request: the provider answers when asked (``RequestResponse``: OpenAI's
            ``response.create``); ``False`` where a user turn is answered by itself (Gemini's
            ``turnComplete``, an ElevenLabs agent), so an answer a dropped connection lost
            before it began cannot be asked for again on the next one.
        input_chunk_ms: milliseconds of microphone audio per frame sent, as the provider
            recommends (``RealtimeClient(capture_chunk_ms=)`` overrides it): smaller reaches
            its voice activity detection sooner, larger costs less CPU.
        ping_interval / ping_timeout: WebSocket keep-alive the provider tolerates (``None``:
            no pings; Gemini's pongs are too slow for them).
        audio_fields: event type -> field holding base64 audio (the wire log elides them).
        live_update_fields: with ``live_session_update``, the only settings (``SessionConfig``
            field names) a live session can change; ``None``: all of them.
        update_by_reconnect: a change the live session cannot take is applied by a planned
            reconnect (resumed where the provider can) started from the new configuration.
        resume_on_go_away: on ``GoAway`` the client moves to a new connection itself, at the
            next quiet moment, instead of waiting for the provider to close the old one.
        resumable_points: the provider marks the moments a resume would lose nothing with
            ``ResumptionUpdate`` events; a planned reconnect waits for one.
        optional_intents: names of the optional intents ``send`` understands
            (``"ContextUpdate"``, ``"UserActivity"``); the client refuses the others up front.
        session_cap: seconds after which the provider ends a connection (OpenAI 60 min, Azure
            30); with reconnect enabled the client recycles the connection at a quiet moment
            shortly before it, so no turn is cut. ``None``: no known cap.
    """

    provider: str
    input_format: AudioFormat = PCM16_24K
    output_format: AudioFormat = PCM16_24K
    can_truncate: bool = False
    speech_interrupts: bool = True
    live_session_update: bool = True
    transcribes_input: bool = True
    commit_min_ms: float = 0.0
    answers_on_request: bool = True
    images_answered: bool = True
    input_chunk_ms: int = 20
    ping_interval: Optional[float] = 20.0
    ping_timeout: Optional[float] = 20.0
    audio_fields: Mapping[str, str] = attrs.field(factory=dict)
    live_update_fields: Optional[FrozenSet[str]] = None
    update_by_reconnect: bool = False
    resume_on_go_away: bool = False
    resumable_points: bool = False
    optional_intents: FrozenSet[str] = frozenset()
    session_cap: Optional[float] = None


@attrs.frozen
class Received:
    """What one received frame means: normalized events, and frames to send back at once."""

    events: Tuple[Event, ...] = attrs.field(default=(), converter=_as_tuple)
    replies: Tuple[Frame, ...] = attrs.field(default=(), converter=_as_tuple)


@attrs.frozen
class CloseAction:
    """What a closed socket means.

    Attributes:
        action: ``"reconnect"`` (a drop or the provider's session cap: resume), ``"clean"``
            (a normal close: status idle) or ``"error"`` (give up: status error).
        go_away: the close is the provider's session cap (``on_go_away(0)`` fires).
        error: the error to report, if any.
    """

    action: str
    go_away: bool = False
    error: Optional[RealtimeError] = None


@attrs.frozen
class ResumeState:
    """What the next connection needs to continue the conversation.

    Attributes:
        replay: seed the new session with the conversation's history (``Replay`` intent).
        handle: a provider resumption handle (Gemini ``sessionResumption``).
        conversation_id: a provider conversation to reattach to (xAI).
        items: ids of the items the provider already holds for that conversation; a resumed
            session replays them, and they are not new.
    """

    replay: bool = True
    handle: Optional[str] = None
    conversation_id: Optional[str] = None
    items: Tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)

    @property
    def resumes(self) -> bool:
        """This state asks the provider to continue a conversation it keeps."""
        return self.handle is not None or self.conversation_id is not None


@runtime_checkable
class ProviderSession(Protocol):
    """One connection's protocol state machine (see the module docstring)."""

    info: ProviderInfo

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest: ...

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]: ...

    def receive(self, frame: Union[str, bytes]) -> Received: ...

    def send(self, intent: Intent) -> List[Frame]: ...

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction: ...

    def resume_state(self) -> ResumeState: ...


@runtime_checkable
class Adapter(Protocol):
    """A provider: a factory of provider sessions (``openai_realtime(...)`` returns one)."""

    provider: str

    def new_session(self) -> ProviderSession:
        """A fresh protocol session for one connection."""

    def check_config(self, config: SessionConfig) -> None:
        """Raise ``ValueError``/``TypeError`` for settings this provider cannot honour."""


def provider_of(adapter: Any) -> str:
    """The adapter's provider name, for reprs and errors."""
    return str(getattr(adapter, "provider", "unknown"))
