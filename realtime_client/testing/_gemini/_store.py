"""What outlives one Gemini connection in the fake server: resumable sessions and minted tokens.

A session is resumable through any handle issued for it, for two hours after its connection
ended; a handle restores the conversation as it was when the handle was issued. A session is
attached to at most one live connection: a resume while the old socket is still open is refused
(the real server closes it with 1011). Tokens minted through ``POST /v1alpha/auth_tokens`` keep
their uses, their new-session deadline and their constraints here.

Threads: any thread; one lock covers everything.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import attrs

__all__ = ["HANDLE_LIFETIME", "MintedToken", "SessionStore", "StoredSession"]

HANDLE_LIFETIME = 2 * 3600.0  # handles stay valid 2 h after the session ends


@attrs.define
class StoredSession:
    """One resumable conversation (mutable; changed only under the store's lock)."""

    id: str
    model: str
    attached: Any = None  # the peer serving it now, or None
    ended_at: Optional[float] = None
    resumes: int = 0


@attrs.define
class MintedToken:
    """An ephemeral token minted over HTTP: its limits and the setup it locks."""

    uses: int  # 0: unlimited
    new_session_until: float
    constraints: Dict[str, Any]
    field_mask: Optional[List[str]]
    used: int = 0


class SessionStore:
    """Resumable sessions by handle, and minted tokens by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: Dict[str, Tuple[StoredSession, List[Dict[str, Any]], float]] = {}
        self._tokens: Dict[str, MintedToken] = {}

    # --- sessions -----------------------------------------------------------------------------

    def new(self, model: str, peer: Any) -> StoredSession:
        """A new session, attached to ``peer``."""
        return StoredSession(id=secrets.token_hex(6), model=model, attached=peer)

    def issue(self, session: StoredSession, history: List[Dict[str, Any]]) -> str:
        """A new handle restoring ``history`` (copied now)."""
        handle = "fake-handle-" + secrets.token_urlsafe(12)
        with self._lock:
            self._handles[handle] = (session, copy.deepcopy(history), time.time())
        return handle

    def resume(self, handle: str, peer: Any) -> Tuple[Optional[StoredSession], List[Dict[str, Any]], str]:
        """``(session, history, "")`` to resume, else ``(None, [], why)`` with ``why`` one of
        ``"unknown"`` (no such handle, or expired) or ``"busy"`` (its old socket is open)."""
        with self._lock:
            entry = self._handles.get(handle)
            if entry is None:
                return None, [], "unknown"
            session, history, _ = entry
            if session.ended_at is not None and time.time() - session.ended_at > HANDLE_LIFETIME:
                return None, [], "unknown"
            if session.attached is not None and session.attached is not peer:
                return None, [], "busy"
            session.attached = peer
            session.ended_at = None
            session.resumes += 1
            return session, copy.deepcopy(history), ""

    def forget_handles(self) -> None:
        """Invalidate every handle issued so far (as if they had expired): the next resume with
        one of them is refused with 1007."""
        with self._lock:
            self._handles.clear()

    def detach(self, session: StoredSession, peer: Any) -> None:
        """``peer``'s connection ended: the session may be resumed elsewhere."""
        with self._lock:
            if session.attached is peer:
                session.attached = None
                session.ended_at = time.time()

    # --- tokens ---------------------------------------------------------------------------------

    def add_token(self, name: str, token: MintedToken) -> None:
        with self._lock:
            self._tokens[name] = token

    def start_with(self, name: Optional[str], resuming: bool) -> Tuple[Optional[MintedToken], str]:
        """Check a token that starts a session: ``(token or None, refusal or "")``. A resume
        consumes no use; whether the new-session deadline binds a resume is unconfirmed, and
        here it does not."""
        if name is None:
            return None, ""
        with self._lock:
            token = self._tokens.get(name)
            if token is None or resuming:
                return token, ""
            if time.time() > token.new_session_until:
                return token, "new sessions can no longer be started with this token"
            if token.uses and token.used >= token.uses:
                return token, "this token has no uses left"
            token.used += 1
            return token, ""
