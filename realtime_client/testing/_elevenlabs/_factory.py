"""The ElevenLabs side of the fake server: paths, signed URLs, the REST endpoint, peers.

Facts (paths, the signed URL lifetime, close codes) come from
``adapters/_elevenlabs/_wire.py``. A server with ``api_key`` set is a *private* agent: only
signed URLs it minted (through :meth:`FakeRealtimeServer.token` or the REST endpoint
``GET /v1/convai/conversation/get-signed-url`` with that ``xi-api-key``, answered by
:meth:`ElevenLabsPeerFactory.http`) open a conversation. Without ``api_key`` the agent is
public: the plain URL with ``?agent_id=`` works, and so do signed URLs.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Sequence, Tuple
from urllib.parse import urlencode

from ..._models import RealtimeToken
from ...adapters._elevenlabs import _wire as wire
from .._http import HttpRequest
from .._peer import (
    EXPIRED_TOKEN,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerSettings,
)
from ._peer import PEER_OPTIONS, ElevenLabsPeer

__all__ = ["ElevenLabsPeerFactory"]

#: the credential a public agent's plain URL stands for
PUBLIC = "public-agent"


class ElevenLabsPeerFactory:
    """Builds :class:`ElevenLabsPeer` conversations and answers the ElevenLabs handshake.

    Args:
        **options: the peer's knobs (:data:`~._peer.PEER_OPTIONS`:
            ``FakeRealtimeServer(provider="elevenlabs", provider_options={...})``); an unknown
            key, or an audio format ElevenLabs does not have, is a ValueError.

    Threads: any thread (the signed-URL book has its own lock).
    """

    name = "elevenlabs"
    default_model = PEER_OPTIONS["agent_id"]
    endpoint_path = wire.ENDPOINT_PATH
    session_cap: Tuple[int, str] = (wire.CLOSE_NORMAL, "max_duration_exceeded")

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(PEER_OPTIONS)
        if unknown:
            raise ValueError(f"unknown elevenlabs provider_options {sorted(unknown)}; "
                             f"known: {sorted(PEER_OPTIONS)}")
        for key in ("user_input_audio_format", "agent_output_audio_format"):
            if key in options:
                wire.parse_format(options[key])
        self.options: Dict[str, Any] = dict(options)
        self._lock = threading.Lock()
        self._url = f"ws://127.0.0.1{wire.ENDPOINT_PATH}"
        self._signed: Dict[str, str] = {}  # signature -> the signed URL minted with it
        self.agent_id = str(options.get("agent_id", PEER_OPTIONS["agent_id"]))
        #: the server's ``model`` is the agent its signed URLs name
        self.default_model = self.agent_id

    def bind(self, url: str, base_url: str) -> None:
        """Remember the WebSocket endpoint signed URLs point at."""
        self._url = url

    def accepts_path(self, path: str) -> bool:
        """Only the conversation endpoint (a trailing slash allowed)."""
        return path.rstrip("/") == wire.ENDPOINT_PATH

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """The signed URL whose ``conversation_signature`` the request carries, else the public
        agent marker (accepted only when the server has no ``api_key``)."""
        signature = request.query.get("conversation_signature")
        if signature:
            with self._lock:
                return self._signed.get(signature, signature)
        return PUBLIC if request.query.get("agent_id") else None

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        """``convai`` when offered (the JS client's form), else none."""
        return "convai" if "convai" in offered else None

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        """An ElevenLabs-style ``{"detail": {"status", "message"}}`` body (shape UNCONFIRMED)."""
        messages = {NOT_FOUND: ("not_found", f"Not Found: {request.path}"),
                    SERVER_ERROR: ("internal_error", "Internal server error"),
                    MISSING_CREDENTIALS: ("needs_authorization",
                                          "This agent requires a signed URL (or an agent_id)"),
                    EXPIRED_TOKEN: ("signature_expired", "The signed URL has expired")}
        status_name, message = messages.get(problem, ("invalid_signature", "The signature is not valid"))
        return HttpRefusal(status, {"detail": {"status": status_name, "message": message}})

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        """A signed URL (``...?agent_id=<model>&conversation_signature=<value>``) as the token."""
        url = f"{self._url}?{urlencode({'agent_id': model, 'conversation_signature': value})}"
        with self._lock:
            self._signed[value] = url
        return RealtimeToken(provider="elevenlabs", token=url, expires_at=expires_at)

    def http(self, request: HttpRequest, gate: Any, model: str) -> Optional[HttpRefusal]:
        """``GET /v1/convai/conversation/get-signed-url?agent_id=`` with ``xi-api-key``: a
        signed URL for that agent (``gate`` checks the key and mints)."""
        if request.path.rstrip("/") != wire.SIGNED_URL_PATH:
            return None
        if request.method != "GET":
            return HttpRefusal(405, {"detail": "Method Not Allowed"})
        key = request.header("xi-api-key")
        if not key:
            return HttpRefusal(401, {"detail": {"status": "needs_authorization",
                                                "message": "Missing the xi-api-key header"}})
        if gate.credential_problem(key) is not None:
            return HttpRefusal(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        agent = request.query.get("agent_id")
        if not agent:
            return HttpRefusal(422, {"detail": [{"loc": ["query", "agent_id"], "msg": "field required",
                                                 "type": "value_error.missing"}]})
        return HttpRefusal(200, {"signed_url": gate.mint(wire.SIGNED_URL_TTL, agent).token})

    def adapter(self, url: str, **options: Any) -> Any:
        """``elevenlabs_realtime(agent_id=<the server's agent>, url=url, **options)``."""
        from ...adapters import elevenlabs_realtime

        options.setdefault("agent_id", self.agent_id)
        return elevenlabs_realtime(url=url, **options)

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> ElevenLabsPeer:
        """A conversation with the agent the URL names."""
        return ElevenLabsPeer(agent_id=request.query.get("agent_id") or self.agent_id,
                              options=self.options, next_reply=settings.next_reply,
                              next_transcript=settings.next_transcript,
                              audio_chunk_ms=settings.audio_chunk_ms, speak=settings.speak,
                              hear=settings.hear)
