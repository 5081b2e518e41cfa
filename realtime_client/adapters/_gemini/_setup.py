"""The Gemini ``setup`` message, history turns and tool declarations: pure functions.

``build_setup`` maps a :class:`SessionConfig` (plus the adapter's own options) onto
``BidiGenerateContentSetup`` (protocols.md §3.3, §8.3); ``check_config`` refuses what Gemini
Live cannot honour and names what has no effect; ``history_turns`` renders the conversation as
``clientContent`` turns for a fresh session seeded with history.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from ..._models import (
    AudioPart,
    ImagePart,
    RealtimeMessage,
    SessionConfig,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from .._common import deep_merge, tool_schema

__all__ = ["GeminiOptions", "build_setup", "check_config", "context_update", "history_turns",
           "image_blob", "model_name", "tool_response"]

_OUTPUT_MODALITIES = (("audio",), ("text",))
# SessionConfig fields that contextUpdate can change on an open connection (3.8-live).
CONTEXT_FIELDS = frozenset({"instructions", "tools"})
# Refused in provider_options: they would contradict what the adapter manages itself.
_FORBIDDEN_OPTIONS = {
    "model": "choose the model with gemini_realtime(model=...) or SessionConfig.model",
    "sessionResumption": "use gemini_realtime(session_resumption=...)",
    "historyConfig": "the client sets it when it seeds a fresh session with history",
}


@attrs.frozen
class GeminiOptions:
    """Adapter-level settings that are not part of :class:`SessionConfig`."""

    input_transcription: bool = True
    output_transcription: bool = True
    session_resumption: bool = True
    context_compression: Optional[Dict[str, Any]] = attrs.field(factory=lambda: {"slidingWindow": {}})


def model_name(model: str) -> str:
    """The setup's model resource name: ``models/<id>`` (an already-prefixed name is kept)."""
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def check_config(config: SessionConfig, adapter_model: Optional[str] = None) -> List[str]:
    """Refuse what Gemini Live cannot honour; return one sentence per setting with no effect.

    Raises:
        ValueError: ``vad_mode='semantic'`` (Gemini has only automatic activity detection and
            manual activityStart/activityEnd); ``output_modalities`` other than exactly
            ``["audio"]`` or ``["text"]``; a ``model`` that conflicts with the adapter's; an
            empty voice; ``provider_options`` holding a key the adapter manages.
        TypeError: ``provider_options["tools"]`` is not a list, or a tool cannot be encoded.
    """
    if config.vad_mode == "semantic":
        raise ValueError("vad_mode='semantic' is not available on Gemini Live: use 'server' (automatic "
                         "activity detection) or 'manual' (push-to-talk with activityStart/activityEnd)")
    modalities = config.output_modalities
    if modalities is not None and modalities not in _OUTPUT_MODALITIES:
        raise ValueError("output_modalities for Gemini Live must be exactly ['audio'] (speech, with its "
                         f"transcript) or ['text'], got {list(modalities)!r}")
    if adapter_model is not None and config.model is not None and config.model != adapter_model:
        raise ValueError(f"model={config.model!r} conflicts with gemini_realtime(model={adapter_model!r}), "
                         "which would win; set the model in one place")
    if isinstance(config.voice, str) and not config.voice.strip():
        raise ValueError("voice must be a voice name such as 'Puck', not an empty string")
    options = config.provider_options
    for key, instead in _FORBIDDEN_OPTIONS.items():
        if key in options:
            raise ValueError(f"provider_options[{key!r}] is managed by the Gemini adapter: {instead}")
    if "tools" in options and not isinstance(options["tools"], (list, tuple)):
        raise TypeError("provider_options['tools'] must be a list of Gemini tool dicts")
    for t in config.tools:
        if not isinstance(t, Mapping):
            tool_schema(t)
    return _no_effect(config)


