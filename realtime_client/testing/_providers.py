"""The fake server's provider registry: a name maps to the factory of its per-connection peers.

Adding a provider is one folder (``testing/_<provider>/``) exposing a :class:`~._peer.PeerFactory`
plus one line here.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

from ._peer import PeerFactory

__all__ = ["PROVIDERS", "peer_factory"]


def _gemini(**options: Any) -> PeerFactory:
    from ._gemini import GeminiPeerFactory

    _no_options("gemini", options)
    return GeminiPeerFactory()


def _openai(**options: Any) -> PeerFactory:
    from ._openai import OpenAIPeerFactory

    _no_options("openai", options)
    return OpenAIPeerFactory()


def _azure(**options: Any) -> PeerFactory:
    from ._azure import AzurePeerFactory

    return AzurePeerFactory(**options)


def _elevenlabs(**options: Any) -> PeerFactory:
    from ._elevenlabs import ElevenLabsPeerFactory

    return ElevenLabsPeerFactory(**options)


def _grok(**options: Any) -> PeerFactory:
    from ._grok import GrokPeerFactory

    return GrokPeerFactory(**options)


def _no_options(name: str, options: Dict[str, Any]) -> None:
    if options:
        raise ValueError(f"the {name} fake peer takes no provider_options, got {sorted(options)}")


#: provider name -> a callable building its factory (imported only when used)
_FACTORIES: Dict[str, Callable[..., PeerFactory]] = {"openai": _openai, "azure": _azure, "grok": _grok,
                                                    "gemini": _gemini, "elevenlabs": _elevenlabs}
#: the provider names :class:`FakeRealtimeServer` knows
PROVIDERS: Tuple[str, ...] = tuple(sorted(_FACTORIES))


def peer_factory(name: str, **options: Any) -> PeerFactory:
    """The factory for provider ``name``, with its provider-specific ``options``.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or option.
    """
    make = _FACTORIES.get(name) if isinstance(name, str) else None
    if make is None:
        raise ValueError(f"unknown provider {name!r} for FakeRealtimeServer; known providers: "
                         f"{', '.join(PROVIDERS)}")
    return make(**options)
