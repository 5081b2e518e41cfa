"""Test helpers: a protocol-faithful fake OpenAI Realtime (GA) server.

``FakeRealtimeServer`` serves the GA WebSocket protocol on loopback in background threads, with
scripted replies (``Reply``), energy-based server VAD, real-time or fast pacing and fault
injection. ``synthesize_speech`` builds input audio its VAD hears as speech; ``EchoLoop`` is a
simulated room whose speaker echoes into its microphone (for echo handling). The pytest fixture
``fake_realtime_server`` (registered through the ``pytest11`` entry point) yields a started server.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from ._audio import synthesize_speech
from ._connection import SESSION_LIMIT_REASON, FakeConnection
from ._echo_loop import EchoLoop
from ._response import Reply
from ._server import FakeRealtimeServer

__all__ = ["SESSION_LIMIT_REASON", "EchoLoop", "FakeConnection", "FakeRealtimeServer", "Reply",
           "synthesize_speech"]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = __name__
del _name, _obj
