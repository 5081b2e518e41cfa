"""The OpenAI Realtime (GA) provider factory: ``openai_realtime(...)``.

The adapter holds the settings; each connection gets its own :class:`OpenAISession`
(``_protocol.py``).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional, Union

from ..._models import SessionConfig
from ...audio._format import AudioFormat
from .._common import check_ws_url
from . import _wire as wire
from ._protocol import OpenAISession
from ._session_config import AUDIO_FORMATS, FORBIDDEN_SESSION_KEYS, SessionOptions, check_session

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "OpenAIRealtimeAdapter", "openai_realtime"]

DEFAULT_URL = wire.DEFAULT_URL
DEFAULT_MODEL = wire.DEFAULT_MODEL

# input_image.image_url: "Supported formats are PNG and JPEG." (openai 3.57.0,
# types/realtime/realtime_conversation_item_user_message.py; protocols.md §1.6 and §8.1). WebP and
# GIF are accepted by the Responses API, but nothing says the Realtime API takes them: refused.
IMAGE_TYPES = ("image/png", "image/jpeg")
_TOOL_CHOICES = ("auto", "none", "required")
_NOISE_REDUCTION = ("near_field", "far_field")
_WIRE_FORMATS = {"pcm16": AudioFormat("pcm16", wire.PCM_RATE),
                 "g711_ulaw": AudioFormat("g711_ulaw", wire.G711_RATE),
                 "g711_alaw": AudioFormat("g711_alaw", wire.G711_RATE)}


class OpenAIRealtimeAdapter:
    """OpenAI Realtime (GA) over WebSocket; build it with :func:`openai_realtime`.

    A factory: :meth:`new_session` gives each connection its own protocol session. The adapter
    itself is immutable, so one adapter may serve several clients.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 a factory of :class:`OpenAISession`; ``audio_format``.
    """

    provider = "openai"
    image_types = IMAGE_TYPES
    """The image mime types ``send_image`` may send (others are refused, never converted)."""

    def __init__(
        self,
        url: Optional[str] = None,
        model: Optional[str] = None,
        *,
        input_transcription: Union[str, Mapping[str, Any], bool, None] = "whisper-1",
        noise_reduction: Optional[str] = None,
        tool_choice: Union[str, Mapping[str, Any], None] = None,
        speed: Optional[float] = None,
        audio_format: str = "pcm16",
    ) -> None:
        self.url = check_ws_url(DEFAULT_URL if url is None else url)
        if model is not None and (not isinstance(model, str) or not model):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        self.model = model
        if noise_reduction is not None and noise_reduction not in _NOISE_REDUCTION:
            raise ValueError(f"noise_reduction must be one of {_NOISE_REDUCTION} or None, "
                             f"got {noise_reduction!r}")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                                  or not 0.25 <= speed <= 1.5):
            raise ValueError(f"speed must be a number between 0.25 and 1.5, got {speed!r}")
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format must be one of {tuple(AUDIO_FORMATS)}, got {audio_format!r}")
        self.options = SessionOptions(input_transcription=_transcription(input_transcription),
                                      noise_reduction=noise_reduction,
                                      tool_choice=_tool_choice(tool_choice),
                                      speed=None if speed is None else float(speed),
                                      audio_format=audio_format)

    def __repr__(self) -> str:
        return f"OpenAIRealtimeAdapter(url={self.url!r}, model={self.model!r})"

    @property
    def audio_format(self) -> AudioFormat:
        """The wire audio format, both ways (24 kHz PCM16, or G.711 at 8 kHz)."""
        return _WIRE_FORMATS[self.options.audio_format]

    def new_session(self) -> OpenAISession:
        """A fresh protocol session for one connection."""
        return OpenAISession(self)

    def check_config(self, config: SessionConfig) -> None:
        """Refuse settings OpenAI Realtime (GA) cannot honour; warn about those with no effect.

        ``RealtimeClient`` calls this at construction and in ``update_session``, so a bad setting
        fails on the caller's line. ``docs/providers.md`` lists what happens to each option.

        Raises:
            ValueError: ``temperature`` is set; ``output_modalities`` is not exactly
                ``["audio"]`` or ``["text"]``; ``max_output_tokens`` is over 4096; ``model``
                differs from this adapter's ``model``; ``voice`` is empty; ``provider_options``
                sets an audio format (use ``audio_format=``: the audio engine must encode what
                the session declares), a key the GA ``session.update`` cannot carry (``model``,
                ``temperature``, the removed beta fields) or a ``type`` other than ``"realtime"``.
            TypeError: ``provider_options["tools"]`` is not a list, or a tool cannot be encoded.

        Warns:
            UserWarning: a setting that is kept but has no effect with this ``vad_mode``
                (``vad_config`` in manual mode, server-VAD-only ``vad_config`` fields with
                ``semantic``, ``semantic_eagerness`` without ``semantic``).

        .. versionchanged:: 0.2.0 temperature, output_modalities, max_output_tokens, model and
           beta-field checks; the no-effect warnings.
        """
        from .._common import tool_schema

        notes = check_session(config, self.model)
        for t in config.tools:
            if not isinstance(t, Mapping):
                tool_schema(t)  # raises TypeError for what cannot become a function tool
        options = config.provider_options
        for key in FORBIDDEN_SESSION_KEYS:
            if key in options:
                raise ValueError(f"provider_options[{key!r}] cannot be sent in an OpenAI GA "
                                 "session.update" + (" (choose the model with model=)" if key == "model"
                                                     else ""))
        audio = options.get("audio")
        if isinstance(audio, Mapping):
            for direction in ("input", "output"):
                sub = audio.get(direction)
                if isinstance(sub, Mapping) and "format" in sub:
                    raise ValueError(f"provider_options['audio'][{direction!r}]['format'] would change "
                                     "the wire format behind the audio engine's back: use "
                                     "openai_realtime(audio_format='pcm16'|'g711_ulaw'|'g711_alaw')")
        if "tools" in options and not isinstance(options["tools"], (list, tuple)):
            raise TypeError("provider_options['tools'] must be a list of tool dicts")
        for note in notes:
            # stacklevel 3: the user's line that called RealtimeClient(...) / update_session(...)
            warnings.warn(note, UserWarning, stacklevel=3)



def openai_realtime(
    url: Optional[str] = None,
    model: Optional[str] = None,
    *,
    input_transcription: Union[str, Mapping[str, Any], bool, None] = "whisper-1",
    noise_reduction: Optional[str] = None,
    tool_choice: Union[str, Mapping[str, Any], None] = None,
    speed: Optional[float] = None,
    audio_format: str = "pcm16",
) -> OpenAIRealtimeAdapter:
    """The OpenAI Realtime API (GA, WebSocket) provider.

    Args:
        url: the WebSocket endpoint without a query string; default
            ``wss://api.openai.com/v1/realtime``. Plain ``ws://`` is refused unless the host is
            loopback (localhost, 127.0.0.0/8, ::1).
        model: the model, sent as ``?model=``; default: the session config's or the token's
            model, else :data:`DEFAULT_MODEL` (``gpt-realtime-2.1``).
        input_transcription: transcribe the user's speech: a model name (default
            ``"whisper-1"``), a full transcription mapping (``{"model", "language",
            "prompt", ...}``), ``True`` for the default, or ``False``/``None`` to disable.
        noise_reduction: ``"near_field"`` or ``"far_field"`` input noise reduction.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function",
            "name": ...}``.
        speed: speech speed, 0.25 to 1.5 (server default 1.0).
        audio_format: wire audio both ways: ``"pcm16"`` (24 kHz, default), ``"g711_ulaw"`` or
            ``"g711_alaw"`` (8 kHz telephony; the audio engine encodes and decodes).

    Raises:
        ValueError: an invalid URL or option value.

    Example::

        client = RealtimeClient(get_token=..., adapter=openai_realtime(model="gpt-realtime-2.1"))

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``audio_format``.
    """
    return OpenAIRealtimeAdapter(url, model, input_transcription=input_transcription,
                                 noise_reduction=noise_reduction, tool_choice=tool_choice, speed=speed,
                                 audio_format=audio_format)


# --- option checks --------------------------------------------------------------------


def _transcription(value: Union[str, Mapping[str, Any], bool, None]) -> Optional[Dict[str, Any]]:
    if value is None or value is False:
        return None
    if value is True:
        return {"model": "whisper-1"}
    if isinstance(value, str):
        if not value:
            raise ValueError("input_transcription model name must not be empty")
        return {"model": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"input_transcription must be a model name, a dict, True, False or None, "
                    f"got {type(value).__name__}")


def _tool_choice(value: Union[str, Mapping[str, Any], None]) -> Union[str, Dict[str, Any], None]:
    if value is None or isinstance(value, Mapping):
        return None if value is None else dict(value)
    if value in _TOOL_CHOICES:
        return value
    raise ValueError(f"tool_choice must be one of {_TOOL_CHOICES} or a dict like "
                     f"{{'type': 'function', 'name': ...}}, got {value!r}")


