"""The xAI session schema of the fake Grok peer (protocols.md §8.2), in the OpenAI peer's vocabulary.

xAI's session is a hybrid: top-level ``voice`` and ``turn_detection``, GA-style
``audio.{input,output}.format`` with a PCM rate per direction, ``audio.input.transcription
{model, language_hint, keyterms}``, ``audio.output.speed`` (0.7 to 1.5), ``tools`` (function plus
the server's own), ``reasoning``, ``resumption`` and a ``replace`` pronunciation map.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from ...adapters._grok._wire import DEFAULT_VOICE, PCM_RATES, REASONING_EFFORTS, SPEED_RANGE, THRESHOLD_RANGE
from .._openai._schema import (
    FUNCTION_TOOL,
    AnyJSON,
    Bool,
    Enum,
    Int,
    ListOf,
    Nullable,
    Num,
    Obj,
    Str,
    Tagged,
)

__all__ = ["SESSION", "default_session", "ga_session"]

_PCM_24K = {"type": "audio/pcm", "rate": 24000}
FORMAT = Tagged(
    {"audio/pcm": Obj({"type": Str(), "rate": Enum(*PCM_RATES)}),
     "audio/pcmu": Obj({"type": Str()}),
     "audio/pcma": Obj({"type": Str()})},
    defaults={"audio/pcm": _PCM_24K, "audio/pcmu": {"type": "audio/pcmu"},
              "audio/pcma": {"type": "audio/pcma"}},
)
_SERVER_VAD_DEFAULT = {"type": "server_vad", "threshold": 0.85, "prefix_padding_ms": 333,
                       "silence_duration_ms": 500, "idle_timeout_ms": None}  # silence: U
TURN_DETECTION = Nullable(Tagged(
    {"server_vad": Obj({"type": Str(), "threshold": Num(*THRESHOLD_RANGE), "prefix_padding_ms": Int(0, 10000),
                        "silence_duration_ms": Int(0, 10000), "idle_timeout_ms": Nullable(Int(0))})},
    defaults={"server_vad": _SERVER_VAD_DEFAULT},
))
TRANSCRIPTION = Nullable(Obj({"model": Str(), "language_hint": Str(), "keyterms": ListOf(Str())}))
TOOLS = ListOf(Tagged({
    "function": FUNCTION_TOOL,
    "web_search": Obj({"type": Str()}),
    "x_search": Obj({"type": Str(), "allowed_x_handles": ListOf(Str())}),
    "file_search": Obj({"type": Str(), "vector_store_ids": ListOf(Str()), "max_num_results": Int(1)},
                       required=("vector_store_ids",)),
    "mcp": AnyJSON("object"),  # type: ignore[dict-item]  # xAI's MCP fields are unlisted: taken as given
}))

SESSION = Obj({
    "instructions": Str(),
    "voice": Str(),  # eve, ara, rex, sal, leo (any case) or a custom voice id
    "turn_detection": TURN_DETECTION,
    "audio": Obj({
        "input": Obj({"format": FORMAT, "transcription": TRANSCRIPTION}),
        "output": Obj({"format": FORMAT, "speed": Num(*SPEED_RANGE)}),
    }),
    "tools": TOOLS,
    "reasoning": Nullable(Obj({"effort": Enum(*REASONING_EFFORTS)})),
    "resumption": Obj({"enabled": Bool()}),
    "replace": AnyJSON("object"),
})


def default_session(instructions: str, voice: Optional[str] = None) -> Dict[str, Any]:
    """The xAI session the fake reports in ``session.created`` before any update."""
    return {
        "instructions": instructions,
        "voice": voice or DEFAULT_VOICE,
        "turn_detection": dict(_SERVER_VAD_DEFAULT),
        "audio": {"input": {"format": dict(_PCM_24K), "transcription": None},
                  "output": {"format": dict(_PCM_24K), "speed": 1.0}},
        "tools": [],
        "resumption": {"enabled": False},
    }


def ga_session(session: Dict[str, Any], modality: str) -> Dict[str, Any]:
    """The GA session that drives the OpenAI peer underneath for xAI ``session``.

    PCM at any rate becomes 24 kHz (the xAI peer resamples at the edge); the server's own tools
    are left out (they run server-side and never reach the client); transcription is on when
    xAI's is (the peer renders it xAI's way).
    """
    audio_in, audio_out = session["audio"]["input"], session["audio"]["output"]
    vad = session.get("turn_detection")
    ga_vad = None if vad is None else {
        "type": "server_vad", "create_response": True, "interrupt_response": True,
        **{k: v for k, v in vad.items() if k in ("threshold", "prefix_padding_ms", "silence_duration_ms")}}
    return {
        "type": "realtime",
        "instructions": session.get("instructions", ""),
        "output_modalities": [modality],
        "audio": {
            "input": {"format": _ga_format(audio_in["format"]), "turn_detection": ga_vad,
                      "transcription": (None if audio_in.get("transcription") is None
                                        else {"model": "whisper-1"})},
            "output": {"format": _ga_format(audio_out["format"]), "speed": audio_out.get("speed", 1.0)},
        },
        "tools": [copy.deepcopy(t) for t in session.get("tools", []) if t.get("type") == "function"],
    }


def _ga_format(fmt: Dict[str, Any]) -> Dict[str, Any]:
    return dict(_PCM_24K) if fmt.get("type") == "audio/pcm" else {"type": fmt["type"]}
