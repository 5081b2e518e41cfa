"""Public value objects: statuses, messages and their parts, tokens, session settings.

Every class here is frozen (``attrs``); change one with :func:`attrs.evolve`.
"""

from __future__ import annotations

import enum
import math
import numbers
import time
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import attrs

__all__ = [
    "AudioPart",
    "ClientState",
    "ImagePart",
    "MessagePart",
    "RealtimeMessage",
    "RealtimeMode",
    "RealtimeStatus",
    "RealtimeToken",
    "ReconnectPolicy",
    "SessionConfig",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "TurnMetrics",
    "UsageInfo",
    "VADConfig",
]


class RealtimeStatus(str, enum.Enum):
    """Connection status; compares equal to its plain string (``status == "connected"``)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class RealtimeMode(str, enum.Enum):
    """Conversation mode; compares equal to its plain string (``mode == "speaking"``)."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"

    def __str__(self) -> str:
        return self.value


# --- message parts -----------------------------------------------------------------


@attrs.frozen
class TextPart:
    """Text typed by the user or streamed by the assistant."""

    content: str = attrs.field(validator=attrs.validators.instance_of(str))
    type: str = attrs.field(default="text", init=False)


@attrs.frozen
class AudioPart:
    """Spoken audio, represented by its transcript (``None`` while unknown) and duration."""

    transcript: Optional[str] = None
    duration_ms: Optional[float] = None
    type: str = attrs.field(default="audio", init=False)


@attrs.frozen
class ToolCallPart:
    """A call the model made to a client tool.

    ``arguments`` is the raw JSON string from the provider, ``input`` its parsed form
    (``None`` when it was not valid JSON), ``output`` the handler's result once known.
    """

    id: str
    name: str
    arguments: str = ""
    input: Any = None
    output: Any = None
    type: str = attrs.field(default="tool-call", init=False)


@attrs.frozen
class ToolResultPart:
    """The result sent back to the model for ``tool_call_id`` (the string it received)."""

    tool_call_id: str
    content: str
    type: str = attrs.field(default="tool-result", init=False)


@attrs.frozen
class ImagePart:
    """An image the user sent: base64 data (or a base64 ``data:`` URL) and its sniffed type.

    ``send_image`` reads files, inlines http(s) URLs and types the data by its magic bytes, so
    ``mime_type`` is always what the data really is (OpenAI: ``image/png`` or ``image/jpeg``).
    """

    data: str
    mime_type: str = "image/png"
    type: str = attrs.field(default="image", init=False)


MessagePart = Union[TextPart, AudioPart, ToolCallPart, ToolResultPart, ImagePart]


# Named converters: mypy's attrs plugin cannot infer ``__init__`` types from ``converter=tuple``.
def _parts(items: Iterable[MessagePart]) -> Tuple[MessagePart, ...]:
    return tuple(items)


def _messages(items: Iterable[RealtimeMessage]) -> Tuple[RealtimeMessage, ...]:
    return tuple(items)


def _any_tuple(items: Iterable[Any]) -> Tuple[Any, ...]:
    return tuple(items)


_ROLES = ("user", "assistant")


_STOP_REASONS = ("completed", "interrupted", "cut_off", "failed", "disconnected")


_TRIGGERS = ("speech", "text", "push_to_talk", "tool_result")


def _ms(start: Optional[float], end: Optional[float]) -> Optional[float]:
    return None if start is None or end is None else round((end - start) * 1000.0, 3)


