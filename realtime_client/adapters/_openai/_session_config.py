"""The GA session object: built from a :class:`SessionConfig`, and the difference between two.

Pure functions, shared by every OpenAI-dialect provider (OpenAI, Azure; xAI builds its own
hybrid shape but reuses the tool and diff helpers).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

import attrs

from ..._models import SessionConfig
from .._common import deep_merge, tool_schema

__all__ = ["AUDIO_FORMATS", "MAX_OUTPUT_TOKENS", "SessionOptions", "build_session", "check_session",
           "session_diff", "wire_tools"]

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
# Beta session fields removed in GA (protocols.md §1.4): one of them makes the server reject the
# whole update (unknown_parameter). Each maps to where GA keeps the setting.
_BETA_SESSION_KEYS = {
    "modalities": "output_modalities (one value)",
    "voice": "audio.output.voice (voice=)",
    "input_audio_format": "openai_realtime(audio_format=...)",
    "output_audio_format": "openai_realtime(audio_format=...)",
    "input_audio_transcription": "openai_realtime(input_transcription=...)",
    "turn_detection": "audio.input.turn_detection (vad_mode=, vad_config=)",
    "input_audio_noise_reduction": "openai_realtime(noise_reduction=...)",
    "max_response_output_tokens": "max_output_tokens",
}
# GA max_output_tokens: "an integer between 1 and 4096 ... or inf" (openai 3.57.0,
# types/realtime/realtime_session_create_request.py; protocols.md §1.4 and §8.1).
MAX_OUTPUT_TOKENS = 4096
_OUTPUT_MODALITIES = (("audio",), ("text",))
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


def check_session(config: SessionConfig, adapter_model: Optional[str] = None) -> List[str]:
    """Refuse what OpenAI GA (and Azure's GA dialect) cannot honour; return the settings that
    will have no effect.

    Every :class:`SessionConfig` field is either sent (``model`` as ``?model=``, the rest in
    ``session``), refused here, or named in the returned notes: settings that are kept (for a
    later ``vad_mode``) but have no effect in this one. ``docs/providers.md`` has the table.

    Args:
        config: the settings to check.
        adapter_model: ``openai_realtime(model=...)``, which wins over ``config.model``.

    Returns:
        One sentence per setting that is accepted but does nothing with this configuration.

    Raises:
        ValueError: ``temperature`` is set (GA removed it; the server rejects the whole update);
            ``output_modalities`` is not exactly ``["audio"]`` or ``["text"]``;
            ``max_output_tokens`` is over 4096; ``model`` differs from the adapter's; ``voice``
            is empty; ``provider_options`` holds a removed beta field or a ``type`` other than
            ``"realtime"``.
    """
    if config.temperature is not None:
        raise ValueError("temperature cannot be set for OpenAI Realtime (GA): the GA session has no "
                         "temperature and the server rejects an update carrying it; leave it out "
                         "(it is kept in SessionConfig for providers that accept it)")
    modalities = config.output_modalities
    if modalities is not None and modalities not in _OUTPUT_MODALITIES:
        raise ValueError(f"output_modalities for OpenAI Realtime (GA) must be exactly ['audio'] (speech, "
                         f"which always comes with a transcript) or ['text'], got {list(modalities)!r}")
    limit = config.max_output_tokens
    if isinstance(limit, int) and limit > MAX_OUTPUT_TOKENS:
        raise ValueError(f"max_output_tokens for OpenAI Realtime (GA) must be 1 to {MAX_OUTPUT_TOKENS} "
                         f"or 'inf', got {limit!r}")
    if adapter_model is not None and config.model is not None and config.model != adapter_model:
        raise ValueError(f"model={config.model!r} conflicts with openai_realtime(model={adapter_model!r}), "
                         "which would win; set the model in one place")
    if isinstance(config.voice, str) and not config.voice.strip():
        raise ValueError("voice must be a voice name such as 'marin', not an empty string")
    options = config.provider_options
    for key, instead in _BETA_SESSION_KEYS.items():
        if key in options:
            raise ValueError(f"provider_options[{key!r}] is a beta session field that OpenAI Realtime (GA) "
                             f"rejects; use {instead}")
    if "type" in options and options["type"] != "realtime":
        raise ValueError(f"provider_options['type'] must be 'realtime' for a realtime session, "
                         f"got {options['type']!r}")
    return _no_effect(config)


def _no_effect(config: SessionConfig) -> List[str]:
    notes = []
    vad, mode = config.vad_config, config.vad_mode
    if vad is not None and mode == "manual":
        set_fields = [f for f in _SERVER_VAD_FIELDS if getattr(vad, f) is not None]
        if set_fields:
            notes.append(f"vad_config ({', '.join(set_fields)}) has no effect with vad_mode='manual' "
                         "(turn detection is off); it applies again with vad_mode='server'/'semantic'")
    elif vad is not None and mode == "semantic":
        server_only = [f for f in _SERVER_VAD_FIELDS if f not in _SEMANTIC_VAD_FIELDS
                       and getattr(vad, f) is not None]
        if server_only:
            notes.append(f"vad_config {', '.join(server_only)} has no effect with vad_mode='semantic' "
                         "(OpenAI's semantic_vad takes only eagerness, create_response and "
                         "interrupt_response); it applies with vad_mode='server'")
    if config.semantic_eagerness is not None and mode != "semantic":
        notes.append(f"semantic_eagerness has no effect with vad_mode={mode!r}; "
                     "it applies with vad_mode='semantic'")
    return notes


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
    holds one value: :func:`check_session` refuses asking for both, and a config that got past it
    anyway gives ``["audio"]`` (audio always has a transcript). Settings :func:`check_session`
    reports as having no effect are left out.
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
