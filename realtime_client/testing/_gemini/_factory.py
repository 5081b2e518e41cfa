"""The Gemini side of the fake server: paths, credentials, refusals, tokens, REST, peers.

Facts (paths, methods, versions, close codes, the default model) come from
``adapters/_gemini/_wire.py``, so the fake and the adapter cannot drift apart; google-genai's
models check both independently in the tests.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

from ..._models import RealtimeToken, SessionConfig
from ...adapters._gemini import _wire as wire
from .._http import HttpRequest
from .._peer import (
    EXPIRED_TOKEN,
    INVALID_CREDENTIALS,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerSettings,
)
from ._session import GeminiPeer
from ._store import MintedToken, SessionStore

__all__ = ["GeminiPeerFactory"]

_PATH = re.compile(r"^/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\."
                   r"(BidiGenerateContent|BidiGenerateContentConstrained)/?$")
_UNREGISTERED = ("Method doesn't allow unregistered callers (callers without established identity). "
                 "Please use API Key or other form of API consumer identity to call this API.")
_BAD_KEY = "API key not valid. Please pass a valid API key."
_TOKEN_KEYS = ("uses", "expireTime", "newSessionExpireTime", "bidiGenerateContentSetup", "fieldMask")


def _google_error(status: int, message: str, code: str) -> Dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": code}}


def _parse_time(value: Any) -> Optional[float]:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _rfc3339(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


class GeminiPeerFactory:
    """Builds :class:`GeminiPeer` connections and answers Gemini's handshake and REST (a ``PeerFactory``).

    Threads: any thread; the shared :class:`SessionStore` has its own lock.
    """

    name = "gemini"
    default_model = wire.DEFAULT_MODEL
    endpoint_path = wire.endpoint_path(wire.DEFAULT_API_VERSION)
    session_cap: Tuple[int, str] = (wire.CLOSE_INTERNAL, "Deadline expired before operation could complete.")
    binary_frames = True  # the real server sends its JSON as binary messages

    def __init__(self) -> None:
        self.store = SessionStore()

    def frame_type(self, frame: Dict[str, Any]) -> Optional[str]:
        """A message's name for the server's waits: its first key, camelCase
        (``"realtimeInput"``, ``"serverContent"``, ``"toolCall"``, ...)."""
        for key in frame:
            head, *rest = str(key).split("_")
            return head + "".join(w[:1].upper() + w[1:] for w in rest)
        return None

    def accepts_path(self, path: str) -> bool:
        """``/ws/google.ai.generativelanguage.{v1,v1beta,v1alpha}.GenerativeService.BidiGenerateContent``
        (or ``...Constrained``)."""
        return _PATH.match(path) is not None

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """``x-goog-api-key``, ``Authorization: Token``, or the ``key`` / ``access_token`` query."""
        key = request.header("x-goog-api-key")
        auth = request.header("Authorization") or ""
        if auth[:6].lower() == "token ":
            return auth[6:].strip()
        return key or request.query.get("access_token") or request.query.get("key")

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        return None

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        """Gemini refuses credentials with close frames after the upgrade (1008 for none or an
        expired token, 1007 for a bad API key); other refusals are HTTP errors."""
        if problem == MISSING_CREDENTIALS:
            return HttpRefusal(401, {}, close=(wire.CLOSE_POLICY, _UNREGISTERED))
        if problem == INVALID_CREDENTIALS:
            return HttpRefusal(401, {}, close=(wire.CLOSE_INVALID_ARGUMENT, _BAD_KEY))
        if problem == EXPIRED_TOKEN:
            return HttpRefusal(401, {}, close=(wire.CLOSE_POLICY, "The auth token has expired."))
        if problem == NOT_FOUND:
            return HttpRefusal(404, _google_error(404, f"Method not found: {request.path}", "NOT_FOUND"))
        if problem == SERVER_ERROR:
            return HttpRefusal(status, _google_error(status, "Internal error encountered.", "INTERNAL"))
        return HttpRefusal(status, _google_error(status, "The request was refused.", "PERMISSION_DENIED"))

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        """An ephemeral-token-shaped token (``auth_tokens/...``) for ``model``."""
        return RealtimeToken(provider="gemini", token=wire.EPHEMERAL_PREFIX + value, expires_at=expires_at,
                             config=SessionConfig(model=model))

    def adapter(self, url: str, **options: Any) -> Any:
        """``gemini_realtime(url=<the server's origin>, **options)``: the adapter picks the path
        for the credential (``BidiGenerateContentConstrained`` on ``v1alpha`` for tokens)."""
        from ...adapters import gemini_realtime

        parts = urlsplit(url)
        return gemini_realtime(url=urlunsplit((parts.scheme, parts.netloc, "", "", "")), **options)

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> GeminiPeer:
        match = _PATH.match(request.path)
        version, method = match.groups() if match else (wire.DEFAULT_API_VERSION, wire.METHOD)
        credential = self.credential(request)
        return GeminiPeer(store=self.store, model=settings.model, version=version, credential=credential,
                          constrained=method == wire.CONSTRAINED_METHOD, next_reply=settings.next_reply,
                          next_transcript=settings.next_transcript, audio_chunk_ms=settings.audio_chunk_ms,
                          instructions=settings.instructions, voice=settings.voice,
                          max_session_seconds=settings.max_session_seconds,
                          go_away_seconds=settings.go_away_seconds, speak=settings.speak,
                          hear=settings.hear)

    # --- REST: POST /v1alpha/auth_tokens ------------------------------------------------------

    def http(self, request: HttpRequest, gate: Any, model: str) -> Optional[HttpRefusal]:
        """``POST /v1alpha/auth_tokens`` (``x-goog-api-key``): mint an ``auth_tokens/...`` token the
        server then accepts, with its uses, deadlines and live-connect constraints."""
        if request.path.rstrip("/") != wire.AUTH_TOKENS_PATH:
            return None
        if request.method != "POST":  # (a GET never gets here: it is a WebSocket upgrade attempt)
            return HttpRefusal(405, _google_error(405, "Only POST is allowed.", "METHOD_NOT_ALLOWED"))
        key = request.header("x-goog-api-key") or request.query.get("key")
        if not key:
            return HttpRefusal(403, _google_error(403, _UNREGISTERED, "PERMISSION_DENIED"))
        if gate.api_key is not None and key != gate.api_key:
            return HttpRefusal(400, _google_error(400, _BAD_KEY, "INVALID_ARGUMENT"))
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return HttpRefusal(400, _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"))
        if not isinstance(body, dict):
            return HttpRefusal(400, _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"))
        unknown = [k for k in body if k not in _TOKEN_KEYS]
        if unknown:
            message = f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
            return HttpRefusal(400, _google_error(400, message, "INVALID_ARGUMENT"))
        now = time.time()
        uses = body.get("uses", 1)
        expire = _parse_time(body.get("expireTime")) if "expireTime" in body else now + 1800
        start_by = (_parse_time(body.get("newSessionExpireTime")) if "newSessionExpireTime" in body
                    else now + 60)
        bad_uses = not isinstance(uses, int) or isinstance(uses, bool) or uses < 0
        if bad_uses or expire is None or start_by is None or not now < expire <= now + 20 * 3600:
            message = "Invalid value for uses, expireTime or newSessionExpireTime."
            return HttpRefusal(400, _google_error(400, message, "INVALID_ARGUMENT"))
        setup = body.get("bidiGenerateContentSetup") or {}
        setup_model = setup.get("model") if isinstance(setup, dict) else None
        if setup_model is not None and (not isinstance(setup_model, str)
                                        or not setup_model.startswith("models/")):
            message = "bidiGenerateContentSetup.model must be 'models/<id>'."
            return HttpRefusal(400, _google_error(400, message, "INVALID_ARGUMENT"))
        mask = body.get("fieldMask")
        masks: Optional[List[str]] = None
        if isinstance(mask, str):
            masks = [m.strip() for m in mask.split(",") if m.strip()]
        served = model
        token = gate.mint(expire - now, setup_model[len("models/"):] if setup_model else served)
        constraints = dict(setup) if isinstance(setup, dict) else {}
        self.store.add_token(token.token, MintedToken(uses=uses, new_session_until=start_by,
                                                      constraints=constraints, field_mask=masks))
        return HttpRefusal(200, {"name": token.token, "expireTime": _rfc3339(expire),
                               "newSessionExpireTime": _rfc3339(start_by), "uses": uses})
