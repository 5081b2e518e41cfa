"""The fake server's provider registry: a name maps to the factory of its per-connection peers.

Adding a provider is one folder (``testing/_<provider>/``) exposing a :class:`~._peer.PeerFactory`
plus one line here.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

from ._peer import PeerFactory

__all__ = ["PROVIDERS", "peer_factory"]


def _gemini() -> PeerFactory:
    from ._gemini import GeminiPeerFactory

    return GeminiPeerFactory()


def _openai() -> PeerFactory:
    from ._openai import OpenAIPeerFactory

    return OpenAIPeerFactory()


#: provider name -> a callable building its factory (imported only when used)
_FACTORIES: Dict[str, Callable[[], PeerFactory]] = {"openai": _openai, "gemini": _gemini}
#: the provider names :class:`FakeRealtimeServer` knows
PROVIDERS: Tuple[str, ...] = tuple(sorted(_FACTORIES))


def peer_factory(name: str) -> PeerFactory:
    """The factory for provider ``name``.

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    make = _FACTORIES.get(name) if isinstance(name, str) else None
    if make is None:
        raise ValueError(f"unknown provider {name!r} for FakeRealtimeServer; known providers: "
                         f"{', '.join(PROVIDERS)}")
    return make()
