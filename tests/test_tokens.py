"""Tests for realtime_client.tokens against a real local HTTP server.

The server plays both a TanStack Start token route and OpenAI's ``/v1/realtime/client_secrets``.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional

import attrs
import pytest
import requests

from realtime_client._errors import ConnectionFailedError, PermissionDeniedError, RealtimeError
from realtime_client._models import RealtimeToken, SessionConfig
from realtime_client.tokens import TokenSource, fetch_token, openai_realtime_token
from tests.helpers import Recorder, wait_until

API_KEY = "sk-proj-TESTKEY0123456789abcdefghijklmnopqrstuv"
EPHEMERAL = "ek_68af1a2b3c4d5e6f7a8b9c0d1e2f3a4b"
APP_SESSION = "app-session-cookie-value-42"
SECRETS = (API_KEY, EPHEMERAL, APP_SESSION)
_BAD_EXPIRIES = {"nan": float("nan"), "inf": float("inf"), "zero": 0, "negative": -1}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closes its socket; the late write failing is expected


class TokenServer:
    """A loopback HTTP server with token routes; records every request it gets."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._handle(self)

            def do_POST(self) -> None:
                owner._handle(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       name="token-test-server", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "application/json",
               ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path = h.path.split("?")[0]
        self.requests.append({"method": h.command, "path": h.path, "headers": dict(h.headers), "body": body})
        now = time.time()
        if path == "/api/realtime-token":  # TanStack Start route: camelCase, expiresAt in ms
            self._reply(h, 200, {"provider": "openai", "token": EPHEMERAL,
                                 "expiresAt": int((now + 600) * 1000),
                                 "config": {"model": "gpt-realtime", "voice": "alloy",
                                            "instructions": "Be brief."}})
        elif path == "/snake":
            self._reply(h, 200, {"provider": "openai", "token": EPHEMERAL, "expires_at": now + 60,
                                 "config": {"model": "gpt-realtime", "vad_mode": "semantic"}})
        elif path == "/raw-openai":
            self._reply(h, 200, {"value": EPHEMERAL, "expires_at": int(now) + 300,
                                 "session": {"type": "realtime", "model": "gpt-realtime-mini"}})
        elif path == "/app-auth":
            if h.headers.get("Authorization") != f"Bearer {APP_SESSION}":
                self._reply(h, 401, {"error": f"bad session {h.headers.get('Authorization')}"})
            else:
                self._reply(h, 200, {"token": EPHEMERAL, "expiresAt": int((now + 60) * 1000)})
        elif path == "/v1/realtime/client_secrets":
            self._client_secrets(h, body, now)
        elif path == "/forbidden":
            self._reply(h, 403, {"error": {"message": "Project not allowed", "type": "forbidden"}})
        elif path == "/boom":
            text = (f"internal error using {API_KEY} for {EPHEMERAL}; Authorization: "
                    f"Bearer {APP_SESSION}; {{\"token\": \"plain-secret\"}}")
            self._reply(h, 500, text.encode(), "text/plain")
        elif path == "/slow":
            self.release.wait(10)
            self._reply(h, 200, {"token": EPHEMERAL})
        elif path == "/html":
            self._reply(h, 200, f"<html>{EPHEMERAL}</html>".encode(), "text/html")
        elif path == "/badshape":
            self._reply(h, 200, {"hello": "world"})
        elif path.startswith("/bad-expiry/"):  # /bad-expiry/<nan|inf|zero|negative>/... : a broken expiry
            bad = _BAD_EXPIRIES[path.split("/")[2]]
            if path.endswith("/realtime/client_secrets"):  # OpenAI's minting route
                self._reply(h, 200, {"value": EPHEMERAL, "expires_at": bad, "session": {"model": "m"}})
            else:  # a TanStack token route; json.dumps writes NaN/Infinity, which json.loads reads back
                self._reply(h, 200, {"provider": "openai", "token": EPHEMERAL, "expiresAt": bad})
        else:
            self._reply(h, 404, {"error": {"message": "Not found"}})

    def _client_secrets(self, h: BaseHTTPRequestHandler, body: Any, now: float) -> None:
        auth = h.headers.get("Authorization", "")
        if auth != f"Bearer {API_KEY}":
            masked = auth.replace("Bearer ", "")[:8] + "*****"
            self._reply(h, 401, {"error": {
                "message": f"Incorrect API key provided: {masked}. You can find your API key at "
                           "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
            return
        expires = (body or {}).get("expires_after")
        session = (body or {}).get("session")
        ok = (h.headers.get("Content-Type", "").startswith("application/json")
              and isinstance(expires, dict) and expires.get("anchor") == "created_at"
              and isinstance(expires.get("seconds"), int) and 10 <= expires["seconds"] <= 7200
              and isinstance(session, dict) and session.get("type") == "realtime"
              and isinstance(session.get("model"), str))
        if not ok:
            self._reply(h, 400, {"error": {"message": "Invalid request body", "type": "invalid_request_error",
                                           "param": None, "code": "invalid_value"}})
            return
        self._reply(h, 200, {
            "value": EPHEMERAL,
            "expires_at": int(now) + expires["seconds"],
            "session": {"type": "realtime", "object": "realtime.session", "id": "sess_C9fK2abc",
                        "model": session["model"], "output_modalities": ["audio"],
                        "instructions": session.get("instructions", ""), "tools": [],
                        "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                                  "output": {"format": {"type": "audio/pcm", "rate": 24000},
                                             "voice": "alloy", "speed": 1.0}}},
        })


@pytest.fixture
def srv() -> Iterator[TokenServer]:
    server = TokenServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def capture_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root: also urllib3's and requests' records
    return caplog


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"secret leaked into: {text!r}"


def _error_texts(exc: BaseException) -> List[str]:
    texts = []
    seen: Optional[BaseException] = exc
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return texts


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fetch_token ----------------------------------------------------------------------------


def test_fetch_token_parses_tanstack_camel_case(srv, capture_all):
    """A TanStack reply (expiresAt in ms, config) becomes a RealtimeToken; the request is a JSON POST."""
    source = fetch_token(srv.url("/api/realtime-token"))
    before = time.time()
    token = source()
    assert isinstance(source, TokenSource) and isinstance(token, RealtimeToken)
    assert (token.provider, token.token) == ("openai", EPHEMERAL)
    assert before + 590 < token.expires_at < time.time() + 610
    assert (token.config.model, token.config.voice, token.config.instructions) == \
        ("gpt-realtime", "alloy", "Be brief.")
    (req,) = srv.requests
    assert (req["method"], req["body"]) == ("POST", {})
    assert req["headers"]["Content-Type"] == "application/json"
    _assert_no_secret(repr(source), repr(token), str(token), capture_all.text)


def test_fetch_token_parses_snake_case(srv):
    """A snake_case reply (expires_at in seconds) parses the same way."""
    token = fetch_token(srv.url("/snake"))()
    assert token.token == EPHEMERAL
    assert time.time() + 50 < token.expires_at < time.time() + 70
    assert token.config.vad_mode == "semantic"


def test_fetch_token_accepts_raw_openai_reply_and_default_provider(srv):
    """OpenAI's raw client_secrets reply works; provider= fills in the missing provider."""
    token = fetch_token(srv.url("/raw-openai"), provider="openai")()
    assert (token.provider, token.token, token.config.model) == ("openai", EPHEMERAL, "gpt-realtime-mini")
    assert token.expires_at == pytest.approx(time.time() + 300, abs=5)


def test_fetch_token_method_headers_body_and_session(srv, capture_all):
    """method, headers, json and session are used; an app's own Authorization never leaks."""
    headers = {"Authorization": f"Bearer {APP_SESSION}"}
    with requests.Session() as http:
        token = fetch_token(srv.url("/app-auth"), headers=headers, json={"voice": "ash"}, session=http)()
        get_token = fetch_token(srv.url("/app-auth"), method="get", headers=headers, session=http)()
    assert token.token == get_token.token == EPHEMERAL
    assert [(r["method"], r["body"]) for r in srv.requests] == [("POST", {"voice": "ash"}), ("GET", None)]
    with pytest.raises(PermissionDeniedError) as info:
        fetch_token(srv.url("/app-auth"), headers={"Authorization": f"Bearer {APP_SESSION}x"})()
    _assert_no_secret(*_error_texts(info.value), capture_all.text)


def test_fetch_token_403_is_permission_denied(srv):
    """HTTP 403 raises PermissionDeniedError with the status and the provider's message."""
    with pytest.raises(PermissionDeniedError) as info:
        fetch_token(srv.url("/forbidden"))()
    assert info.value.code == "PERMISSION_DENIED" and info.value.details["status"] == 403
    assert "HTTP 403" in str(info.value) and "Project not allowed" in str(info.value)


def test_fetch_token_500_is_connection_failed_with_redacted_excerpt(srv, capture_all):
    """HTTP 500 raises ConnectionFailedError with a short excerpt that has every secret redacted."""
    with pytest.raises(ConnectionFailedError) as info:
        fetch_token(srv.url("/boom"), headers={"Authorization": f"Bearer {APP_SESSION}"})()
    err = info.value
    assert err.code == "CONNECTION_FAILED" and err.details["status"] == 500
    assert "HTTP 500" in str(err) and "internal error using" in str(err) and "<redacted>" in str(err)
    assert "plain-secret" not in str(err)
    _assert_no_secret(*_error_texts(err), capture_all.text)


def test_fetch_token_closed_port_is_connection_failed(capture_all):
    """A refused connection raises ConnectionFailedError chained from the requests error."""
    url = f"http://127.0.0.1:{_closed_port()}/api/realtime-token"
    with pytest.raises(ConnectionFailedError) as info:
        fetch_token(url, timeout=5)()
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert "could not reach token endpoint" in str(info.value) and "refused" in str(info.value).lower()
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, RealtimeError)


def test_fetch_token_timeout_is_connection_failed(srv):
    """A server that never answers raises ConnectionFailedError once the timeout has passed."""
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        fetch_token(srv.url("/slow"), timeout=0.3)()
    elapsed = time.monotonic() - start
    assert "timed out after 0.3 s" in str(info.value)
    assert isinstance(info.value.__cause__, requests.Timeout)
    assert elapsed < 5.0  # far below the 10 s the server would stall


def test_fetch_token_non_json_body(srv, capture_all):
    """A 2xx reply that is not JSON raises ConnectionFailedError without quoting the body."""
    with pytest.raises(ConnectionFailedError) as info:
        fetch_token(srv.url("/html"))()
    assert "did not answer with JSON" in str(info.value) and "text/html" in str(info.value)
    _assert_no_secret(*_error_texts(info.value), capture_all.text)


def test_fetch_token_json_without_token(srv):
    """JSON without a token raises ConnectionFailedError saying what was missing."""
    with pytest.raises(ConnectionFailedError, match="not a token: token JSON has no non-empty 'token'"):
        fetch_token(srv.url("/badshape"))()


def test_fetch_token_validates_arguments_and_hides_url_secrets():
    """Bad URLs and timeouts fail at once; repr drops credentials and the query string."""
    with pytest.raises(ValueError):
        fetch_token("ftp://example.com/token")
    with pytest.raises(ValueError):
        fetch_token("http://127.0.0.1/token", timeout=0)
    with pytest.raises(ValueError, match="https"):  # a token must not cross a network in clear text
        fetch_token("http://tokens.example.com/api/token")
    assert fetch_token("https://tokens.example.com/api/token").url == "https://tokens.example.com/api/token"
    assert fetch_token("http://[::1]:8123/token").url == "http://[::1]:8123/token"
    source = fetch_token(f"http://user:{APP_SESSION}@127.0.0.1:8123/api/token?key={API_KEY}")
    assert repr(source) == "TokenSource(url='http://127.0.0.1:8123/api/token')"
    assert source.url == "http://127.0.0.1:8123/api/token"


# --- openai_realtime_token ------------------------------------------------------------------


def test_openai_token_mints_client_secret(srv, capture_all):
    """The OpenAI source posts the GA body with the bearer key and returns the ek_ secret."""
    source = openai_realtime_token(model="gpt-realtime-mini", api_key=API_KEY, expires_after=120,
                                   session_config={"instructions": "Hi"}, base_url=srv.url("/v1"))
    token = source()
    assert (token.provider, token.token, token.config.model) == ("openai", EPHEMERAL, "gpt-realtime-mini")
    assert token.expires_at == pytest.approx(time.time() + 120, abs=5)
    (req,) = srv.requests
    assert (req["method"], req["path"]) == ("POST", "/v1/realtime/client_secrets")
    assert req["body"] == {"expires_after": {"anchor": "created_at", "seconds": 120},
                           "session": {"type": "realtime", "model": "gpt-realtime-mini",
                                       "instructions": "Hi"}}
    assert repr(source) == f"TokenSource(url='{srv.url('/v1/realtime/client_secrets')}')"
    _assert_no_secret(repr(source), repr(token), str(token), capture_all.text)


def test_openai_token_reads_env_key(srv, monkeypatch):
    """Without api_key the OPENAI_API_KEY environment variable is used."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    token = openai_realtime_token(base_url=srv.url("/v1"))()
    assert token.token == EPHEMERAL and token.config.model == "gpt-realtime-2.1"
    assert srv.requests[0]["body"]["expires_after"]["seconds"] == 600


def test_openai_token_wrong_key_is_permission_denied(srv, capture_all):
    """A key the server rejects (401) raises PermissionDeniedError that never shows the key."""
    wrong = "sk-proj-WRONGKEY9876543210zyxwvutsrqponmlkjihg"
    with pytest.raises(PermissionDeniedError) as info:
        openai_realtime_token(api_key=wrong, base_url=srv.url("/v1"))()
    err = info.value
    assert err.details["status"] == 401 and "HTTP 401" in str(err) and "Incorrect API key" in str(err)
    assert err.provider == "openai" and err.code == "PERMISSION_DENIED"
    for text in [*_error_texts(err), capture_all.text]:
        assert wrong not in text and wrong[:8] + "*****" not in text
    _assert_no_secret(*_error_texts(err), capture_all.text)


def test_openai_token_missing_key(monkeypatch):
    """No api_key and no OPENAI_API_KEY raises PermissionDeniedError naming the variable."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(PermissionDeniedError, match="OPENAI_API_KEY"):
        openai_realtime_token()
    with pytest.raises(PermissionDeniedError, match="api_key is empty"):
        openai_realtime_token(api_key="  ")


def test_openai_token_key_removed_later(srv, monkeypatch):
    """A key that disappears from the environment after construction fails the call, not silently."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    source = openai_realtime_token(base_url=srv.url("/v1"))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(PermissionDeniedError, match="OPENAI_API_KEY"):
        source()
    assert srv.requests == []


def test_openai_token_validates_arguments():
    """expires_after outside 10..7200, plain http to a remote host and bad timeouts are refused."""
    for bad in (9, 7201, True, 60.5):
        with pytest.raises(ValueError, match="expires_after"):
            openai_realtime_token(api_key=API_KEY, expires_after=bad)
    with pytest.raises(ValueError, match="https"):
        openai_realtime_token(api_key=API_KEY, base_url="http://api.example.com/v1")
    with pytest.raises(ValueError, match="timeout"):
        openai_realtime_token(api_key=API_KEY, timeout=-1)
    assert openai_realtime_token(api_key=API_KEY, expires_after=10) is not None
    assert openai_realtime_token(api_key=API_KEY, expires_after=7200) is not None


def test_openai_token_server_errors(srv, capture_all):
    """A 4xx other than 401/403 and an unreachable API raise ConnectionFailedError without the key."""
    source = openai_realtime_token(api_key=API_KEY, base_url=srv.url("/nowhere"))
    with pytest.raises(ConnectionFailedError) as info:
        source()
    assert info.value.details["status"] == 404 and "Not found" in str(info.value)
    dead = openai_realtime_token(api_key=API_KEY, base_url=f"http://127.0.0.1:{_closed_port()}/v1", timeout=5)
    with pytest.raises(ConnectionFailedError) as info2:
        dead()
    _assert_no_secret(*_error_texts(info.value), *_error_texts(info2.value), capture_all.text)


# --- expiries: NaN, infinite and non-positive ones are refused wherever a token enters -----------

BAD_EXPIRY_VALUES = [math.nan, math.inf, -math.inf, 0, 0.0, -1, -1.5e9]
BAD_EXPIRY_IDS = ["nan", "inf", "-inf", "zero", "zero-float", "negative", "negative-float"]


@pytest.mark.parametrize("bad", BAD_EXPIRY_VALUES, ids=BAD_EXPIRY_IDS)
def test_the_token_constructor_refuses_nan_infinite_and_non_positive_expiries(bad):
    """RealtimeToken(expires_at=...) raises ValueError naming expires_at and the value; evolve does too."""
    with pytest.raises(ValueError, match=r"expires_at must be a finite, positive number \(seconds"):
        RealtimeToken(provider="openai", token=EPHEMERAL, expires_at=bad)
    good = RealtimeToken(provider="openai", token=EPHEMERAL, expires_at=time.time() + 60)
    with pytest.raises(ValueError, match="expires_at must be a finite, positive number"):
        attrs.evolve(good, expires_at=bad)


@pytest.mark.parametrize("bad", [True, "1700000000", [1]], ids=["bool", "string", "list"])
def test_the_token_constructor_refuses_expiries_that_are_not_numbers(bad):
    """A bool, string or list expiry raises ValueError naming its type."""
    with pytest.raises(ValueError, match=f"expires_at must be a number .*got {type(bad).__name__}"):
        RealtimeToken(provider="openai", token=EPHEMERAL, expires_at=bad)


def test_the_token_constructor_accepts_none_and_real_numbers():
    """None (never expires), ints and floats are accepted as they are."""
    assert RealtimeToken(provider="openai", token=EPHEMERAL).expires_at is None
    for value in (1_900_000_000, 0.5):
        assert RealtimeToken(provider="openai", token=EPHEMERAL, expires_at=value).expires_at == value


@pytest.mark.parametrize("key", ["expiresAt", "expires_at"])
@pytest.mark.parametrize("bad", BAD_EXPIRY_VALUES, ids=BAD_EXPIRY_IDS)
def test_from_dict_refuses_nan_infinite_and_non_positive_expiries(key, bad):
    """TanStack expiresAt (ms) and snake_case expires_at (s) that are NaN, infinite or <= 0 are refused."""
    unit = "milliseconds" if key == "expiresAt" else "seconds"
    expected = rf"token JSON '{key}' must be a finite, positive number \({unit}"
    with pytest.raises(ValueError, match=expected) as info:
        RealtimeToken.from_dict({"provider": "openai", "token": EPHEMERAL, key: bad})
    assert EPHEMERAL not in str(info.value)


def test_from_dict_still_refuses_expiries_that_are_not_numbers():
    """A string expiresAt raises ValueError naming the field and the type."""
    with pytest.raises(ValueError, match=r"token JSON 'expiresAt' must be a number .*got str"):
        RealtimeToken.from_dict({"token": EPHEMERAL, "expiresAt": "soon"})


@pytest.mark.parametrize("kind", ["nan", "inf", "zero", "negative"])
def test_fetch_token_refuses_a_reply_with_a_broken_expiry(srv, kind):
    """A token endpoint answering expiresAt NaN/Infinity/0/-1 raises ConnectionFailedError naming it."""
    with pytest.raises(ConnectionFailedError, match="not a token: token JSON 'expiresAt' must be a finite"):
        fetch_token(srv.url(f"/bad-expiry/{kind}/api/realtime-token"))()


@pytest.mark.parametrize("kind", ["nan", "inf", "zero", "negative"])
def test_openai_token_refuses_a_client_secret_with_a_broken_expiry(srv, kind, capture_all):
    """A client_secrets reply with expires_at NaN/Infinity/0/-1 raises ConnectionFailedError, key unshown."""
    source = openai_realtime_token(api_key=API_KEY, base_url=srv.url(f"/bad-expiry/{kind}/v1"))
    expected = "unexpected client secret reply: 'expires_at' must be a finite, positive"
    with pytest.raises(ConnectionFailedError, match=expected) as info:
        source()
    assert info.value.provider == "openai"
    _assert_no_secret(*_error_texts(info.value), capture_all.text)


@pytest.mark.parametrize("shape", ["tanstack-json", "token-object"])
def test_a_get_token_returning_a_nan_expiry_fails_connect_clearly(server, make_client, shape):
    """connect() raises CONNECTION_FAILED naming the expiry when get_token yields a NaN one; no socket opens.

    As TanStack JSON the dict is refused by from_dict; as a RealtimeToken the constructor inside
    get_token raises, which connect() reports the same way.
    """
    calls: List[int] = []

    def get_token() -> Any:
        calls.append(1)
        secret = server.get_token().token
        if shape == "tanstack-json":
            return {"provider": "openai", "token": secret, "expiresAt": math.nan}
        return RealtimeToken(provider="openai", token=secret, expires_at=math.nan)

    rec = Recorder()
    client = make_client(auto_playback=False, get_token=get_token, **rec.options())
    with pytest.raises(ConnectionFailedError, match=r"get_token failed: .*expires_?[aA]t'? must be a finite"):
        client.connect(timeout=5)
    assert client.status == "error" and len(calls) == 1
    wait_until(lambda: rec.of("on_error"), timeout=5, what="on_error")
    assert server.connections == []


def test_a_refresh_returning_a_nan_expiry_is_reported_and_retried_with_backoff(server, make_client):
    """A refresh whose get_token result has a NaN expiry goes to on_error and is retried after 1 s, 2 s, ...

    The session stays up, and get_token is not called in a tight loop.
    """
    calls: List[float] = []
    errors: List[Exception] = []

    def get_token() -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return server.token(ttl=1.0)  # refreshed after 0.5 s
        return {"provider": "openai", "token": server.get_token().token, "expiresAt": math.nan}

    client = make_client(auto_playback=False, get_token=get_token, on_error=errors.append)
    client.connect(timeout=5)
    time.sleep(2.0)
    wait_until(lambda: errors, timeout=5, what="the refresh failure reaching on_error")
    assert 2 <= len(calls) <= 4, f"get_token was called {len(calls)} times in about 2 s"
    assert all(b - a >= 0.9 for a, b in zip(calls[1:], calls[2:])), "retries must back off"
    assert all(isinstance(e, ConnectionFailedError) for e in errors)
    assert all("'expiresAt' must be a finite" in str(e) for e in errors)
    assert client.status == "connected"


def test_session_config_in_tokens_is_unaffected():
    """A valid token JSON with config still parses (the expiry check changed nothing else)."""
    token = RealtimeToken.from_dict({"token": EPHEMERAL, "expires_at": 1_900_000_000,
                                     "config": {"voice": "ash"}})
    assert token.config == SessionConfig(voice="ash") and token.expires_at == 1_900_000_000.0
