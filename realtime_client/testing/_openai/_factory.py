"""The OpenAI side of the fake server's handshake: path, credentials, error bodies, tokens, peers.

Facts (the endpoint path, subprotocols, the session cap, the default model) come from
``adapters/_openai/_wire.py``, so the fake and the adapter cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from ..._models import RealtimeToken, SessionConfig
from ...adapters._openai._wire import (
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    ENDPOINT_PATH,
    SESSION_CAP_CLOSE_CODE,
    SESSION_CAP_REASON,
    SUBPROTOCOL,
    SUBPROTOCOL_KEY_PREFIX,
)
from .._peer import (
    EXPIRED_TOKEN,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerSettings,
)
from ._session import DEFAULT_INSTRUCTIONS, OpenAIPeer

__all__ = ["OpenAIPeerFactory"]

# HTTP error bodies of the real API (messages from its 401 answers).
_MISSING_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
_BAD_KEY = "Incorrect API key provided."


class OpenAIPeerFactory:
    """Builds :class:`OpenAIPeer` connections and answers the OpenAI handshake (a ``PeerFactory``).

    Threads: stateless; any thread.
    """

    name = "openai"
    default_model = DEFAULT_MODEL
    endpoint_path = ENDPOINT_PATH
    session_cap: Tuple[int, str] = (SESSION_CAP_CLOSE_CODE, SESSION_CAP_REASON)

    def accepts_path(self, path: str) -> bool:
        """Only the GA realtime endpoint (``/v1/realtime``, a trailing slash allowed)."""
        return path.rstrip("/") == ENDPOINT_PATH

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """``Authorization: Bearer <key>``, else the browser subprotocol ``openai-insecure-api-key.<key>``."""
        auth = request.header("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        for offered in request.subprotocols:
            if offered.startswith(SUBPROTOCOL_KEY_PREFIX):
                return offered[len(SUBPROTOCOL_KEY_PREFIX):]
        return None

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        """``realtime`` when offered (the browser credential form), else none."""
        return SUBPROTOCOL if SUBPROTOCOL in offered else None

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        """The API's JSON error body for a refused upgrade."""
        error_type = "invalid_request_error"
        code: Optional[str] = "invalid_api_key"
        message = _BAD_KEY
        if problem == NOT_FOUND:
            code, message = "not_found", f"Invalid URL (GET {request.path})"
        elif problem == SERVER_ERROR:
            error_type, code, message = ("server_error", None,
                                         "The server had an error while processing your request.")
        elif problem == MISSING_CREDENTIALS:
            code, message = "missing_api_key", _MISSING_KEY
        elif problem == EXPIRED_TOKEN:
            code, message = "token_expired", "The ephemeral client secret has expired."
        body: Dict[str, Any] = {"error": {"message": message, "type": error_type, "param": None,
                                          "code": code}}
        return HttpRefusal(status, body)

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        """An ephemeral-secret-shaped token (``ek_fake_...``) for ``model``."""
        return RealtimeToken(provider="openai", token="ek_fake_" + value, expires_at=expires_at,
                             config=SessionConfig(model=model))

    def adapter(self, url: str, **options: Any) -> Any:
        """``realtime_client.adapters.openai_realtime(url=url, **options)``."""
        from ...adapters import openai_realtime

        return openai_realtime(url=url, **options)

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> OpenAIPeer:
        """A peer serving the ``?model=`` of the request (else the server's model)."""
        return OpenAIPeer(model=request.query.get("model") or settings.model,
                          next_reply=settings.next_reply, next_transcript=settings.next_transcript,
                          audio_chunk_ms=settings.audio_chunk_ms, rate_limits=settings.rate_limits,
                          instructions=(DEFAULT_INSTRUCTIONS if settings.instructions is None
                                        else settings.instructions),
                          voice=settings.voice or DEFAULT_VOICE, speak=settings.speak,
                          hear=settings.hear)
