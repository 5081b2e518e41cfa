"""The Azure OpenAI realtime provider: OpenAI's GA protocol with Azure's endpoint, auth and cap.

(Token minting lives in ``_token.py`` and is imported by ``realtime_client.tokens``, not here:
that module imports the provider packages' token helpers after its own.)
"""

from __future__ import annotations

from ._adapter import AzureOpenAIRealtimeAdapter, AzureSession, azure_openai_realtime

__all__ = ["AzureOpenAIRealtimeAdapter", "AzureSession", "azure_openai_realtime"]
