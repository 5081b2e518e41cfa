"""The seam between the generic fake server and one provider's protocol.

The server (``_server.py``) owns sockets, threads, faults and recording and never parses a
provider frame. For each provider a :class:`PeerFactory` answers the handshake questions
(path, credentials, subprotocol, HTTP error bodies, tokens, the matching adapter) and builds
one sans-I/O :class:`Peer` per connection. A peer takes received frames and returns frames
to send, in the style of ``websockets``' ``Protocol``: no socket, thread or clock of its own.

How other providers fit: a Gemini peer returns nothing from :meth:`Peer.open` and answers
the client's ``setup`` with ``setupComplete`` from :meth:`Peer.receive`; an ElevenLabs peer
answers ``conversation_initiation_client_data`` with ``conversation_initiation_metadata``
and sends its ``ping`` events from :meth:`Peer.tick`.

Optional members, looked up with ``getattr`` so existing peers need none of them:

* a peer may put a :class:`Close` among the frames it returns (from ``receive``, ``advance``
  or ``tick``): the connection sends what came before it, then closes with that code (Gemini
  reports every error this way);
* ``Peer.closed()`` is called once when the connection has ended (a resumable session can then
  be resumed elsewhere);
* ``PeerFactory.binary_frames`` (bool): send frames as binary WebSocket messages (UTF-8 JSON);
* ``PeerFactory.frame_type(frame)``: the name :meth:`FakeRealtimeServer.wait_for_frame` and
  ``wait_for_sent`` match (default: the frame's ``type``);
* ``PeerFactory.http(request, gate, model)``: answer a plain HTTP request (a REST endpoint of
  the provider, such as a token-minting route) on the same port (see the note at the end).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

import attrs

from .._models import RealtimeToken
from ._reply import Reply

__all__ = [
    "EXPIRED_TOKEN",
    "INVALID_CREDENTIALS",
    "MISSING_CREDENTIALS",
    "NOT_FOUND",
    "REJECTED",
    "SERVER_ERROR",
    "Close",
    "Frame",
    "Handled",
    "HandshakeRequest",
    "HttpRefusal",
    "Peer",
    "PeerFactory",
    "PeerSettings",
    "Step",
]

#: one JSON frame, as a parsed object (the server serialises it as a text frame)
Frame = Dict[str, Any]

# Why a handshake is refused; a factory turns each into its provider's HTTP error body.
MISSING_CREDENTIALS = "missing_credentials"
INVALID_CREDENTIALS = "invalid_credentials"
EXPIRED_TOKEN = "expired_token"
NOT_FOUND = "not_found"
REJECTED = "rejected"          # reject_next_handshakes() with a status below 500
SERVER_ERROR = "server_error"  # reject_next_handshakes() with a status of 500 or more


@attrs.frozen
class HandshakeRequest:
    """The parts of a WebSocket upgrade request a factory may look at.

    Attributes:
        path: the request path without the query string.
        target: the path with its query string, as requested.
        query: each query parameter's first value.
        headers: the request headers as ``(name, value)`` pairs, in order.
        subprotocols: the offered ``Sec-WebSocket-Protocol`` values, split and stripped.
    """

    path: str
    target: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Tuple[Tuple[str, str], ...] = ()
    subprotocols: Tuple[str, ...] = ()

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@attrs.frozen
class HttpRefusal:
    """An HTTP answer that refuses the upgrade: a status and a JSON body.

    ``close``: instead of an HTTP error, accept the upgrade, wait for the client's first
    message and close with this code and reason (providers that report refused credentials
    as close frames).
    """

    status: int
    body: Mapping[str, Any]
    close: Optional[Tuple[int, str]] = None


@attrs.frozen
class Close:
    """Returned among a peer's frames: close the connection with ``code`` and ``reason`` there."""

    code: int
    reason: str = ""


@attrs.frozen
class PeerSettings:
    """The server knobs a peer is built with (a provider ignores those it has no use for).

    Attributes:
        model: the model the client asked for (or the server's default).
        instructions: default instructions, or None for the provider's default.
        voice: default output voice, or None for the provider's default.
        audio_chunk_ms: audio carried by one output audio frame.
        rate_limits: report rate limits after each response (OpenAI ``rate_limits.updated``).
        max_session_seconds: the server closes each connection this long after it opened.
        go_away_seconds: providers that warn first (Gemini ``goAway``) do so this long before.
        next_reply: the next scripted :class:`Reply`, or None for the peer's default reply.
        next_transcript: the next queued user transcript, or None for a made-up one.
        speak: ``speak(text, rate)`` gives int16 speech samples for a reply (or None), to use
            instead of the synthetic voice; None: always the synthetic voice.
        hear: ``hear(samples, rate)`` gives the words heard in a committed user turn (or None);
            None: the user's audio is not recognised.
    """

    model: str
    next_reply: Callable[[], Optional[Reply]]
    next_transcript: Callable[[], Optional[str]]
    instructions: Optional[str] = None
    voice: Optional[str] = None
    audio_chunk_ms: int = 100
    rate_limits: bool = True
    max_session_seconds: Optional[float] = None
    go_away_seconds: Optional[float] = None
    speak: Optional[Callable[[str, int], Any]] = None
    hear: Optional[Callable[[Any, int], Optional[str]]] = None


