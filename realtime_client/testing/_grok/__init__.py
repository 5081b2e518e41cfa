"""The fake server's xAI Grok peer: xAI's dialect over the OpenAI GA peer, with resumption.

``GrokPeerFactory`` is what ``FakeRealtimeServer(provider="grok")`` uses.
"""

from __future__ import annotations

from ._factory import GrokPeerFactory
from ._peer import ConversationStore, GrokPeer, GrokPeerOptions

__all__ = ["ConversationStore", "GrokPeer", "GrokPeerFactory", "GrokPeerOptions"]
