"""The fake server's Azure OpenAI peer: OpenAI's GA peer behind Azure's endpoint, auth and cap.

``AzurePeerFactory`` is what ``FakeRealtimeServer(provider="azure")`` uses.
"""

from __future__ import annotations

from ._factory import AzurePeerFactory

__all__ = ["AzurePeerFactory"]
