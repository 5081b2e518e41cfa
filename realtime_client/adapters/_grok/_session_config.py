"""The xAI session object: OpenAI's GA session reshaped into xAI's hybrid, and the config checks.

xAI's session (protocols.md §8.2) keeps ``voice`` and ``turn_detection`` at the top level,
GA-style ``audio.{input,output}.format`` (with a rate per direction), ``audio.input.transcription
{model, language_hint, keyterms}``, ``audio.output.speed``, ``tools``, ``reasoning``,
``resumption`` and ``replace``. The GA builder (``adapters/_openai/_session_config.py``) is reused
for what the dialects share (instructions, the VAD mapping, tools) and its result is reshaped.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import attrs

from ..._models import SessionConfig
from ...audio._format import PCM16_24K, AudioFormat
from .._common import deep_merge, tool_schema
from .._openai._session_config import SessionOptions, build_session, wire_tools
from . import _wire as wire

__all__ = ["TURN_DETECTION_FIELDS", "GrokOptions", "build_grok_session", "check_grok_config", "wire_format"]

#: server_vad fields xAI declares (create_response / interrupt_response are OpenAI's only)
TURN_DETECTION_FIELDS = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms")
_OPENAI_ONLY_VAD = ("create_response", "interrupt_response")


@attrs.frozen
class GrokOptions:
    """Adapter-level xAI settings that are not part of :class:`SessionConfig`."""

    input_format: AudioFormat = PCM16_24K
    output_format: AudioFormat = PCM16_24K
    input_transcription: Optional[Dict[str, Any]] = None
    speed: Optional[float] = None
    reasoning_effort: Optional[str] = None
    replace: Optional[Dict[str, str]] = None
    resumption: bool = True


def wire_format(fmt: AudioFormat) -> Dict[str, Any]:
    """The xAI (GA-style) format object of ``fmt``: PCM carries its rate, G.711 is 8 kHz."""
    if fmt.encoding == "g711_ulaw":
        return {"type": "audio/pcmu"}
    if fmt.encoding == "g711_alaw":
        return {"type": "audio/pcma"}
    return {"type": "audio/pcm", "rate": fmt.rate}


def build_grok_session(config: SessionConfig, options: GrokOptions) -> Dict[str, Any]:
    """The full xAI ``session`` object for ``config``.

    Only settings that are set are sent, except ``tools`` (``[]`` clears) and
    ``turn_detection`` (``null`` in manual mode). ``provider_options`` is deep-merged last (its
    ``tools`` are appended to ``tools``).
    """
    shared = attrs.evolve(config, provider_options={}, output_modalities=None, max_output_tokens=None,
                          temperature=None, voice=None, tools=())
    ga = build_session(shared, SessionOptions())
    session: Dict[str, Any] = {}
    if "instructions" in ga:
        session["instructions"] = ga["instructions"]
    if config.voice is not None:
        session["voice"] = config.voice
    vad = ga["audio"]["input"]["turn_detection"]
    session["turn_detection"] = None if vad is None else {
        k: v for k, v in vad.items() if k in TURN_DETECTION_FIELDS}
    audio_in: Dict[str, Any] = {"format": wire_format(options.input_format)}
    if options.input_transcription is not None:
        audio_in["transcription"] = dict(options.input_transcription)
    audio_out: Dict[str, Any] = {"format": wire_format(options.output_format)}
    if options.speed is not None:
        audio_out["speed"] = options.speed
    session["audio"] = {"input": audio_in, "output": audio_out}
    session["tools"] = wire_tools(config)
    if options.reasoning_effort is not None:
        session["reasoning"] = {"effort": options.reasoning_effort}
    if options.replace is not None:
        session["replace"] = dict(options.replace)
    if options.resumption:
        session["resumption"] = {"enabled": True}
    extra = {k: v for k, v in config.provider_options.items() if k != "tools"}
    return deep_merge(session, extra) if extra else session


def check_grok_config(config: SessionConfig, adapter_model: Optional[str] = None) -> List[str]:
    """Refuse what the xAI session cannot carry; return the settings that will have no effect.

    The xAI session declares no ``temperature``, ``output_modalities``, ``max_output_tokens``,
    ``semantic_vad`` or ``create_response``/``interrupt_response`` (all **UNCONFIRMED** for xAI),
    and a field the server does not know may cost the whole update, so each is refused here
    rather than silently dropped. ``provider_options`` still sends anything as given.

    Raises:
        ValueError: one of those is set; ``vad_config.threshold`` outside 0.1 to 0.9; ``model``
            differs from the adapter's; ``voice`` is empty; ``provider_options`` sets ``model`` or
            an audio format (use ``grok_realtime(input_rate=, output_rate=, audio_format=)``).
        TypeError: a tool is neither a :class:`~realtime_client.Tool` nor a dict;
            ``provider_options["tools"]`` is not a list.
    """
    refused = {
        "temperature": config.temperature is not None,
        "max_output_tokens": config.max_output_tokens is not None,
        "output_modalities": config.output_modalities not in (None, ("audio",)),
    }
    for name, bad in refused.items():
        if bad:
            raise ValueError(f"{name} cannot be set for xAI Grok: its session has no such field "
                             "(protocols.md §8.2), and an unknown field may make the server reject the whole "
                             "update; send it through provider_options if you know the server takes it")
    if config.vad_mode == "semantic":
        raise ValueError("vad_mode='semantic' is not available for xAI Grok (its turn detection is "
                         "server_vad or none); use vad_mode='server' or 'manual'")
    vad = config.vad_config
    if vad is not None:
        for name in _OPENAI_ONLY_VAD:
            if getattr(vad, name) is not None:
                raise ValueError(f"vad_config.{name} is OpenAI's; xAI's turn detection has no such field")
        low, high = wire.THRESHOLD_RANGE
        if vad.threshold is not None and not low <= vad.threshold <= high:
            raise ValueError(f"vad_config.threshold for xAI Grok must be between {low} and {high}, "
                             f"got {vad.threshold!r}")
    if adapter_model is not None and config.model is not None and config.model != adapter_model:
        raise ValueError(f"model={config.model!r} conflicts with grok_realtime(model={adapter_model!r}), "
                         "which would win; set the model in one place")
    if isinstance(config.voice, str) and not config.voice.strip():
        raise ValueError("voice must be a voice name such as 'eve', not an empty string")
    options = config.provider_options
    if "model" in options:
        raise ValueError("provider_options['model'] cannot be sent in an xAI session.update "
                         "(choose the model with grok_realtime(model=...))")
    audio = options.get("audio")
    if isinstance(audio, Mapping):
        for direction in ("input", "output"):
            sub = audio.get(direction)
            if isinstance(sub, Mapping) and "format" in sub:
                raise ValueError(f"provider_options['audio'][{direction!r}]['format'] would change the wire "
                                 "format behind the audio engine's back: use grok_realtime(input_rate=..., "
                                 "output_rate=..., audio_format=...)")
    if "tools" in options and not isinstance(options["tools"], (list, tuple)):
        raise TypeError("provider_options['tools'] must be a list of tool dicts")
    for t in config.tools:
        if not isinstance(t, Mapping):
            tool_schema(t)
    notes = []
    if vad is not None and config.vad_mode == "manual":
        fields = [f for f in TURN_DETECTION_FIELDS[1:] if getattr(vad, f) is not None]
        if fields:
            notes.append(f"vad_config ({', '.join(fields)}) has no effect with vad_mode='manual' (turn "
                         "detection is off); it applies again with vad_mode='server'")
    if config.semantic_eagerness is not None:
        notes.append("semantic_eagerness has no effect with xAI Grok (it has no semantic_vad)")
    return notes
