"""Validate wire frames against the ``openai`` package's realtime event models.

The openai unions declare their discriminator through openai's own ``PropertyInfo``, which
pydantic ignores, so we rebuild them as real discriminated unions on ``type``. The models
accept undeclared keys silently (``extra="allow"``); :func:`undeclared_fields` walks the
validated model and reports every such key at any depth.
"""

from __future__ import annotations

import json
import typing
from typing import Any, List, Union

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, Field, TypeAdapter


def _discriminated(union: Any) -> TypeAdapter:
    members = typing.get_args(typing.get_args(union)[0])
    return TypeAdapter(typing.Annotated[Union[members], Field(discriminator="type")])


CLIENT_EVENTS = _discriminated(RealtimeClientEvent)
SERVER_EVENTS = _discriminated(RealtimeServerEvent)


def undeclared_fields(model: Any, path: str = "") -> List[str]:
    """Dotted paths of keys present in the input but not declared by the model."""
    found: List[str] = []
    if isinstance(model, BaseModel):
        for key in (model.__pydantic_extra__ or {}):
            found.append(f"{path}.{key}" if path else key)
        for name in type(model).model_fields:
            found += undeclared_fields(getattr(model, name), f"{path}.{name}" if path else name)
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            found += undeclared_fields(item, f"{path}[{i}]")
    elif isinstance(model, dict):
        for key, value in model.items():
            found += undeclared_fields(value, f"{path}.{key}")
    return found


def _load(frame: Union[str, bytes, dict]) -> Any:
    if isinstance(frame, (str, bytes)):
        return json.loads(frame)
    return frame


def validate_client_frame(frame: Union[str, bytes, dict]) -> BaseModel:
    """Raise AssertionError unless ``frame`` is a valid GA client event with no extra keys."""
    data = _load(frame)
    model = CLIENT_EVENTS.validate_python(data)
    extra = undeclared_fields(model)
    assert not extra, f"{data.get('type')}: undeclared field(s) {extra}"
    return model


def validate_server_frame(frame: Union[str, bytes, dict]) -> BaseModel:
    """Raise AssertionError unless ``frame`` is a valid GA server event with no extra keys."""
    data = _load(frame)
    model = SERVER_EVENTS.validate_python(data)
    extra = undeclared_fields(model)
    assert not extra, f"{data.get('type')}: undeclared field(s) {extra}"
    return model
