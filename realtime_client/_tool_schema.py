"""JSON Schema for client tools, built from a function's signature, type hints and docstring.

Also turns JSON argument values back into what the hints ask for (Enum members, tuples, sets).
Used by :mod:`realtime_client._tools`; nothing here runs user code.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import json
import re
import sys
import types
import typing
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["coerce_arguments", "function_schema", "plain"]

_UNION_TYPES: Tuple[Any, ...] = (Union, types.UnionType) if sys.version_info >= (3, 10) else (Union,)
_ARRAY_ORIGINS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.MutableSequence,
                  collections.abc.Set, collections.abc.MutableSet, collections.abc.Iterable)
_OBJECT_ORIGINS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_NO_DEFAULT = object()


def plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, so a schema is JSON-ready and unshared."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def function_schema(func: Callable[..., Any]) -> Tuple[str, Dict[str, Any]]:
    """The docstring summary of ``func`` and the JSON Schema of its parameters.

    Raises:
        TypeError: ``*args``/``**kwargs``, a positional-only parameter, an unsupported or
            unresolvable type hint.
    """
    summary, arg_docs = _parse_docstring(inspect.getdoc(func) or "")
    return summary, _parameters_schema(func, arg_docs)


def coerce_arguments(handler: Callable[..., Any], args: Dict[str, Any]) -> Dict[str, Any]:
    """``args`` with values converted to the handler's hinted Enum/tuple/set types.

    Raises:
        ValueError: a value is not a member of its Enum (the message names the argument).
    """
    try:
        hints = typing.get_type_hints(handler)
    except Exception:
        return args
    out = dict(args)
    for key, value in args.items():
        if key in hints:
            try:
                out[key] = _coerce(hints[key], value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad value for argument {key!r}: {exc}") from exc
    return out


def _parameters_schema(func: Callable[..., Any], arg_docs: Mapping[str, str]) -> Dict[str, Any]:
    where = getattr(func, "__qualname__", repr(func))
    sig = inspect.signature(func)
    hints = _hints(func, where)
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind == param.VAR_POSITIONAL else "**"
            raise TypeError(f"tool {where}: {star}{pname} is not supported; the model passes named "
                            "arguments, so declare each parameter explicitly")
        if param.kind == param.POSITIONAL_ONLY:
            raise TypeError(f"tool {where}: parameter {pname!r} is positional-only; tool arguments "
                            "are passed by keyword")
        hint = hints.get(pname, Any)
        schema = _schema_for(hint, f"{where}({pname})")
        if "description" not in schema and pname in arg_docs:
            schema = {"description": arg_docs[pname], **schema}
        if param.default is param.empty:
            required.append(pname)
        else:
            default = _json_default(param.default)
            if default is not _NO_DEFAULT:
                schema["default"] = default
        properties[pname] = schema
    out: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _hints(func: Callable[..., Any], where: str) -> Dict[str, Any]:
    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        # partials, callable objects: take what hints there are, else treat parameters as Any
        for target in (func, getattr(func, "func", None), getattr(type(func), "__call__", None)):  # noqa: B004
            try:
                return typing.get_type_hints(target, include_extras=True)
            except Exception:
                continue
        return {}
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # unresolvable forward references and the like
        raise TypeError(f"tool {where}: cannot resolve its type hints ({exc})") from exc


def _json_default(value: Any) -> Any:
    if value is None:
        return _NO_DEFAULT  # None means "not given"; advertising null would contradict the type
    if isinstance(value, enum.Enum):
        value = value.value
    value = plain(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _NO_DEFAULT  # still optional, just not advertised
    return value


def _strip_annotated(hint: Any) -> Tuple[Any, Optional[str]]:
    description = None
    while typing.get_origin(hint) is typing.Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, str) and description is None:
                description = meta
        hint = typing.get_args(hint)[0]
    return hint, description


def _schema_for(hint: Any, where: str) -> Dict[str, Any]:
    hint, description = _strip_annotated(hint)
    schema = _bare_schema(hint, where)
    if description:
        schema = {"description": description, **schema}
    return schema


def _value_type(values: Sequence[Any]) -> Dict[str, Any]:
    kinds = {_SCALARS.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        return {"type": kinds.pop()}
    if kinds == {"integer", "number"}:
        return {"type": "number"}
    return {}


def _bare_schema(hint: Any, where: str) -> Dict[str, Any]:
    if hint is Any or hint is inspect.Parameter.empty or hint is object:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        return {**_value_type(values), "enum": values}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        values = [a.value if isinstance(a, enum.Enum) else a for a in args]
        return {**_value_type(values), "enum": values}
    if origin in _UNION_TYPES:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:  # Optional[X]: the schema of X; a default of None makes it optional
            return _schema_for(members[0], where)
        return {"anyOf": [_schema_for(a, where) for a in members]}
    if hint in _ARRAY_ORIGINS or origin in _ARRAY_ORIGINS:
        return _array_schema(hint, origin or hint, args, where)
    if hint in _OBJECT_ORIGINS or origin in _OBJECT_ORIGINS:
        if not args:
            return {"type": "object"}
        key, val = args
        if _strip_annotated(key)[0] is not str:
            raise TypeError(f"tool {where}: dict keys must be str (JSON object keys), got {key!r}")
        return {"type": "object", "additionalProperties": _schema_for(val, where)}
    raise TypeError(f"tool {where}: unsupported type hint {hint!r}; use str, int, float, bool, Literal, "
                    "an Enum, list/dict of those, or Any")


def _array_schema(hint: Any, origin: Any, args: Tuple[Any, ...], where: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"type": "array"}
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        items = [_schema_for(a, where) for a in args]
        unique = [s for i, s in enumerate(items) if s not in items[:i]]
        out["items"] = unique[0] if len(unique) == 1 else {"anyOf": unique}
        out["minItems"] = out["maxItems"] = len(items)
        return out
    if args:
        out["items"] = _schema_for(args[0], where)
    if origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet):
        out["uniqueItems"] = True
    return out


_SECTION_RE = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|Raises|"
    r"Examples?|Notes?|Attributes|Threads|Warnings?|See Also|Todo|References)\s*:\s*$")
_ARGS_HEADERS = ("Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments")
_ARG_LINE_RE = re.compile(r"^\*{0,2}([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> Tuple[str, Dict[str, str]]:
    """Summary (first paragraph, before any section) and Google-style ``Args:`` descriptions."""
    lines = doc.expandtabs().splitlines()
    summary: List[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()):
            if summary or _SECTION_RE.match(line.strip()):
                break
            continue
        summary.append(line.strip())
    args: Dict[str, List[str]] = {}
    section: Optional[str] = None
    header_indent = entry_indent = 0
    current: Optional[str] = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        match = _SECTION_RE.match(stripped)
        if match and (section is None or indent <= header_indent):
            section = match.group(1)
            header_indent, entry_indent, current = indent, -1, None
            continue
        if section not in _ARGS_HEADERS or not stripped:
            continue
        if indent <= header_indent:
            section = None
            continue
        if entry_indent < 0:
            entry_indent = indent
        arg = _ARG_LINE_RE.match(stripped) if indent == entry_indent else None
        if arg:
            current = arg.group(1)
            args[current] = [arg.group(2).strip()]
        elif current is not None:
            args[current].append(stripped)
    return " ".join(summary), {k: " ".join(p for p in v if p) for k, v in args.items()}


def _kind(value: Any) -> str:
    kinds = {list: "an array", dict: "an object", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _scalar(hint: Any, value: Any) -> Any:
    """``value`` as the scalar ``hint`` (str, int, float, bool) asks for, or ``ValueError``.
    A whole number written as ``3.0`` is an int; an int is a float; nothing becomes a str."""
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        wanted = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[hint]
        raise ValueError(f"expected {wanted}, got {_kind(value)} ({value!r})")
    return value


def _coerce(hint: Any, value: Any) -> Any:
    """Check JSON values against the hint's scalar types and turn them into the Enum members
    (and tuples/sets) it asks for."""
    if value is None:
        return value
    if hint in (str, int, float, bool):
        return _scalar(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        try:
            return hint(value)
        except ValueError:
            allowed = [m.value for m in hint]
            raise ValueError(f"{value!r} is not one of {allowed}") from None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _coerce(args[0], value)
    if origin is typing.Literal:  # the schema lists Enum members by value; True is not 1
        for allowed in args:
            raw = allowed.value if isinstance(allowed, enum.Enum) else allowed
            if value == raw and isinstance(value, bool) == isinstance(raw, bool):
                return allowed
        values = [a.value if isinstance(a, enum.Enum) else a for a in args]
        raise ValueError(f"{value!r} is not one of {values}")
    if origin in _UNION_TYPES:
        members = [a for a in args if a is not type(None)]
        return _coerce(members[0], value) if len(members) == 1 else value
    if (origin in _ARRAY_ORIGINS or hint in (list, tuple, set, frozenset)) and not isinstance(value, list):
        raise ValueError(f"expected an array, got {_kind(value)} ({value!r})")
    if (origin in _OBJECT_ORIGINS or hint is dict) and not isinstance(value, dict):
        raise ValueError(f"expected an object, got {_kind(value)} ({value!r})")
    if isinstance(value, list) and (origin in _ARRAY_ORIGINS or hint in (tuple, set, frozenset)):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) == len(value):
                value = [_coerce(a, v) for a, v in zip(args, value)]
        elif args:
            value = [_coerce(args[0], v) for v in value]
        kind = origin or hint
        if kind in (tuple, set, frozenset):
            return kind(value)
        return value
    if isinstance(value, dict) and origin in _OBJECT_ORIGINS and len(args) == 2:
        return {k: _coerce(args[1], v) for k, v in value.items()}
    return value