@attrs.frozen
class Handled:
    """What a peer made of one received frame.

    Attributes:
        frames: the frames to send now, in order.
        event: the parsed frame, to record in ``received`` (only when ``record`` is true).
        record: false for frames that did not parse (binary, invalid JSON).
    """

    frames: Sequence[Frame] = ()
    event: Any = None
    record: bool = False


@attrs.frozen
class Step:
    """One step of a paced stream: frames, the audio time they carry, and whether it ended."""

    frames: Sequence[Frame]
    audio_ms: float = 0.0
    done: bool = False


class Peer(Protocol):
    """One connection's provider protocol, sans I/O; the server calls it under one lock.

    Threads: never thread-safe; every call comes from the connection with its lock held.
    """

    @property
    def model(self) -> str:
        """The model this connection serves."""

    @property
    def session(self) -> Dict[str, Any]:
        """The effective session configuration as the provider reports it (a live object)."""

    @property
    def items(self) -> List[Dict[str, Any]]:
        """The conversation so far, as the provider's items (a live list)."""

    def open(self) -> List[Frame]:
        """Frames to send as soon as the connection opens (``[]`` if the client speaks first)."""

    def receive(self, message: Union[str, bytes]) -> Handled:
        """Handle one received WebSocket message; return the answer frames and what to record."""

    def streams(self) -> List[str]:
        """Ids of the responses being streamed, which the server steps with :meth:`advance`."""

    def advance(self, stream_id: str) -> Step:
        """The next step of stream ``stream_id`` (an ended or unknown stream gives ``done``)."""

    def tick(self, now: float) -> Tuple[List[Frame], Optional[float]]:
        """Frames due by ``now`` (monotonic seconds), and when to call again (None: never)."""

    def complete_event(self, event: Frame) -> Frame:
        """Fill what a fault-injected server event lacks (e.g. an ``event_id``)."""

    def error_event(self, code: str, message: str, *, error_type: str,
                    param: Optional[str]) -> Frame:
        """The provider's error frame for :meth:`FakeRealtimeServer.send_error`."""

    # Optional: ``take_close() -> Optional[Tuple[int, str]]``. A peer that ends connections
    # itself (a missed pong, an error it reports before closing) returns the close code and
    # reason once; the connection closes after the frames already queued.


class PeerFactory(Protocol):
    """Everything provider-specific the server needs besides the per-connection protocol.

    Attributes:
        name: the provider key (``"openai"``).
        default_model: the model served when the request names none.
        endpoint_path: the path :attr:`FakeRealtimeServer.url` points at.
        session_cap: the close code and reason sent at ``max_session_seconds``.
    """

    name: str
    default_model: str
    endpoint_path: str
    session_cap: Tuple[int, str]

    def accepts_path(self, path: str) -> bool:
        """Whether ``path`` (no query) is a realtime endpoint of this provider."""

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """The credential the request carries (header, subprotocol or query), or None."""

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        """The subprotocol to accept among ``offered``, or None."""

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        """The provider's HTTP error for ``problem`` (one of this module's constants)."""

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        """A :class:`RealtimeToken` for this provider carrying ``value``."""

    def adapter(self, url: str, **options: Any) -> Any:
        """The matching client adapter pointed at ``url``."""

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> Peer:
        """A fresh peer for one accepted connection."""

    # Optional hooks, looked up with getattr (a provider without them needs nothing):
    # ``http(request, gate, model) -> Optional[HttpRefusal]`` answers plain HTTP requests
    # on the server's port (REST endpoints such as ``client_secrets`` or ElevenLabs'
    # ``get-signed-url``; ``request`` is a ``_http.HttpRequest``, ``gate`` the server's
    # ``Gatekeeper`` for minting and credential checks). None, or no such method, answers 404.
    # ``bind(url, base_url)`` tells the factory where the server listens, once started (a
    # provider whose tokens name the server, such as ElevenLabs' signed URLs).
