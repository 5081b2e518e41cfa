"""The xAI Grok voice agent provider: factory, protocol session, session shape, wire facts.

(Token minting lives in ``_token.py`` and is imported by ``realtime_client.tokens``, not here.)
"""

from __future__ import annotations

from ._adapter import DEFAULT_MODEL, DEFAULT_URL, GrokRealtimeAdapter, grok_realtime
from ._protocol import GrokSession

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "GrokRealtimeAdapter", "GrokSession", "grok_realtime"]
