"""Which server a command talks to: the provider itself (with an API key) or the embedded fake.

Provider names come from :data:`realtime_client.adapters.ADAPTERS`; where each provider's
key and settings live, and which token minter uses them, from
:data:`realtime_client.adapters.CREDENTIALS` (declared in each provider's own folder).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from ._errors import CliError

__all__ = ["Target", "credentials", "minter", "minting_options", "open_target"]


def credentials(provider: str) -> Any:
    """The :class:`~realtime_client.adapters.Credentials` of ``provider``.

    Raises:
        CliError: the provider declares none (the CLI cannot reach it with a key yet).
    """
    from ..adapters import CREDENTIALS

    found = CREDENTIALS.get(provider)
    if found is None:
        raise CliError(f"the CLI does not know where {provider}'s API key lives yet "
                       f"(realtime_client.adapters.CREDENTIALS has no {provider!r})")
    return found


def minter(provider: str) -> Callable[..., Any]:
    """The server-side token minting factory of ``provider`` (``openai_realtime_token``).

    Raises:
        CliError: the SDK has none for this provider.
    """
    from .. import tokens

    name = credentials(provider).minter
    make = getattr(tokens, name, None)
    if not callable(make):
        raise CliError(f"realtime_client.tokens has no {name}: the CLI cannot mint {provider} tokens")
    return make


def minting_options(provider: str, *, model: Optional[str] = None,
                    base_url: Optional[str] = None) -> Dict[str, Any]:
    """Keyword arguments for ``provider``'s minter from the environment and the command line:
    its settings (all required), ``model`` where it applies, and the API base override.

    Raises:
        CliError: a required setting is missing, or ``--model`` does not apply.
    """
    creds = credentials(provider)
    settings, missing = creds.read_settings()
    if missing:
        raise CliError(f"{provider} needs {', '.join(missing)} in the environment")
    options: Dict[str, Any] = dict(settings)
    if model:
        if not creds.takes_model:
            raise CliError(f"--model does not apply to {provider} "
                           f"(set {', '.join(creds.settings.values())} instead)")
        options["model"] = model
    base_url = base_url or creds.base_url()
    if base_url:
        if creds.base_url_env is None:
            raise CliError(f"{provider}'s token minting has no base URL to override")
        options["base_url"] = base_url
    return options


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
                pacing: str = "fast", audio: bool = True) -> Target:
    """The provider when its API key is set (and ``fake`` is false), else a started fake server
    (whose note mentions its voice and hearing only when ``audio`` devices are in use).

    Raises:
        CliError: no key, and the fake server does not speak this provider; or no minting.
    """
    from ..adapters import ADAPTERS, CREDENTIALS

    options: Dict[str, Any] = {"model": model} if model else {}
    creds = CREDENTIALS.get(provider)
    if creds is not None and not fake and creds.has_key():
        token_options = minting_options(provider, model=model)
        adapter_options = {k: v for k, v in token_options.items() if k != "base_url"}
        return Target(provider, minter(provider)(**token_options), ADAPTERS[provider](**adapter_options))
    variable = creds.api_key_env if creds is not None else "an API key"
    from ..testing import PROVIDERS, FakeRealtimeServer

    why = "--fake" if fake else f"{variable} is not set"
    if provider not in PROVIDERS:
        raise CliError(f"{why}, and the embedded fake server does not speak {provider} "
                       f"(it speaks: {', '.join(PROVIDERS)})")
    server = FakeRealtimeServer(provider, model=model, pacing=pacing, speech="auto",
                                hearing="auto").start()
    talents = ["replies repeat what you say"]
    if server.speech == "espeak" and audio:
        talents.append("spoken by espeak-ng")
    if server.hearing == "pocketsphinx" and audio:
        talents.append("your speech recognised by pocketsphinx")
    note = f"{why}: talking to the embedded fake server ({', '.join(talents)})"
    return Target(provider, server.get_token, server.adapter(**options), server=server, note=note)
