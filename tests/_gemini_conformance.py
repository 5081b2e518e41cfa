"""Validate Gemini Live frames against google-genai's pydantic models (the independent oracle).

``types.LiveClientMessage`` / ``types.LiveServerMessage`` forbid undeclared keys at every depth
(google-genai's ``BaseModel`` has ``extra="forbid"``) and accept camelCase and snake_case alike.
We validate in JSON mode, so ``bytes`` fields are checked as base64 the way the SDK reads
them. Pydantic's strict mode would refuse base64 text for ``bytes``, so lax validation is
followed by :func:`coerced`, which walks input and model together and reports every value
pydantic had to convert (``"1"`` for a number, ``1`` for a string, ``0`` for a bool).

One gap in the models: ``LiveClientSetup`` does not declare ``realtimeInputConfig``, although
the SDK's own converter (``_live_converters._LiveConnectConfig_to_mldev``) writes
``setup.realtimeInputConfig`` from ``LiveConnectConfig.realtime_input_config``. That field is
therefore checked on its own against ``types.RealtimeInputConfig``, equally strictly.

A client message must have exactly one top-level key (protocols.md §3.3).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Dict, List, Union

from google.genai import types
from pydantic import BaseModel

__all__ = ["validate_client_frame", "validate_server_frame"]


def _load(frame: Union[str, bytes, Dict[str, Any]]) -> Dict[str, Any]:
    data = json.loads(frame) if isinstance(frame, (str, bytes)) else json.loads(json.dumps(frame))
    assert isinstance(data, dict), f"a Gemini message is a JSON object, got {type(data).__name__}"
    return data


def coerced(value: Any, model: Any, path: str = "") -> List[str]:
    """Dotted paths where the JSON ``value`` is not the JSON type the validated ``model`` holds."""
    found: List[str] = []
    if isinstance(model, BaseModel):
        if type(value) is not dict:
            return [f"{path or '.'}: expected an object"]
        fields = type(model).model_fields
        by_alias = {(f.alias or name): name for name, f in fields.items()}
        for key, item in value.items():
            name = by_alias.get(key, key)
            if name in fields:
                found += coerced(item, getattr(model, name), f"{path}.{key}" if path else key)
        return found
    if isinstance(model, (list, tuple)):
        if type(value) is not list:
            return [f"{path}: expected an array"]
        for i, (item, sub) in enumerate(zip(value, model)):
            found += coerced(item, sub, f"{path}[{i}]")
        return found
    if isinstance(model, dict):
        return [] if type(value) is dict else [f"{path}: expected an object"]
    if isinstance(model, bool):
        ok = type(value) is bool
    elif isinstance(model, (bytes, enum.Enum, str)):
        ok = type(value) is str
    elif isinstance(model, int):
        ok = type(value) is int
    elif isinstance(model, float):
        ok = type(value) in (int, float)
    else:
        ok = True  # datetimes, durations: JSON strings parsed by pydantic
    return [] if ok else [f"{path}: {type(value).__name__} coerced to {type(model).__name__}"]


def _strict(model_type: Any, data: Dict[str, Any]) -> BaseModel:
    model = model_type.model_validate_json(json.dumps(data))
    bad = coerced(data, model)
    assert not bad, f"values of the wrong JSON type: {bad}"
    return model


def validate_client_frame(frame: Union[str, bytes, Dict[str, Any]]) -> BaseModel:
    """Raise unless ``frame`` is a valid ``LiveClientMessage`` with one key and no extra fields."""
    data = _load(frame)
    assert len(data) == 1, f"a client message has exactly one top-level key, got {sorted(data)}"
    setup = data.get("setup")
    if isinstance(setup, dict) and "realtimeInputConfig" in setup:
        setup = dict(setup)
        _strict(types.RealtimeInputConfig, setup.pop("realtimeInputConfig"))
        data = {"setup": setup}
    return _strict(types.LiveClientMessage, data)


def validate_server_frame(frame: Union[str, bytes, Dict[str, Any]]) -> BaseModel:
    """Raise unless ``frame`` is a valid ``LiveServerMessage`` with no undeclared fields."""
    data = _load(frame)
    assert data, "an empty server message"
    return _strict(types.LiveServerMessage, data)
