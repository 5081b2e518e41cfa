"""The fake server's ElevenLabs Agents peer: handshake, signed URLs, conversations.

``ElevenLabsPeerFactory`` is what ``FakeRealtimeServer(provider="elevenlabs")`` uses;
``ElevenLabsPeer`` is the sans-I/O state machine of one conversation.
"""

from __future__ import annotations

from ._factory import ElevenLabsPeerFactory
from ._peer import PEER_OPTIONS, ElevenLabsPeer

__all__ = ["PEER_OPTIONS", "ElevenLabsPeer", "ElevenLabsPeerFactory"]
