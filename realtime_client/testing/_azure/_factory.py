"""The Azure side of the fake server: paths, ``api-key``/bearer auth, error bodies, tokens, peers.

The protocol on the socket is OpenAI GA unchanged, so each connection is an
:class:`~.._openai.OpenAIPeer`. Facts come from ``adapters/_azure/_wire.py``.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any, Dict, Optional, Sequence, Tuple

from ..._models import RealtimeToken, SessionConfig
from ...adapters._azure._wire import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    CLIENT_SECRETS_PATH,
    GA_PATH,
    PREVIEW_PATH,
    SESSION_CAP_CLOSE_CODE,
    SESSION_CAP_REASON,
)
from ...adapters._openai._wire import DEFAULT_VOICE
from .._http import HttpRequest, json_body
from .._openai import DEFAULT_INSTRUCTIONS, OpenAIPeer
from .._openai._schema import SESSION, SchemaError, default_session, merge, validate
from .._peer import (
    EXPIRED_TOKEN,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    SERVER_ERROR,
    HandshakeRequest,
    HttpRefusal,
    PeerSettings,
)

__all__ = ["DEFAULT_DEPLOYMENT", "AzurePeerFactory"]

DEFAULT_DEPLOYMENT = "gpt-realtime"  # a deployment named after its model, as the portal suggests
# Azure's 401 text (its REST APIs answer {"error": {"code": "401", "message": ...}}).
_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
           "valid key for an active subscription and use a correct regional API endpoint for your resource.")
_VERSIONED_GA = "api-version is not allowed on the /openai/v1 realtime endpoint."


class AzurePeerFactory:
    """Builds OpenAI GA peers for Azure's realtime endpoints (a ``PeerFactory``).

    Serves ``/openai/v1/realtime?model=<deployment>`` (GA; an ``api-version`` there is refused
    with 401, as Azure does) and the deprecated ``/openai/realtime?api-version=...&deployment=...``;
    credentials in the ``api-key`` header, ``Authorization: Bearer`` (Entra ID or a minted
    secret) or ``?api-key=``. ``POST /openai/v1/realtime/client_secrets`` mints secrets.

    Threads: stateless; any thread.
    """

    name = "azure"
    default_model = DEFAULT_DEPLOYMENT
    endpoint_path = GA_PATH
    session_cap: Tuple[int, str] = (SESSION_CAP_CLOSE_CODE, SESSION_CAP_REASON)

    def accepts_path(self, path: str) -> bool:
        """The GA and the preview realtime paths (a trailing slash allowed)."""
        return path.rstrip("/") in (GA_PATH, PREVIEW_PATH)

    def credential(self, request: HandshakeRequest) -> Optional[str]:
        """The ``api-key`` header, a bearer token, or ``?api-key=``; none on a GA path that
        carries an ``api-version`` (Azure answers that with 401)."""
        if request.path.rstrip("/") == GA_PATH and "api-version" in request.query:
            return None
        return _credential(request.header(API_KEY_HEADER), request.header("Authorization"),
                           request.query.get(API_KEY_QUERY))

    def select_subprotocol(self, offered: Sequence[str]) -> Optional[str]:
        """``realtime`` when offered, else none."""
        return "realtime" if "realtime" in offered else None

    def refusal(self, status: int, problem: str, request: HandshakeRequest) -> HttpRefusal:
        """Azure's JSON error body for a refused upgrade."""
        message = _DENIED
        if problem == NOT_FOUND:
            message = "Resource not found"
        elif problem == SERVER_ERROR:
            message = "The server had an error while processing your request."
        elif problem == EXPIRED_TOKEN:
            message = "The ephemeral client secret has expired."
        elif problem == MISSING_CREDENTIALS and "api-version" in request.query \
                and request.path.rstrip("/") == GA_PATH:
            message = _VERSIONED_GA
        return HttpRefusal(status, {"error": {"code": str(status), "message": message}})

    def token(self, value: str, expires_at: float, model: str) -> RealtimeToken:
        """A minted-secret-shaped token (sent as a bearer token) for deployment ``model``."""
        return RealtimeToken(provider="azure", token="ek_fake_" + value, expires_at=expires_at,
                             config=SessionConfig(model=model))

    def adapter(self, url: str, **options: Any) -> Any:
        """``azure_openai_realtime(url=url, **options)``; with ``api_version`` the preview path."""
        from ...adapters import azure_openai_realtime

        if options.get("api_version") is not None and url.endswith(GA_PATH):
            url = url[: -len(GA_PATH)] + PREVIEW_PATH
        return azure_openai_realtime(url=url, **options)

    def peer(self, request: HandshakeRequest, settings: PeerSettings) -> OpenAIPeer:
        """A GA peer serving the requested deployment (``?model=`` or ``?deployment=``)."""
        deployment = request.query.get("model") or request.query.get("deployment") or settings.model
        return OpenAIPeer(model=deployment, next_reply=settings.next_reply,
                          next_transcript=settings.next_transcript, audio_chunk_ms=settings.audio_chunk_ms,
                          rate_limits=settings.rate_limits,
                          instructions=(DEFAULT_INSTRUCTIONS if settings.instructions is None
                                        else settings.instructions),
                          voice=settings.voice or DEFAULT_VOICE, speak=settings.speak,
                          hear=settings.hear)

    def http(self, request: HttpRequest, gate: Any, model: str) -> Optional[HttpRefusal]:
        """``POST /openai/v1/realtime/client_secrets``: a secret for ``session.model``."""
        if request.path.rstrip("/") != CLIENT_SECRETS_PATH:
            return None
        if request.method != "POST":
            return HttpRefusal(405, {"error": {"code": "405", "message": "Method not allowed."}})
        credential = _credential(request.header(API_KEY_HEADER), request.header("Authorization"), None)
        problem = gate.credential_problem(credential)
        if credential is None or problem is not None:
            return HttpRefusal(401, {"error": {"code": "401", "message": _DENIED}})
        body = json_body(request)
        session = body.get("session") if body is not None else None
        if not isinstance(session, dict) or session.get("type") != "realtime":
            return _bad("Missing required parameter: 'session.type'.", "session.type")
        deployment = session.get("model")
        if not isinstance(deployment, str) or not deployment:
            return _bad("Missing required parameter: 'session.model' (the deployment name).", "session.model")
        try:
            validate(SESSION, session, "session")
        except SchemaError as exc:
            return _bad(exc.message, exc.param, exc.code)
        ttl = 600
        expires = body.get("expires_after") if body is not None else None
        if isinstance(expires, dict) and isinstance(expires.get("seconds"), int):
            ttl = expires["seconds"]
        token = gate.mint(ttl, deployment)
        defaults = default_session(deployment, DEFAULT_INSTRUCTIONS, DEFAULT_VOICE)
        full: Dict[str, Any] = merge(SESSION, defaults, session)
        full.update({"id": "sess_" + secrets.token_hex(8), "object": "realtime.session",
                     "expires_at": int(time.time()) + ttl})
        return HttpRefusal(200, {"value": token.token, "expires_at": int(token.expires_at or 0),
                                 "session": copy.deepcopy(full)})


def _credential(api_key: Optional[str], authorization: Optional[str],
                query_key: Optional[str]) -> Optional[str]:
    if api_key:
        return api_key.strip()
    auth = authorization or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return query_key or None


def _bad(message: str, param: Optional[str], code: str = "missing_required_parameter") -> HttpRefusal:
    return HttpRefusal(400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                       "code": code}})
