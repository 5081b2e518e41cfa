"""The GA session object: built from a :class:`SessionConfig`, and the difference between two.

Pure functions, shared by every OpenAI-dialect provider (OpenAI, Azure; xAI builds its own
hybrid shape but reuses the tool and diff helpers).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Tuple

import attrs

from ..._models import SessionConfig
from .._common import deep_merge, tool_schema

__all__ = ["AUDIO_FORMATS", "SessionOptions", "build_session", "session_diff", "wire_tools"]

log = logging.getLogger("realtime_client")

# audio_format option -> the GA format object.
AUDIO_FORMATS: Dict[str, Dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_SERVER_VAD_FIELDS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms",
                      "create_response", "interrupt_response")
_SEMANTIC_VAD_FIELDS = ("create_response", "interrupt_response")
# Never sent: the GA API rejects the whole update for them (model is fixed at connect time).
FORBIDDEN_SESSION_KEYS = ("model", "temperature")
# Compared as wholes when diffing: the server replaces these objects, it does not merge them.
_ATOMIC = frozenset({"format", "turn_detection", "transcription", "noise_reduction", "tools",
                     "tool_choice", "tracing", "prompt", "truncation", "reasoning", "voice"})


@attrs.frozen
class SessionOptions:
    """Adapter-level settings that are not part of :class:`SessionConfig`."""

    input_transcription: Optional[Dict[str, Any]] = None
    noise_reduction: Optional[str] = None
    tool_choice: Any = None
    speed: Optional[float] = None
    audio_format: str = "pcm16"


def wire_tools(config: SessionConfig) -> list:
    """``config.tools`` on the wire: client tools as function schemas, provider tool dicts
    as given, then any ``provider_options["tools"]`` appended (merged, never replacing)."""
    out = []
    for t in config.tools:
        if isinstance(t, Mapping):
            out.append(dict(t))
        else:
            schema = tool_schema(t)
            schema.setdefault("type", "function")
            out.append(schema)
    extra = config.provider_options.get("tools")
    if isinstance(extra, (list, tuple)):
        out.extend(dict(t) if isinstance(t, Mapping) else t for t in extra)
    return out


def _turn_detection(config: SessionConfig) -> Optional[Dict[str, Any]]:
    vad = config.vad_config
    if config.vad_mode == "manual":
        return None
    fields: Tuple[str, ...]
    if config.vad_mode == "semantic":
        out: Dict[str, Any] = {"type": "semantic_vad"}
        if config.semantic_eagerness is not None:
            out["eagerness"] = config.semantic_eagerness
        fields = _SEMANTIC_VAD_FIELDS
    else:
        out = {"type": "server_vad"}
        fields = _SERVER_VAD_FIELDS
    if vad is not None:
        for name in fields:
            value = getattr(vad, name)
            if value is not None:
                out[name] = value
    return out


def build_session(config: SessionConfig, options: SessionOptions) -> Dict[str, Any]:
    """The full GA ``session`` object for ``config`` (``type`` is ``"realtime"``).

    Only settings that are set are sent, except ``tools`` (``[]`` clears), turn detection
    (``null`` in manual mode) and transcription (``null`` when disabled). ``output_modalities``
    holds one value: asking for both gives ``["audio"]`` (audio always has a transcript).
    ``provider_options`` is deep-merged last (its ``tools`` are appended to ``tools``).
    """
    fmt = AUDIO_FORMATS[options.audio_format]
    audio_in: Dict[str, Any] = {"format": dict(fmt), "turn_detection": _turn_detection(config)}
    transcription = options.input_transcription
    audio_in["transcription"] = None if transcription is None else dict(transcription)
    if options.noise_reduction is not None:
        audio_in["noise_reduction"] = {"type": options.noise_reduction}
    audio_out: Dict[str, Any] = {"format": dict(fmt)}
    if config.voice is not None:
        audio_out["voice"] = config.voice
    if options.speed is not None:
        audio_out["speed"] = options.speed
    session: Dict[str, Any] = {"type": "realtime"}
    if config.instructions is not None:
        session["instructions"] = config.instructions
    if config.output_modalities:
        session["output_modalities"] = ["audio" if "audio" in config.output_modalities else "text"]
    session["audio"] = {"input": audio_in, "output": audio_out}
    session["tools"] = wire_tools(config)
    if options.tool_choice is not None:
        choice = options.tool_choice
        session["tool_choice"] = dict(choice) if isinstance(choice, Mapping) else choice
    if config.max_output_tokens is not None:
        session["max_output_tokens"] = config.max_output_tokens
    extra = {k: v for k, v in config.provider_options.items()
             if k not in FORBIDDEN_SESSION_KEYS and k != "tools"}
    return deep_merge(session, extra) if extra else session


def session_diff(new: Mapping[str, Any], old: Mapping[str, Any]) -> Dict[str, Any]:
    """The part of session ``new`` that differs from ``old`` (a partial ``session.update``).

    Objects are compared key by key, except those the server replaces whole (formats, turn
    detection, transcription, tools, ...). A key ``old`` has and ``new`` lacks is left alone:
    a partial update cannot unset it. ``type`` is always kept.
    """
    out: Dict[str, Any] = {}
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        if (isinstance(value, Mapping) and isinstance(old.get(key), Mapping)
                and key not in _ATOMIC):
            sub = session_diff(value, old[key])
            if sub:
                out[key] = sub
        else:
            out[key] = value
    if "type" in new:
        out["type"] = new["type"]
    return out
