"""Reading Gemini server messages: tolerant key access, durations, usage, frame decoding.

Pure helpers for ``_protocol.py``: keys are read in camelCase or snake_case (the server speaks
camelCase; the SDK writes some keys in snake_case), mistyped fields raise
:class:`~.._common.FrameError`, and nothing here keeps state.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple, Union

from ... import _events as ev
from ..._models import UsageInfo
from .._common import FrameError, excerpt, type_name

__all__ = ["decode", "get", "obj", "parse_duration", "seq", "string", "usage_info"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: Any) -> float:
    """Seconds in a protobuf ``Duration``: JSON ``"50s"``/``"1.5s"``, or ``{seconds, nanos}``.

    Raises:
        FrameError: anything else.
    """
    if type(value) is str:
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
    elif type(value) is dict:
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        if isinstance(seconds, (int, str)) and isinstance(nanos, int):
            try:
                return float(seconds) + nanos / 1e9
            except ValueError:
                pass
    raise FrameError(f"timeLeft must be a duration such as '50s', got {type_name(value)}")


def get(node: Dict[str, Any], camel: str) -> Any:
    """``node[camel]``, or its snake_case spelling (the server speaks camelCase; be tolerant)."""
    if camel in node:
        return node[camel]
    return node.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def obj(node: Dict[str, Any], key: str) -> Optional[Dict[str, Any]]:
    """``node[key]`` if it is an object, ``None`` if absent, else :class:`FrameError`."""
    value = get(node, key)
    if value is None or type(value) is dict:
        return value
    raise FrameError(f"{key} must be an object, got {type_name(value)}")


def seq(node: Dict[str, Any], key: str) -> List[Any]:
    """``node[key]`` if it is an array, ``[]`` if absent, else :class:`FrameError`."""
    value = get(node, key)
    if value is None:
        return []
    if type(value) is list:
        return value
    raise FrameError(f"{key} must be an array, got {type_name(value)}")


def string(node: Dict[str, Any], key: str) -> Optional[str]:
    """``node[key]`` if it is a string, ``None`` if absent, else :class:`FrameError`."""
    value = get(node, key)
    if value is None or type(value) is str:
        return value
    raise FrameError(f"{key} must be a string, got {type_name(value)}")


def _count(node: Any, key: str) -> int:
    value = get(node, key) if type(node) is dict else None
    return value if type(value) is int else 0


def _modality_count(details: Any, modality: str) -> int:
    if type(details) is not list:
        return 0
    return sum(_count(d, "tokenCount") for d in details
               if type(d) is dict and get(d, "modality") == modality)


def usage_info(usage: Any, turn: Optional[str]) -> Optional[UsageInfo]:
    """A :class:`UsageInfo` from ``usageMetadata``; missing or mistyped counts read as 0."""
    if type(usage) is not dict:
        return None
    prompt = get(usage, "promptTokensDetails")
    response = get(usage, "responseTokensDetails")
    output = _count(usage, "responseTokenCount") + _count(usage, "thoughtsTokenCount")
    inp = _count(usage, "promptTokenCount") + _count(usage, "toolUsePromptTokenCount")
    return UsageInfo(input_tokens=inp, output_tokens=output,
                     total_tokens=_count(usage, "totalTokenCount") or inp + output,
                     input_text_tokens=_modality_count(prompt, "TEXT"),
                     input_audio_tokens=_modality_count(prompt, "AUDIO"),
                     input_image_tokens=_modality_count(prompt, "IMAGE") + _modality_count(prompt, "VIDEO"),
                     cached_tokens=_count(usage, "cachedContentTokenCount"),
                     output_text_tokens=_modality_count(response, "TEXT"),
                     output_audio_tokens=_modality_count(response, "AUDIO"), response_id=turn)


def decode(frame: Union[str, bytes]) -> Union[ev.Malformed, Tuple[Dict[str, Any], str]]:
    if isinstance(frame, str):
        text = frame
    elif isinstance(frame, (bytes, bytearray, memoryview)):
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            head = bytes(frame[:400]).decode("utf-8", "replace")
            return ev.Malformed("frame is not valid UTF-8", excerpt(head))
    else:
        return ev.Malformed(f"frame must be str or bytes, got {type(frame).__name__}")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return ev.Malformed("frame is not valid JSON", excerpt(text))
    if type(msg) is not dict:
        return ev.Malformed("frame is not a JSON object", excerpt(text))
    return msg, text