@attrs.frozen
class TurnMetrics:
    """How long one assistant turn took to arrive and to be heard, as the client saw it.

    Every time is a ``time.monotonic()`` reading taken on this machine; the ``*_ms``
    properties are the latencies from the end of the user's turn. Against a real provider
    they include the network and the model; against ``FakeRealtimeServer`` (which adds no
    model latency) they are the client's own overhead.

    Attributes:
        trigger: what ended the user's turn: ``"speech"`` (the provider's VAD heard the
            user stop), ``"text"`` (``send_text``/``send_image``/``ask``), ``"push_to_talk"``
            (``stop_listening()`` in manual mode) or ``"tool_result"`` (the answer follows a
            tool's result); ``None`` when the assistant spoke unprompted (a greeting).
        user_turn_end: when that happened (``None`` without a trigger).
        response_started: the provider's first sign of the response (it began, or its
            first output arrived).
        first_audio: the first audio chunk of the response arrived.
        first_heard: that audio became audible: written to the speaker, plus the audio the
            speaker still held ahead of it (``None`` until then, and for responses nothing
            played).

    A message can be complete before its audio is heard; ``first_heard`` then arrives in a
    later snapshot (``on_state_change``), never in a second ``on_message``.

    .. versionadded:: 0.2.0
    """

    trigger: Optional[str] = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(_TRIGGERS)))
    user_turn_end: Optional[float] = None
    response_started: Optional[float] = None
    first_audio: Optional[float] = None
    first_heard: Optional[float] = None

    @property
    def response_latency_ms(self) -> Optional[float]:
        """End of the user's turn → response started, in ms (``None`` if either is unknown)."""
        return _ms(self.user_turn_end, self.response_started)

    @property
    def first_audio_latency_ms(self) -> Optional[float]:
        """End of the user's turn → first audio received, in ms."""
        return _ms(self.user_turn_end, self.first_audio)

    @property
    def first_heard_latency_ms(self) -> Optional[float]:
        """End of the user's turn → first audio heard, in ms: the time to first audio."""
        return _ms(self.user_turn_end, self.first_heard)


@attrs.frozen
class RealtimeMessage:
    """One message of the conversation.

    Attributes:
        id: the provider's item id where there is one, else an id the client chose.
        role: ``"user"`` or ``"assistant"``.
        timestamp: creation time, epoch seconds.
        parts: the content, in order.
        interrupted: the user cut the assistant off (barge-in or ``interrupt()``).
        duration_ms: audio duration (heard duration when interrupted), if audio.
        stop_reason: why an assistant message ended: ``"completed"``, ``"interrupted"``
            (the user), ``"cut_off"`` (a length limit such as ``max_output_tokens``),
            ``"failed"`` (the provider failed the response) or ``"disconnected"`` (the
            connection dropped mid-answer); ``None`` for user messages.
        metrics: :class:`TurnMetrics` of an assistant message (when its turn ended, was
            started, first arrived and was first heard); ``None`` for user messages.

    .. versionchanged:: 0.2.0 ``stop_reason``.
    .. versionchanged:: 0.2.0 ``metrics``.
    """

    id: str
    role: str = attrs.field(validator=attrs.validators.in_(_ROLES))
    parts: Tuple[MessagePart, ...] = attrs.field(default=(), converter=_parts)
    timestamp: float = attrs.field(factory=time.time)
    interrupted: bool = False
    duration_ms: Optional[float] = None
    stop_reason: Optional[str] = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(_STOP_REASONS)))
    metrics: Optional[TurnMetrics] = None

    @property
    def text(self) -> str:
        """Text content and transcripts joined by spaces (tool parts are left out)."""
        pieces = []
        for part in self.parts:
            if isinstance(part, TextPart):
                pieces.append(part.content)
            elif isinstance(part, AudioPart) and part.transcript:
                pieces.append(part.transcript)
        return " ".join(p for p in pieces if p)


