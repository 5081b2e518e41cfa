"""The fake server's OpenAI Realtime (GA) peer: handshake, session, responses and schema.

``OpenAIPeerFactory`` is what ``FakeRealtimeServer(provider="openai")`` uses; ``OpenAIPeer`` is
the sans-I/O protocol state machine of one connection.
"""

from __future__ import annotations

from ._factory import OpenAIPeerFactory
from ._session import DEFAULT_INSTRUCTIONS, OpenAIPeer

__all__ = ["DEFAULT_INSTRUCTIONS", "OpenAIPeer", "OpenAIPeerFactory"]
