"""The xAI Grok voice agent provider factory: ``grok_realtime(...)``.

The adapter holds the settings; each connection gets its own :class:`GrokSession`
(``_protocol.py``), which reuses the OpenAI session for the event vocabulary both share.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..._models import SessionConfig
from ...audio._format import AudioFormat
from .._common import check_ws_url
from .._openai._adapter import IMAGE_TYPES, OpenAIRealtimeAdapter
from . import _wire as wire
from ._protocol import GrokSession
from ._session_config import GrokOptions, check_grok_config

__all__ = ["CONFIG_AFTER", "DEFAULT_MODEL", "DEFAULT_URL", "GrokRealtimeAdapter", "grok_realtime"]

DEFAULT_URL = wire.DEFAULT_URL
DEFAULT_MODEL = wire.DEFAULT_MODEL
#: config_after= values -> the server events the session configuration is sent after
CONFIG_AFTER: Dict[str, Tuple[str, ...]] = {
    "conversation.created": ("conversation.created",),
    "session.created": ("session.created",),
    "either": ("conversation.created", "session.created"),
}
_G711 = {"g711_ulaw", "g711_alaw"}


class GrokRealtimeAdapter:
    """xAI Grok voice agent over WebSocket; build it with :func:`grok_realtime`.

    A factory: :meth:`new_session` gives each connection its own protocol session. The adapter
    is immutable, so one adapter may serve several clients.

    .. versionadded:: 0.3.0
    """

    provider = "grok"
    image_types = IMAGE_TYPES
    """Image types ``send_image`` may send (xAI image input is **UNCONFIRMED**; OpenAI's shape)."""

    def __init__(
        self,
        url: Optional[str] = None,
        model: Optional[str] = None,
        *,
        input_transcription: Union[str, Mapping[str, Any], bool, None] = wire.DEFAULT_TRANSCRIPTION_MODEL,
        speed: Optional[float] = None,
        reasoning_effort: Optional[str] = None,
        replace: Optional[Mapping[str, str]] = None,
        input_rate: int = 24000,
        output_rate: int = 24000,
        audio_format: str = "pcm16",
        resumption: bool = True,
        config_after: str = "conversation.created",
        partial_updates: bool = False,
        session_cap: Optional[float] = wire.SESSION_CAP_SECONDS,
    ) -> None:
        self.url = check_ws_url(DEFAULT_URL if url is None else url)
        if model is not None and (not isinstance(model, str) or not model):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        self.model = model
        low, high = wire.SPEED_RANGE
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                                  or not low <= speed <= high):
            raise ValueError(f"speed must be a number between {low} and {high}, got {speed!r}")
        if reasoning_effort is not None and reasoning_effort not in wire.REASONING_EFFORTS:
            raise ValueError(f"reasoning_effort must be one of {wire.REASONING_EFFORTS} or None, "
                             f"got {reasoning_effort!r}")
        if replace is not None and (not isinstance(replace, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in replace.items())):
            raise TypeError("replace must map words to their pronunciations (str -> str)")
        if config_after not in CONFIG_AFTER:
            raise ValueError(f"config_after must be one of {tuple(CONFIG_AFTER)}, got {config_after!r}")
        if session_cap is not None and (isinstance(session_cap, bool)
                                        or not isinstance(session_cap, (int, float)) or not session_cap > 0):
            raise ValueError(f"session_cap must be a positive number of seconds or None, got {session_cap!r}")
        self.options = GrokOptions(
            input_format=_format(audio_format, input_rate, "input_rate"),
            output_format=_format(audio_format, output_rate, "output_rate"),
            input_transcription=_transcription(input_transcription),
            speed=None if speed is None else float(speed), reasoning_effort=reasoning_effort,
            replace=None if replace is None else dict(replace), resumption=bool(resumption))
        self.config_after = CONFIG_AFTER[config_after]
        self.partial_updates = bool(partial_updates)
        self.session_cap = None if session_cap is None else float(session_cap)
        # OpenAI's event vocabulary, which xAI shares (its own session shape is built here).
        self.dialect = OpenAIRealtimeAdapter(self.url, model, input_transcription=None)

    def __repr__(self) -> str:
        return f"GrokRealtimeAdapter(url={self.url!r}, model={self.model!r})"

    @property
    def audio_format(self) -> AudioFormat:
        """The wire audio format of the input direction (see :attr:`options` for both)."""
        return self.options.input_format

    def new_session(self) -> GrokSession:
        """A fresh protocol session for one connection."""
        return GrokSession(self)

    def check_config(self, config: SessionConfig) -> None:
        """Refuse settings the xAI session cannot carry; warn about those with no effect.

        ``docs/providers.md`` lists what happens to each option.

        Raises:
            ValueError: ``temperature``, ``max_output_tokens``, ``output_modalities`` other than
                ``["audio"]``, ``vad_mode='semantic'``, OpenAI-only ``vad_config`` fields, a
                ``vad_config.threshold`` outside 0.1 to 0.9, a conflicting ``model``, an empty
                ``voice``, or ``provider_options`` setting the model or an audio format.
            TypeError: a tool cannot be encoded; ``provider_options["tools"]`` is not a list.

        Warns:
            UserWarning: ``vad_config`` in manual mode; ``semantic_eagerness``.
        """
        for note in check_grok_config(config, self.model):
            warnings.warn(note, UserWarning, stacklevel=3)


