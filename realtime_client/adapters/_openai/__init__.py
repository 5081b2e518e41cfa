"""The OpenAI Realtime (GA) provider: factory, protocol session, wire facts, token minting."""

from __future__ import annotations

from ._adapter import DEFAULT_MODEL, DEFAULT_URL, OpenAIRealtimeAdapter, openai_realtime
from ._protocol import OpenAISession

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "OpenAIRealtimeAdapter", "OpenAISession", "openai_realtime"]
