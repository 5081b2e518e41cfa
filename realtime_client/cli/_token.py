"""``realtime-client token``: mint a provider token server-side and print it as TanStack JSON."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any, Dict

import attrs

from .._models import RealtimeToken, SessionConfig
from ._errors import EXIT_OK
from ._target import minter, minting_options

__all__ = ["config_json", "run_token", "token_json"]

_CAMEL = {"vad_mode": "vadMode", "vad_config": "vadConfig", "output_modalities": "outputModalities",
          "max_output_tokens": "maxOutputTokens", "semantic_eagerness": "semanticEagerness",
          "provider_options": "providerOptions"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _jsonable(value: Any) -> Any:
    if attrs.has(type(value)):
        return {_camel(f.name): _jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))
                if getattr(value, f.name) is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def config_json(config: SessionConfig) -> Dict[str, Any]:
    """The settings of ``config`` that differ from the defaults, with TanStack's camelCase keys.

    ``RealtimeToken.from_dict`` reads the result back into an equal config (tools excepted:
    a token carries no client tool handlers).
    """
    out: Dict[str, Any] = {}
    for field in attrs.fields(SessionConfig):
        if field.name == "tools":
            continue
        value = getattr(config, field.name)
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if value is None or value == default:
            continue
        out[_CAMEL.get(field.name, field.name)] = _jsonable(value)
    return out


def token_json(token: RealtimeToken) -> Dict[str, Any]:
    """``token`` in TanStack's shape: ``{"provider", "token", "expiresAt" (ms), "config"}``."""
    expires = None if token.expires_at is None else round(token.expires_at * 1000)
    return {"provider": token.provider, "token": token.token, "expiresAt": expires,
            "config": config_json(token.config)}


def run_token(args: argparse.Namespace, out: IO[str]) -> int:
    """Mint one token for ``args.provider`` and print its JSON on ``out``.

    Raises:
        PermissionDeniedError: no API key in the environment, or the provider refused it.
        ConnectionFailedError: the provider could not be reached.
    """
    make = minter(args.provider)
    options = minting_options(args.provider, model=args.model, base_url=args.base_url)
    if args.expires_after is not None:
        options["expires_after"] = args.expires_after
    token = make(**options)()
    print(json.dumps(token_json(token), indent=2), file=out)
    return EXIT_OK