def grok_realtime(
    url: Optional[str] = None,
    model: Optional[str] = None,
    *,
    input_transcription: Union[str, Mapping[str, Any], bool, None] = wire.DEFAULT_TRANSCRIPTION_MODEL,
    speed: Optional[float] = None,
    reasoning_effort: Optional[str] = None,
    replace: Optional[Mapping[str, str]] = None,
    input_rate: int = 24000,
    output_rate: int = 24000,
    audio_format: str = "pcm16",
    resumption: bool = True,
    config_after: str = "conversation.created",
    partial_updates: bool = False,
    session_cap: Optional[float] = wire.SESSION_CAP_SECONDS,
) -> GrokRealtimeAdapter:
    """The xAI Grok voice agent API (WebSocket) provider.

    Args:
        url: the WebSocket endpoint without a query string; default ``wss://api.x.ai/v1/realtime``.
            Plain ``ws://`` is refused unless the host is loopback.
        model: sent as ``?model=``; default the session config's or the token's model, else
            ``grok-voice-think-fast-2.0``.
        input_transcription: transcribe the user's speech: a model name (default
            ``"grok-transcribe"``, which also streams interim transcripts), a mapping
            (``{"model", "language_hint", "keyterms"}``), ``True`` for the default, or
            ``False``/``None`` to send none.
        speed: speech speed, 0.7 to 1.5.
        reasoning_effort: ``"none"`` or ``"high"`` (reasoning models only).
        replace: a pronunciation map (word -> how to say it), sent as ``replace``.
        input_rate: the PCM16 rate the user's audio is sent at (8000, 16000, 22050, 24000, 32000,
            44100 or 48000; default 24000); the audio engine resamples.
        output_rate: the PCM16 rate the assistant's audio comes at (same choices).
        audio_format: ``"pcm16"`` (default), or ``"g711_ulaw"``/``"g711_alaw"`` (8 kHz both ways).
        resumption: ask the server to keep the conversation (``resumption.enabled``, default on),
            so a reconnect reattaches with ``&conversation_id=`` instead of replaying the history;
            when the conversation has expired (30 minutes idle) the history is replayed.
        config_after: the server event the session configuration answers:
            ``"conversation.created"`` (default, per xAI), ``"session.created"`` or ``"either"``.
        partial_updates: send only what changed in ``update_session`` (default: the whole
            session, since whether xAI merges partial updates is **UNCONFIRMED**).
        session_cap: the session limit in seconds (about an hour, **UNCONFIRMED**); with
            reconnect on, the client recycles the connection at a quiet moment before it.

    Raises:
        ValueError: an invalid URL or option value.

    Example::

        from realtime_client.tokens import grok_realtime_token
        client = RealtimeClient(get_token=grok_realtime_token(), adapter=grok_realtime(), voice="eve")

    .. versionadded:: 0.3.0
    """
    return GrokRealtimeAdapter(url, model, input_transcription=input_transcription, speed=speed,
                               reasoning_effort=reasoning_effort, replace=replace, input_rate=input_rate,
                               output_rate=output_rate, audio_format=audio_format, resumption=resumption,
                               config_after=config_after, partial_updates=partial_updates,
                               session_cap=session_cap)


def _format(encoding: str, rate: Any, name: str) -> AudioFormat:
    if encoding in _G711:
        return AudioFormat(encoding, 8000)
    if encoding != "pcm16":
        raise ValueError(f"audio_format must be 'pcm16', 'g711_ulaw' or 'g711_alaw', got {encoding!r}")
    if isinstance(rate, bool) or rate not in wire.PCM_RATES:
        raise ValueError(f"{name} must be one of {wire.PCM_RATES}, got {rate!r}")
    return AudioFormat("pcm16", int(rate))


def _transcription(value: Union[str, Mapping[str, Any], bool, None]) -> Optional[Dict[str, Any]]:
    if value is None or value is False:
        return None
    if value is True:
        return {"model": wire.DEFAULT_TRANSCRIPTION_MODEL}
    if isinstance(value, str):
        if not value:
            raise ValueError("input_transcription model name must not be empty")
        return {"model": value}
    if isinstance(value, Mapping):
        out = dict(value)
        keyterms = out.get("keyterms")
        if keyterms is not None and (isinstance(keyterms, str)
                                     or not all(isinstance(k, str) for k in keyterms)):
            raise TypeError("input_transcription['keyterms'] must be a list of strings")
        return out
    raise TypeError(f"input_transcription must be a model name, a dict, True, False or None, "
                    f"got {type(value).__name__}")
