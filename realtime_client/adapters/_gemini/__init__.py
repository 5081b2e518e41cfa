"""The Gemini Live provider: factory, protocol session, setup builder, wire facts, token minting."""

from __future__ import annotations

from ._adapter import DEFAULT_MODEL, GeminiRealtimeAdapter, gemini_realtime
from ._protocol import GeminiSession

__all__ = ["DEFAULT_MODEL", "GeminiRealtimeAdapter", "GeminiSession", "gemini_realtime"]
