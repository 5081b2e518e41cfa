"""The fake server's Gemini Live peer: handshake, setup, VAD, turns, tools, resumption, REST.

``GeminiPeerFactory`` is what ``FakeRealtimeServer(provider="gemini")`` uses; ``GeminiPeer`` is
the sans-I/O protocol state machine of one connection; ``SessionStore`` keeps what outlives a
connection (resumable sessions, minted tokens).
"""

from __future__ import annotations

from ._factory import GeminiPeerFactory
from ._session import KNOWN_MODELS, GeminiPeer
from ._store import SessionStore

__all__ = ["KNOWN_MODELS", "GeminiPeer", "GeminiPeerFactory", "SessionStore"]
