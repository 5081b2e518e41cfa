"""Validate ElevenLabs frames against the vendored AsyncAPI contract, strictly.

The contract (``data/elevenlabs/schema/agent.asyncapi.yaml``, see the README there) is the
oracle: our session and our fake agent share ``_wire.py``, so only an outside contract can
catch a mistake they agree on. JSON Schema lets undeclared keys through unless a schema says
``additionalProperties: false``, and the contract rarely says it; here an undeclared key is an
error unless the schema declares no properties at all (a free-form object) or says
``additionalProperties: true``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from pathlib import Path
from typing import Any, Dict, List, Union

import yaml

SCHEMA_FILE = Path(__file__).parent / "data" / "elevenlabs" / "schema" / "agent.asyncapi.yaml"


class ContractError(AssertionError):
    """A frame breaks the ElevenLabs AsyncAPI contract."""


@functools.lru_cache(maxsize=1)
def contract() -> Dict[str, Any]:
    return yaml.safe_load(SCHEMA_FILE.read_text())


def _resolve(schema: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in schema:
        node: Any = contract()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


@functools.lru_cache(maxsize=2)
def _payloads(direction: str) -> Dict[str, Dict[str, Any]]:
    """``type`` (or ``user_audio_chunk``) -> payload schema, for ``publish`` (server) or ``subscribe``."""
    channel = contract()["channels"]["AgentMessages"][direction]
    out: Dict[str, Dict[str, Any]] = {}
    for ref in channel["message"]["oneOf"]:
        payload = _resolve(_resolve(ref)["payload"])
        kind = payload.get("properties", {}).get("type", {}).get("const")
        out[kind or "user_audio_chunk"] = payload
    return out


def _type_ok(value: Any, kind: str) -> bool:
    return {"string": isinstance(value, str), "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "object": isinstance(value, dict), "array": isinstance(value, list),
            "null": value is None}[kind]


def _declared(schema: Dict[str, Any]) -> Dict[str, Any]:
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(_declared(_resolve(part)))
    return props


def check(value: Any, schema: Dict[str, Any], path: str = "$") -> List[str]:
    """Every way ``value`` breaks ``schema`` (empty: it conforms)."""
    schema = _resolve(schema)
    if value is None and schema.get("nullable"):
        return []
    problems: List[str] = []
    for key in ("oneOf", "anyOf"):
        if key in schema:
            matches = [not check(value, option, path) for option in schema[key]]
            if (key == "oneOf" and sum(matches) != 1) or (key == "anyOf" and not any(matches)):
                return [f"{path}: matches {sum(matches)} of the {key} options"]
    for part in schema.get("allOf", []):
        sub = {k: v for k, v in _resolve(part).items() if k != "additionalProperties"}
        problems += check(value, sub, path)
    kind = schema.get("type")
    if kind is not None and not _type_ok(value, kind):
        return [*problems, f"{path}: expected {kind}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of the enum values")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above {schema['maximum']}")
    if isinstance(value, str) and schema.get("format") == "base64":
        try:
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            problems.append(f"{path}: not base64")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                problems += check(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict) and (kind == "object" or "properties" in schema or "allOf" in schema):
        declared = _declared(schema)
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing required {key!r}")
        free = schema.get("additionalProperties") is True or not declared
        for key, item in value.items():
            if key in declared:
                problems += check(item, declared[key], f"{path}.{key}")
            elif not free:
                problems.append(f"{path}: undeclared field {key!r}")
    return problems


def _validate(frame: Union[str, bytes, Dict[str, Any]], direction: str) -> Dict[str, Any]:
    data = json.loads(frame) if isinstance(frame, (str, bytes)) else frame
    if not isinstance(data, dict):
        raise ContractError(f"a frame must be a JSON object, got {type(data).__name__}")
    kind = data.get("type", "user_audio_chunk" if "user_audio_chunk" in data else None)
    schema = _payloads(direction).get(kind)
    if schema is None:
        raise ContractError(f"{kind!r} is not a {'server' if direction == 'publish' else 'client'} message "
                            "of the contract")
    problems = check(data, schema)
    if problems:
        raise ContractError(f"{kind}: " + "; ".join(problems))
    return data


def validate_client_frame(frame: Union[str, bytes, Dict[str, Any]]) -> Dict[str, Any]:
    """Raise ContractError unless ``frame`` is a client message of the contract, no extra keys."""
    return _validate(frame, "subscribe")


def validate_server_frame(frame: Union[str, bytes, Dict[str, Any]]) -> Dict[str, Any]:
    """Raise ContractError unless ``frame`` is a server message of the contract, no extra keys."""
    return _validate(frame, "publish")
