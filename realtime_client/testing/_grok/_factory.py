"""The xAI side of the fake server's handshake: path, credentials, error bodies, tokens, peers.

Facts (the endpoint path, the browser subprotocol prefix, the default model and voice, the token
limits) come from ``adapters/_grok/_wire.py``; the independent check of what the fake sends is
the tests' own copy of protocols.md §8.2 plus the ``openai`` models for the events xAI shares.
"""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence, Tuple

from ..._models import RealtimeToken, SessionConfig
from ...adapters._grok._wire import (
    CLIENT_SECRETS_PATH,
    CONVERSATION_ID_PARAM,
    DEFAULT_MODEL,
    ENDPOINT_PATH,
    MAX_TOKEN_TTL,
    SUBPROTOCOL_KEY_PREFIX,
)
from .._http import HttpRequest, json_body
from .._openai import DEFAULT_INSTRUCTIONS, OpenAIPeer
from .._peer import (
    EXPIRED_TOKEN,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerSettings,
)
from ._peer import ConversationStore, GrokPeer, GrokPeerOptions
from ._schema import default_session

__all__ = ["GrokPeerFactory"]

# The ~1 hour cap and its close are UNCONFIRMED: 1001 with a reason worded like OpenAI's.
SESSION_CAP = (1001, "Your session hit the maximum duration of 60 minutes.")


class GrokPeerFactory:
    """Builds :class:`GrokPeer` connections and answers the xAI handshake (a ``PeerFactory``).

    Args:
        **options: :class:`GrokPeerOptions` fields (``FakeRealtimeServer(provider="grok",
            provider_options={...})``).

    Threads: any thread; the conversation store is shared by the server's connections.
    """

    name = "grok"
    default_model = DEFAULT_MODEL
    endpoint_path = ENDPOINT_PATH
    session_cap: Tuple[int, str] = SESSION_CAP

    def __init__(self, **options: Any) -> None:
        try:
            self.options = GrokPeerOptions(**options)
        except TypeError as exc:
            raise ValueError(f"unknown grok provider_options: {exc}") from None
        self.conversations = ConversationStore(self.options.resumption_ttl)

    def expire_conversations(self) -> None:
        """Forget every kept conversation, as if it had been idle for 30 minutes."""
        self.conversations.expire_all()

    def accepts_path(self, path: str) -> bool:
        return path.rstrip("/") == ENDPOINT_PATH

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """``Authorization: Bearer <key or secret>``, else the subprotocol ``xai-client-secret.<secret>``."""
        auth = request.header("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        for offered in request.subprotocols:
            if offered.startswith(SUBPROTOCOL_KEY_PREFIX):
                return offered[len(SUBPROTOCOL_KEY_PREFIX):]
        return None

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        return "realtime" if "realtime" in offered else None

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        message = "Incorrect API key provided."
        if problem == NOT_FOUND:
            message = f"Invalid URL (GET {request.path})"
        elif problem == SERVER_ERROR:
            message = "The server had an error while processing your request."
        elif problem == MISSING_CREDENTIALS:
            message = "No API key provided: send Authorization: Bearer <XAI_API_KEY or client secret>."
        elif problem == EXPIRED_TOKEN:
            message = "The client secret has expired."
        code = "unauthenticated" if status == 401 else str(status)
        return HttpRefusal(status, {"code": code, "error": message})

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        return RealtimeToken(provider="grok", token="xai-secret-fake-" + value, expires_at=expires_at,
                             config=SessionConfig(model=model))

    def adapter(self, url: str, **options: Any) -> Any:
        from ...adapters import grok_realtime

        return grok_realtime(url=url, **options)

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> GrokPeer:
        model = request.query.get("model") or settings.model
        instructions = DEFAULT_INSTRUCTIONS if settings.instructions is None else settings.instructions
        inner = OpenAIPeer(model=model, next_reply=settings.next_reply,
                           next_transcript=settings.next_transcript, audio_chunk_ms=settings.audio_chunk_ms,
                           rate_limits=False, instructions=instructions, speak=settings.speak,
                           hear=settings.hear)
        return GrokPeer(inner=inner, session=default_session(instructions, settings.voice),
                        store=self.conversations, options=self.options,
                        resume_id=request.query.get(CONVERSATION_ID_PARAM))

    def http(self, request: HttpRequest, gate: Any, model: str) -> Optional[HttpRefusal]:
        """``POST /v1/realtime/client_secrets`` with ``{"expires_after": {"seconds": N}}`` only."""
        if request.path.rstrip("/") != CLIENT_SECRETS_PATH:
            return None
        if request.method != "POST":
            return HttpRefusal(405, {"code": "method_not_allowed", "error": "Use POST."})
        auth = request.header("Authorization") or ""
        credential = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not credential or gate.credential_problem(credential) is not None:
            return HttpRefusal(401, {"code": "unauthenticated", "error": "Incorrect API key provided."})
        body = json_body(request)
        if body is None:
            return _bad("The body must be a JSON object.")
        extra = sorted(set(body) - {"expires_after"})
        if extra:
            return _bad(f"Unsupported field(s): {', '.join(extra)} (only expires_after is accepted).")
        expires = body.get("expires_after", {"seconds": 600})
        if not isinstance(expires, dict) or set(expires) - {"seconds"}:
            return _bad("expires_after takes only 'seconds' (no 'anchor').")
        seconds = expires.get("seconds", 600)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_TOKEN_TTL:
            return _bad(f"expires_after.seconds must be an integer between 1 and {MAX_TOKEN_TTL}.")
        token = gate.mint(seconds, model)
        expires_at = int(token.expires_at or time.time() + seconds)
        shape = self.options.secret_shape
        if shape == "client_secret":
            return HttpRefusal(200, {"client_secret": {"value": token.token, "expires_at": expires_at}})
        if shape == "milliseconds":
            return HttpRefusal(200, {"value": token.token, "expires_at": expires_at * 1000})
        return HttpRefusal(200, {"value": token.token, "expires_at": expires_at})


def _bad(message: str) -> HttpRefusal:
    return HttpRefusal(400, {"code": "invalid_argument", "error": message})
