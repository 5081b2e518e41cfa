"""The ElevenLabs Agents provider: factory, protocol session, wire facts, signed URLs."""

from __future__ import annotations

from ._adapter import DEFAULT_URL, ElevenLabsRealtimeAdapter, elevenlabs_realtime
from ._protocol import ElevenLabsSession

__all__ = ["DEFAULT_URL", "ElevenLabsRealtimeAdapter", "ElevenLabsSession", "elevenlabs_realtime"]
