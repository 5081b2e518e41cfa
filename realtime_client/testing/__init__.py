"""Test helpers: a protocol-faithful fake realtime server for every provider (``PROVIDERS``: OpenAI
Realtime GA, Azure OpenAI, xAI Grok, Gemini Live, ElevenLabs agents).

``FakeRealtimeServer`` serves a provider's WebSocket protocol on loopback in background threads
(``ws://`` or, with ``tls=True``, ``wss://``), with scripted provider-neutral replies (``Reply``),
energy-based server VAD, real-time or fast pacing and fault injection. The server is generic;
each provider is a per-connection sans-I/O peer (``Peer``) built by a ``PeerFactory``.
``synthesize_speech`` builds input audio its VAD hears as speech; ``EchoLoop`` is a
simulated room whose speaker echoes into its microphone (for echo handling). The pytest fixture
``fake_realtime_server`` (registered through the ``pytest11`` entry point) yields a started server.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from ..adapters._openai._wire import SESSION_CAP_REASON as SESSION_LIMIT_REASON
from ._audio import synthesize_speech
from ._connection import FakeConnection
from ._echo_loop import EchoLoop
from ._peer import Peer, PeerFactory
from ._providers import PROVIDERS
from ._reply import Reply
from ._server import FakeRealtimeServer

__all__ = ["PROVIDERS", "SESSION_LIMIT_REASON", "EchoLoop", "FakeConnection", "FakeRealtimeServer",
           "Peer", "PeerFactory", "Reply", "synthesize_speech"]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, (str, tuple)):
        _obj.__module__ = __name__
del _name, _obj
