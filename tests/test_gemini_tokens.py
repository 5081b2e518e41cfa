"""gemini_realtime_token(): the auth_tokens request it sends, its checks and what it returns.

A loopback HTTP server records each request and answers like the API (the fake Gemini server's
own endpoint is exercised end to end in tests/test_gemini_client.py).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from realtime_client import ConnectionFailedError, PermissionDeniedError, SessionConfig
from realtime_client.tokens import gemini_realtime_token

KEY = "AIzaSy-test-key-that-must-not-leak-000"


class _Api(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: List[Dict[str, Any]] = []
        self.answer: Any = None
        self.status = 200

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        api: _Api = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        api.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = api.answer if api.answer is not None else {
            "name": "auth_tokens/minted", "expireTime": body.get("expireTime"),
            "newSessionExpireTime": body.get("newSessionExpireTime"), "uses": body.get("uses")}
        data = json.dumps(answer).encode()
        self.send_response(api.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[_Api]:
    srv = _Api()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_the_request_carries_uses_deadlines_constraints_and_a_field_mask(api):
    """POST /v1alpha/auth_tokens with x-goog-api-key; the constraints are the model and the
    session config's settings, and only those fields are locked (an explicit field mask)."""
    before = time.time()
    token = gemini_realtime_token("gemini-3.8-live", api_key=KEY, base_url=api.base, uses=3,
                                  expire_minutes=10, new_session_expire_seconds=30,
                                  session_config=SessionConfig(instructions="Be kind.", voice="Kore",
                                                               temperature=0.5))()
    (req,) = api.requests
    assert req["path"] == "/v1alpha/auth_tokens" and req["headers"]["x-goog-api-key"] == KEY
    body = req["body"]
    assert body["uses"] == 3
    setup = body["bidiGenerateContentSetup"]
    assert setup["model"] == "models/gemini-3.8-live"
    assert setup["systemInstruction"] == {"parts": [{"text": "Be kind."}]}
    assert setup["generationConfig"]["temperature"] == 0.5
    assert body["fieldMask"] == ("model,generationConfig.speechConfig,generationConfig.temperature,"
                                 "systemInstruction.parts")
    assert body["expireTime"].endswith("Z") and body["newSessionExpireTime"].endswith("Z")
    assert token.provider == "gemini" and token.token == "auth_tokens/minted"
    assert before + 9 * 60 < token.expires_at < time.time() + 10 * 60 + 5
    assert token.config.model == "gemini-3.8-live"


def test_lock_everything_and_extra_fields(api):
    """lock_additional_fields=None sends no mask (the whole setup locked); a list adds paths."""
    gemini_realtime_token(api_key=KEY, base_url=api.base, lock_additional_fields=None)()
    gemini_realtime_token(api_key=KEY, base_url=api.base, lock_additional_fields=["tools"],
                          constraints={"tools": [{"googleSearch": {}}]})()
    first, second = (r["body"] for r in api.requests)
    assert "fieldMask" not in first
    assert second["fieldMask"] == "model,tools" and second["bidiGenerateContentSetup"]["tools"]


def test_the_api_key_comes_from_the_environment_and_is_checked_at_once(api, monkeypatch):
    """GOOGLE_API_KEY wins over GEMINI_API_KEY (google-genai's order); none set fails at once."""
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(PermissionDeniedError, match="GEMINI_API_KEY"):
        gemini_realtime_token(base_url=api.base)
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    gemini_realtime_token(base_url=api.base)()
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")
    gemini_realtime_token(base_url=api.base)()
    assert [r["headers"]["x-goog-api-key"] for r in api.requests] == ["from-gemini", "from-google"]


def test_api_key_mode_makes_no_request(api):
    """ephemeral=False returns the key itself as a Gemini token, with no request and no expiry."""
    token = gemini_realtime_token(api_key=KEY, ephemeral=False)()
    assert token.provider == "gemini" and token.token == KEY and token.expires_at is None
    assert api.requests == [] and KEY not in repr(token)


@pytest.mark.parametrize("kwargs, match", [
    ({"uses": -1}, "uses"), ({"uses": True}, "uses"), ({"expire_minutes": 0}, "expire_minutes"),
    ({"expire_minutes": 21 * 60}, "expire_minutes"), ({"new_session_expire_seconds": 0}, "new_session"),
    ({"model": ""}, "model"), ({"base_url": "http://example.com"}, "https"),
    ({"lock_additional_fields": "model"}, "field paths"),
])
def test_bad_options_fail_at_once(kwargs, match):
    """Out-of-range or mistyped options raise before any request, naming the option."""
    with pytest.raises((ValueError, TypeError), match=match):
        gemini_realtime_token(api_key=KEY, **kwargs)


def test_refusals_and_bad_replies_are_clear_and_keep_the_key_secret(api):
    """403 is PermissionDeniedError; a reply without an auth_tokens name is ConnectionFailedError;
    neither message shows the key."""
    api.status, api.answer = 403, {"error": {"code": 403, "message": f"key {KEY} refused"}}
    with pytest.raises(PermissionDeniedError) as refused:
        gemini_realtime_token(api_key=KEY, base_url=api.base)()
    api.status, api.answer = 200, {"name": "not-a-token"}
    with pytest.raises(ConnectionFailedError, match="auth_tokens/") as bad:
        gemini_realtime_token(api_key=KEY, base_url=api.base)()
    assert KEY not in str(refused.value) and KEY not in str(bad.value)
    assert KEY not in repr(gemini_realtime_token(api_key=KEY, base_url=api.base))


def test_expires_after_in_seconds_as_the_cli_passes_it(api):
    """expires_after (seconds, the CLI's --expires-after) sets the lifetime like expire_minutes."""
    token = gemini_realtime_token(api_key=KEY, base_url=api.base, expires_after=120)()
    assert time.time() + 100 < token.expires_at < time.time() + 125
    with pytest.raises(ValueError, match="expires_after"):
        gemini_realtime_token(api_key=KEY, expires_after=0)


def test_cli_token_mints_a_gemini_token_at_the_fake():
    """`realtime-client token --provider gemini` prints TanStack JSON for an auth_tokens token."""
    import os
    import subprocess
    import sys

    from realtime_client.testing import FakeRealtimeServer

    with FakeRealtimeServer(provider="gemini", api_key="cli-key") as server:
        env = {**os.environ, "GEMINI_API_KEY": "cli-key", "GEMINI_BASE_URL": server.base_url}
        env.pop("GOOGLE_API_KEY", None)
        done = subprocess.run([sys.executable, "-m", "realtime_client", "token", "--provider", "gemini",
                               "--expires-after", "300"], capture_output=True, text=True, timeout=60,
                              env=env, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["provider"] == "gemini" and printed["token"].startswith("auth_tokens/")
    assert printed["expiresAt"] / 1000 < time.time() + 310
    assert "cli-key" not in done.stdout + done.stderr