def _no_effect(config: SessionConfig) -> List[str]:
    notes = []
    vad = config.vad_config
    if vad is not None:
        fields: Tuple[str, ...] = ("threshold", "idle_timeout_ms", "create_response")
        if config.vad_mode == "manual":
            fields = ("threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms",
                      "create_response", "interrupt_response")
        unmapped = [f for f in fields if getattr(vad, f) is not None]
        if unmapped:
            notes.append(f"vad_config {', '.join(unmapped)} has no effect on Gemini Live with "
                         f"vad_mode={config.vad_mode!r} (its detector takes sensitivities, set through "
                         "provider_options['realtimeInputConfig']['automaticActivityDetection'])")
    if config.semantic_eagerness is not None:
        notes.append("semantic_eagerness has no effect on Gemini Live (it has no semantic VAD)")
    if config.max_output_tokens == "inf":
        pass  # "inf" is the default everywhere: nothing to say
    return notes


def _function_declaration(tool: Any) -> Dict[str, Any]:
    schema = tool_schema(tool)
    out: Dict[str, Any] = {"name": schema.get("name")}
    if schema.get("description"):
        out["description"] = schema["description"]
    parameters = schema.get("parameters")
    if parameters:
        out["parametersJsonSchema"] = parameters
    return out


def wire_tools(config: SessionConfig) -> List[Dict[str, Any]]:
    """``setup.tools``: client tools in one ``functionDeclarations`` entry, provider tool dicts
    (``{"googleSearch": {}}``, ...) as given, then ``provider_options["tools"]`` appended."""
    declarations = [_function_declaration(t) for t in config.tools if not isinstance(t, Mapping)]
    out: List[Dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    out.extend(dict(t) for t in config.tools if isinstance(t, Mapping))
    extra = config.provider_options.get("tools")
    if isinstance(extra, (list, tuple)):
        out.extend(dict(t) if isinstance(t, Mapping) else t for t in extra)
    return out


def _system_instruction(text: str) -> Dict[str, Any]:
    return {"parts": [{"text": text}]}


def _realtime_input_config(config: SessionConfig) -> Dict[str, Any]:
    if config.vad_mode == "manual":
        return {"automaticActivityDetection": {"disabled": True}}
    detection: Dict[str, Any] = {"disabled": False}
    out: Dict[str, Any] = {"automaticActivityDetection": detection}
    vad = config.vad_config
    if vad is not None:
        if vad.prefix_padding_ms is not None:
            detection["prefixPaddingMs"] = vad.prefix_padding_ms
        if vad.silence_duration_ms is not None:
            detection["silenceDurationMs"] = vad.silence_duration_ms
        if vad.interrupt_response is not None:
            out["activityHandling"] = ("START_OF_ACTIVITY_INTERRUPTS" if vad.interrupt_response
                                       else "NO_INTERRUPTION")
    return out


def build_setup(config: SessionConfig, options: GeminiOptions, model: str, *,
                handle: Optional[str] = None, seed_history: bool = False) -> Dict[str, Any]:
    """The ``setup`` object (the value of the first message's only key).

    Args:
        config: the session settings.
        options: the adapter's own settings (transcription, resumption, compression).
        model: the model id (``models/`` is added when missing).
        handle: resume the session this handle names (``sessionResumption.handle``).
        seed_history: the history follows as ``clientContent`` turns
            (``historyConfig.initialHistoryInClientContent``).

    ``provider_options`` is deep-merged last (its ``tools`` are appended to ``tools``).
    """
    text_out = config.output_modalities == ("text",)
    generation: Dict[str, Any] = {"responseModalities": ["TEXT" if text_out else "AUDIO"]}
    if config.voice is not None and not text_out:
        generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": config.voice}}}
    if config.temperature is not None:
        generation["temperature"] = config.temperature
    if isinstance(config.max_output_tokens, int):
        generation["maxOutputTokens"] = config.max_output_tokens
    setup: Dict[str, Any] = {"model": model_name(model), "generationConfig": generation}
    if config.instructions is not None:
        setup["systemInstruction"] = _system_instruction(config.instructions)
    tools = wire_tools(config)
    if tools:
        setup["tools"] = tools
    setup["realtimeInputConfig"] = _realtime_input_config(config)
    if options.input_transcription:
        setup["inputAudioTranscription"] = {}
    if options.output_transcription and not text_out:
        setup["outputAudioTranscription"] = {}
    if options.session_resumption:
        setup["sessionResumption"] = {"handle": handle} if handle else {}
    if options.context_compression is not None:
        setup["contextWindowCompression"] = json.loads(json.dumps(options.context_compression))
    if seed_history:
        setup["historyConfig"] = {"initialHistoryInClientContent": True}
    extra = {k: v for k, v in config.provider_options.items() if k != "tools"}
    return deep_merge(setup, extra) if extra else setup


def context_update(config: SessionConfig, changed: Any) -> Dict[str, Any]:
    """``contextUpdate`` with the ``changed`` instructions and/or tools of ``config`` (3.8-live).

    Only fields that are set are updated. ``tools`` is a wrapper object (``{"tools": [...]}``),
    so an empty list clears the tools while an absent field keeps them.
    """
    update: Dict[str, Any] = {}
    if "instructions" in changed:
        update["systemInstruction"] = _system_instruction(config.instructions or "")
    if "tools" in changed:
        update["tools"] = {"tools": wire_tools(config)}
    return update


def image_blob(part: ImagePart) -> Dict[str, str]:
    """``{"data", "mimeType"}`` for an image part (a ``data:`` URL is unwrapped to its base64)."""
    data = part.data.strip()
    mime = part.mime_type
    if data[:5].lower() == "data:":
        head, _, payload = data.partition(",")
        declared = head[5:].split(";", 1)[0].strip()
        if declared:
            mime = declared
        data = payload
    return {"data": "".join(data.split()), "mimeType": mime}


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def tool_response(call_id: str, name: str, output: str, is_error: bool) -> Dict[str, Any]:
    """One ``functionResponses`` entry: ``response`` is ``{"output": ...}`` or ``{"error": ...}``."""
    value = _json_value(output)
    if is_error:
        message = value.get("error", value) if isinstance(value, dict) else value
        response: Dict[str, Any] = {"error": message}
    else:
        response = {"output": value}
    return {"id": call_id, "name": name, "response": response}


def history_turns(messages: Sequence[RealtimeMessage]) -> List[Dict[str, Any]]:
    """The conversation as ``clientContent.turns``: user turns ``role: user``, assistant turns
    ``role: model``; text and transcripts as text parts, a tool call as a ``functionCall`` part
    followed by its ``functionResponse`` (calls without a known result are left out), images as
    ``inlineData``. Consecutive messages of one role share a turn."""
    results: Dict[str, str] = {}
    for msg in messages:
        for part in msg.parts:
            if isinstance(part, ToolResultPart):
                results.setdefault(part.tool_call_id, part.content)
    turns: List[Dict[str, Any]] = []

    def add(role: str, parts: List[Dict[str, Any]]) -> None:
        if not parts:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"].extend(parts)
        else:
            turns.append({"role": role, "parts": list(parts)})

    for msg in messages:
        role = "user" if msg.role == "user" else "model"
        parts: List[Dict[str, Any]] = []
        for part in msg.parts:
            if isinstance(part, TextPart) and part.content:
                parts.append({"text": part.content})
            elif isinstance(part, AudioPart) and part.transcript:
                parts.append({"text": part.transcript})
            elif isinstance(part, ImagePart) and role == "user":
                parts.append({"inlineData": image_blob(part)})
            elif isinstance(part, ToolCallPart):
                output = results.get(part.id)
                if output is None and part.output is not None:
                    output = part.output if isinstance(part.output, str) else json.dumps(part.output,
                                                                                           default=str)
                if output is None:
                    continue
                args = _json_value(part.arguments or "{}")
                add(role, parts)
                parts = []
                add("model", [{"functionCall": {"id": part.id, "name": part.name,
                                                "args": args if isinstance(args, dict) else {}}}])
                response = tool_response(part.id, part.name, output, False)
                add("user", [{"functionResponse": response}])
        add(role, parts)
    return turns
