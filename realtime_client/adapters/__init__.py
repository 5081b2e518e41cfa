"""Providers: each turns one provider's wire protocol into normalized events, and back.

``openai_realtime()`` speaks the OpenAI Realtime API (GA), ``azure_openai_realtime()`` the same
protocol on Azure OpenAI, ``grok_realtime()`` the xAI Grok voice agent API, ``gemini_realtime()``
the Gemini Live API, ``elevenlabs_realtime()`` ElevenLabs Agents. A provider is a factory: it builds
one sans-I/O protocol session per connection (see :mod:`realtime_client._provider`); nothing
needs to subclass anything. :data:`ADAPTERS` maps provider names to their factories, for CLIs
and examples that take ``--provider``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ._azure import AzureOpenAIRealtimeAdapter, azure_openai_realtime
from ._azure._wire import CREDENTIALS as _AZURE
from ._credentials import Credentials
from ._elevenlabs import ElevenLabsRealtimeAdapter, elevenlabs_realtime
from ._elevenlabs._wire import CREDENTIALS as _ELEVENLABS
from ._gemini import GeminiRealtimeAdapter, gemini_realtime
from ._gemini._wire import CREDENTIALS as _GEMINI
from ._grok import GrokRealtimeAdapter, grok_realtime
from ._grok._wire import CREDENTIALS as _GROK
from ._openai import OpenAIRealtimeAdapter, openai_realtime
from ._openai._wire import CREDENTIALS as _OPENAI

__all__ = ["ADAPTERS", "CREDENTIALS", "AzureOpenAIRealtimeAdapter", "Credentials",
           "ElevenLabsRealtimeAdapter", "GeminiRealtimeAdapter", "GrokRealtimeAdapter",
           "OpenAIRealtimeAdapter", "azure_openai_realtime", "elevenlabs_realtime", "gemini_realtime",
           "grok_realtime", "openai_realtime"]

ADAPTERS: Dict[str, Callable[..., Any]] = {"openai": openai_realtime, "azure": azure_openai_realtime,
                                           "grok": grok_realtime, "gemini": gemini_realtime,
                                           "elevenlabs": elevenlabs_realtime}
"""Provider name -> adapter factory (every provider design.md names)."""

CREDENTIALS: Dict[str, Credentials] = {"openai": _OPENAI, "azure": _AZURE, "grok": _GROK,
                                       "gemini": _GEMINI, "elevenlabs": _ELEVENLABS}
"""Provider name -> where its API key and settings live and which token minter uses them
(:class:`Credentials`), for scripts, token endpoints and ``realtime-client chat``/``token``."""

for _name in ("Credentials", "AzureOpenAIRealtimeAdapter", "ElevenLabsRealtimeAdapter",
              "GeminiRealtimeAdapter", "GrokRealtimeAdapter", "OpenAIRealtimeAdapter",
              "azure_openai_realtime", "elevenlabs_realtime", "gemini_realtime", "grok_realtime",
              "openai_realtime"):
    globals()[_name].__module__ = __name__
del _name