@attrs.frozen
class UsageInfo:
    """Token usage for one response, as reported by the provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    response_id: Optional[str] = None


@attrs.frozen
class ClientState:
    """An immutable snapshot of everything the client knows at one moment."""

    status: RealtimeStatus = RealtimeStatus.IDLE
    mode: RealtimeMode = RealtimeMode.IDLE
    messages: Tuple[RealtimeMessage, ...] = attrs.field(default=(), converter=_messages)
    pending_user_transcript: str = ""
    pending_assistant_transcript: str = ""
    error: Optional[Exception] = None


# --- session settings --------------------------------------------------------------

_VAD_MODES = ("server", "semantic", "manual")
_EAGERNESS = ("low", "medium", "high", "auto")


def _opt_range(lo: float, hi: float) -> Any:
    def check(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not (lo <= value <= hi):
            raise ValueError(f"{attr.name} must be between {lo} and {hi}, got {value!r}")

    return check


@attrs.frozen
class VADConfig:
    """Server voice-activity detection settings (``None`` leaves the provider's default)."""

    threshold: Optional[float] = attrs.field(default=None, validator=_opt_range(0.0, 1.0))
    prefix_padding_ms: Optional[int] = attrs.field(default=None, validator=_opt_range(0, 10_000))
    silence_duration_ms: Optional[int] = attrs.field(default=None, validator=_opt_range(0, 10_000))
    idle_timeout_ms: Optional[int] = None
    create_response: Optional[bool] = None
    interrupt_response: Optional[bool] = None

    @classmethod
    def coerce(cls, value: Union[VADConfig, Mapping[str, Any], None]) -> Optional[VADConfig]:
        """``value`` as a :class:`VADConfig`: ``None`` and instances as they are, a dict as keyword arguments.

        Raises:
            TypeError: neither ``None``, a ``VADConfig`` nor a mapping (or a mapping with an unknown key).
            ValueError: a field out of range.
        """
        if value is None or isinstance(value, VADConfig):
            return value
        if isinstance(value, Mapping):
            return cls(**dict(value))
        raise TypeError(f"vad_config must be a VADConfig or a dict, got {type(value).__name__}")


def _vad_config(value: Union[VADConfig, Mapping[str, Any], None]) -> Optional[VADConfig]:
    return VADConfig.coerce(value)


def _modalities(value: Union[str, Sequence[str], None]) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    for m in out:
        if m not in ("audio", "text"):
            raise ValueError(f"output_modalities entries must be 'audio' or 'text', got {m!r}")
    return out


def _check_vad_mode(inst: Any, attr: Any, value: Any) -> None:
    if value not in _VAD_MODES:
        raise ValueError(f"vad_mode must be one of {_VAD_MODES}, got {value!r}")


def _check_eagerness(inst: Any, attr: Any, value: Any) -> None:
    if value is not None and value not in _EAGERNESS:
        raise ValueError(f"semantic_eagerness must be one of {_EAGERNESS}, got {value!r}")


def _check_max_tokens(inst: Any, attr: Any, value: Any) -> None:
    if value is None or value == "inf":
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"max_output_tokens must be a positive int or 'inf', got {value!r}")


