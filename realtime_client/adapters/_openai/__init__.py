"""The OpenAI Realtime (GA) provider: protocol session, wire facts and token minting."""

from __future__ import annotations

from ._protocol import DEFAULT_MODEL, DEFAULT_URL, OpenAIRealtimeAdapter, openai_realtime

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "OpenAIRealtimeAdapter", "openai_realtime"]
