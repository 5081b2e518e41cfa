"""Provider adapters: each turns one provider's wire protocol into normalized events.

``openai_realtime()`` speaks the OpenAI Realtime API (GA). An adapter is any object that
satisfies :class:`realtime_client._types.Adapter`; nothing needs to subclass anything.
"""

from __future__ import annotations

from ._openai import OpenAIRealtimeAdapter, openai_realtime

__all__ = ["OpenAIRealtimeAdapter", "openai_realtime"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