@attrs.frozen
class SessionConfig:
    """The session settings the client applies on connect and on ``update_session``.

    ``None`` means "leave the provider's default". ``tools`` holds :class:`~realtime_client.Tool`
    objects. Each provider's adapter refuses (``check_config``) what it cannot honour, at
    construction and in ``update_session``: the OpenAI GA adapter refuses ``temperature`` (GA
    removed it) and two ``output_modalities`` (GA takes one). ``docs/providers.md`` has the
    table of what each setting does per provider.
    """

    model: Optional[str] = None
    voice: Optional[str] = None
    instructions: Optional[str] = None
    tools: Tuple[Any, ...] = attrs.field(default=(), converter=_any_tuple)
    vad_mode: str = attrs.field(default="server", validator=_check_vad_mode)
    vad_config: Optional[VADConfig] = attrs.field(default=None, converter=_vad_config)
    output_modalities: Optional[Tuple[str, ...]] = attrs.field(default=None, converter=_modalities)
    temperature: Optional[float] = attrs.field(default=None, validator=_opt_range(0.0, 2.0))
    max_output_tokens: Union[int, str, None] = attrs.field(default=None, validator=_check_max_tokens)
    semantic_eagerness: Optional[str] = attrs.field(default=None, validator=_check_eagerness)
    provider_options: Dict[str, Any] = attrs.field(factory=dict, converter=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionConfig:
        """Build from snake_case or TanStack camelCase keys; unknown keys go to provider_options."""
        aliases = {
            "vadMode": "vad_mode",
            "vadConfig": "vad_config",
            "outputModalities": "output_modalities",
            "maxOutputTokens": "max_output_tokens",
            "semanticEagerness": "semantic_eagerness",
            "providerOptions": "provider_options",
        }
        names = {a.name for a in attrs.fields(cls)}
        kwargs: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for raw_key, value in data.items():
            key = aliases.get(raw_key, raw_key)
            if key in names:
                kwargs[key] = value
            else:
                extra[key] = value
        if "vad_config" in kwargs and isinstance(kwargs["vad_config"], Mapping):
            vad = {_snake(k): v for k, v in kwargs["vad_config"].items()}
            kwargs["vad_config"] = VADConfig(**vad)
        if extra:
            kwargs["provider_options"] = {**extra, **dict(kwargs.get("provider_options") or {})}
        return cls(**kwargs)

    def merged(self, **changes: Any) -> SessionConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        unknown = set(changes) - {a.name for a in attrs.fields(SessionConfig)}
        if unknown:
            raise TypeError(f"unknown session option(s): {', '.join(sorted(unknown))}")
        return attrs.evolve(self, **changes)


def _snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def _redacted(value: str) -> str:
    return "<redacted>" if value else "<empty>"


def check_expiry(value: Any, name: str = "expires_at", unit: str = "seconds") -> float:
    """``value`` as a float if it is a finite, positive number, else :class:`ValueError`.

    Every way a token enters the client goes through here (the :class:`RealtimeToken`
    constructor, :meth:`RealtimeToken.from_dict`, the token minting functions), so the refresh
    timer is never handed a NaN, an infinity or a time at or before the epoch: any of those
    would make it refetch in a tight loop or never.

    Args:
        value: the expiry as the caller gave it.
        name: the field name for the message (``expires_at``, ``expiresAt``).
        unit: what the number counts, for the message (``seconds``, ``milliseconds``).

    Raises:
        ValueError: not a real number (bools included), NaN, infinite, zero or negative.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number ({unit} since the epoch), got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite, positive number ({unit} since the epoch), got {value!r}")
    return number


def _check_expires_at(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_expiry(value, attr.name)


@attrs.frozen
class RealtimeToken:
    """A short-lived credential for one provider, with the session config it was minted for.

    The token text never appears in ``repr`` or ``str``. ``expires_at`` is epoch seconds, or
    ``None`` for a token that does not expire (no refresh timer runs for it).

    Raises:
        ValueError: ``expires_at`` is NaN, infinite, zero or negative, or not a number.

    .. versionchanged:: 0.2.0 ``expires_at`` is validated.
    """

    provider: str
    token: str = attrs.field(repr=_redacted)
    expires_at: Optional[float] = attrs.field(default=None, validator=_check_expires_at)
    config: SessionConfig = attrs.field(factory=SessionConfig)

    @property
    def expired(self) -> bool:
        """Whether ``expires_at`` has passed (never, without an ``expires_at``)."""
        return self.expires_at is not None and self.expires_at <= time.time()

    def seconds_left(self, now: Optional[float] = None) -> Optional[float]:
        """Seconds until ``expires_at`` (negative once past), from ``now`` (default: the
        current time, epoch seconds); ``None`` without an ``expires_at``."""
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RealtimeToken:
        """Parse TanStack's JSON (``expiresAt`` in ms) or snake_case (``expires_at`` in s).

        Raises:
            ValueError: a required field is missing or of the wrong type, or the expiry is not a
                finite, positive number (the message never contains the token).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a token must be a JSON object, got {type(data).__name__}")
        token = data.get("token", data.get("value"))
        if not isinstance(token, str) or not token:
            raise ValueError("token JSON has no non-empty 'token' string")
        provider = data.get("provider") or "openai"
        if not isinstance(provider, str):
            raise ValueError("token JSON 'provider' must be a string")
        expires_at: Optional[float]
        if data.get("expiresAt") is not None:
            expires_at = check_expiry(data["expiresAt"], "token JSON 'expiresAt'", "milliseconds") / 1000.0
        elif data.get("expires_at") is not None:
            expires_at = check_expiry(data["expires_at"], "token JSON 'expires_at'")
            if expires_at > 1e12:  # some providers send milliseconds here too
                expires_at /= 1000.0
        else:
            expires_at = None
        raw_config = data.get("config") or {}
        if not isinstance(raw_config, Mapping):
            raise ValueError("token JSON 'config' must be an object")
        return cls(provider=provider, token=token, expires_at=expires_at,
                   config=SessionConfig.from_dict(raw_config))


def _positive(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be positive, got {value!r}")


@attrs.frozen
class ReconnectPolicy:
    """How the client reconnects after an abnormal close (a dropped network, the 60-minute cap).

    Attempts wait ``0, base, 2*base, 4*base, ...`` seconds (at most ``cap``), each scaled by a
    random factor in ``[1 - jitter, 1 + jitter]``. ``history_chars`` bounds how much of the
    conversation's text is replayed into the new session, newest messages first.
    """

    attempts: int = attrs.field(default=6, validator=_positive)
    base: float = attrs.field(default=0.5, validator=_positive)
    cap: float = attrs.field(default=10.0, validator=_positive)
    jitter: float = attrs.field(default=0.3, validator=_opt_range(0.0, 1.0))
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    history_chars: int = attrs.field(default=20_000, validator=_opt_range(0, 10_000_000))

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based); ``rand`` is in [0, 1)."""
        if attempt == 0:
            return 0.0
        raw = min(self.cap, self.base * (2 ** (attempt - 1)))
        return max(0.0, raw * (1.0 + self.jitter * (2.0 * rand - 1.0)))
