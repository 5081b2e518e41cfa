"""Which server a command talks to: the provider itself (with an API key) or the embedded fake.

Provider names come from :data:`realtime_client.adapters.ADAPTERS`. A provider's API key is
read from ``<NAME>_API_KEY`` (``OPENAI_API_KEY``), its tokens are minted by
``realtime_client.tokens.<name>_realtime_token`` and its API base may be overridden with
``<NAME>_BASE_URL``; a provider that breaks this naming adds its exception here.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

from ._errors import CliError

__all__ = ["Target", "api_key_variable", "base_url_variable", "minter", "open_target"]


def api_key_variable(provider: str) -> str:
    """The environment variable holding ``provider``'s API key."""
    return f"{provider.upper()}_API_KEY"


def base_url_variable(provider: str) -> str:
    """The environment variable that may override ``provider``'s API base URL."""
    return f"{provider.upper()}_BASE_URL"


def minter(provider: str) -> Callable[..., Any]:
    """The server-side token minting factory of ``provider`` (``openai_realtime_token``).

    Raises:
        CliError: the SDK has none for this provider.
    """
    from .. import tokens

    make = getattr(tokens, f"{provider}_realtime_token", None)
    if not callable(make):
        raise CliError(f"realtime_client.tokens has no {provider}_realtime_token: the CLI cannot mint "
                       f"{provider} tokens yet")
    return make


class Target:
    """Where ``chat`` connects: a token source, an adapter, and the fake server if embedded.

    Attributes:
        provider: the provider name.
        get_token: the ``RealtimeClient(get_token=...)`` callable.
        adapter: the provider's adapter, pointed at the server.
        server: the embedded :class:`~realtime_client.testing.FakeRealtimeServer`, or None.
        note: one line to tell the user (why the fake server is used), or None.
    """

    def __init__(self, provider: str, get_token: Callable[[], Any], adapter: Any,
                 server: Any = None, note: Optional[str] = None) -> None:
        self.provider = provider
        self.get_token = get_token
        self.adapter = adapter
        self.server = server
        self.note = note

    def close(self) -> None:
        """Stop the embedded server, if any (idempotent)."""
        if self.server is not None:
            self.server.stop()


def open_target(provider: str, *, model: Optional[str] = None, fake: bool = False,
                pacing: str = "fast") -> Target:
    """The provider when its API key is set (and ``fake`` is false), else a started fake server.

    Raises:
        CliError: no key, and the fake server does not speak this provider; or no minting.
    """
    from ..adapters import ADAPTERS

    variable = api_key_variable(provider)
    options: Dict[str, Any] = {"model": model} if model else {}
    if not fake and os.environ.get(variable, "").strip():
        make_token = minter(provider)
        token_options = dict(options)
        base_url = os.environ.get(base_url_variable(provider), "").strip()
        if base_url:
            token_options["base_url"] = base_url
        if provider == "elevenlabs":  # an agent, not a model: ELEVENLABS_AGENT_ID names it
            agent_id = os.environ.get("ELEVENLABS_AGENT_ID", "").strip()
            if not agent_id:
                raise CliError("ELEVENLABS_AGENT_ID is not set: name the agent to talk to")
            if model:
                raise CliError("--model does not apply to an ElevenLabs agent (its LLM is set on the agent)")
            token_options, options = {**token_options, "agent_id": agent_id}, {"agent_id": agent_id}
        return Target(provider, make_token(**token_options), ADAPTERS[provider](**options))
    from ..testing import PROVIDERS, FakeRealtimeServer

    why = "--fake" if fake else f"{variable} is not set"
    if provider not in PROVIDERS:
        raise CliError(f"{why}, and the embedded fake server does not speak {provider} "
                       f"(it speaks: {', '.join(PROVIDERS)})")
    server = FakeRealtimeServer(provider, model=model, pacing=pacing, speech="auto",
                                hearing="auto").start()
    talents = ["replies repeat what you say"]
    if server.speech == "espeak":
        talents.append("spoken by espeak-ng")
    if server.hearing == "pocketsphinx":
        talents.append("your speech recognised by pocketsphinx")
    note = f"{why}: talking to the embedded fake server ({', '.join(talents)})"
    return Target(provider, server.get_token, server.adapter(**options), server=server, note=note)
