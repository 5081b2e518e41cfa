"""Grok and Azure token minting, against the fake servers' client_secrets endpoints.

The fakes mint secrets that their WebSocket endpoints then accept, so each test also proves the
minted token opens a session. Secrets never appear in reprs, errors or log records.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import pytest

from realtime_client import PermissionDeniedError, RealtimeClient, RealtimeToken
from realtime_client._errors import ConnectionFailedError
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer
from realtime_client.tokens import (
    azure_entra_token,
    azure_openai_api_key_token,
    azure_openai_realtime_token,
    grok_realtime_token,
)

XAI_KEY = "xai-TESTKEY0123456789abcdefghijklmnopqrstuvwxyz"
AZURE_KEY = "0123456789abcdef0123456789abcdef"


def connect_and_ask(server: FakeRealtimeServer, get_token: Any, **adapter_options: Any) -> str:
    client = RealtimeClient(get_token=get_token, adapter=server.adapter(**adapter_options),
                            auto_capture=False, audio_output=BufferOutput(realtime=False))
    try:
        client.connect(timeout=5)
        return client.ask("token works?", timeout=10).text
    finally:
        client.destroy()


def test_grok_token_mints_with_expires_after_only_and_opens_a_session(caplog: Any) -> None:
    """The body is exactly {"expires_after": {"seconds": N}}; the secret connects."""
    caplog.set_level(logging.DEBUG)
    with FakeRealtimeServer(provider="grok", api_key=XAI_KEY) as server:
        source = grok_realtime_token(300, api_key=XAI_KEY, base_url=server.base_url + "/v1")
        token = source()
        assert token.provider == "grok" and token.token and token.expires_at is not None
        assert 290 < token.expires_at - time.time() <= 301
        (request,) = server.http_requests
        assert request.method == "POST" and request.path == "/v1/realtime/client_secrets"
        assert json.loads(request.body) == {"expires_after": {"seconds": 300}}
        assert request.header("Authorization") == "<redacted>"
        assert connect_and_ask(server, source) == "You said: token works?"
    assert XAI_KEY not in repr(source) and XAI_KEY not in caplog.text


@pytest.mark.parametrize("shape", ["client_secret", "milliseconds"])
def test_grok_token_tolerates_the_nested_shape_and_milliseconds(shape: str) -> None:
    """client_secret.{value,expires_at} and an expires_at in ms are read as xAI's top-level seconds."""
    with FakeRealtimeServer(provider="grok", provider_options={"secret_shape": shape}) as server:
        token = grok_realtime_token(api_key="k", base_url=server.base_url + "/v1")()
        assert token.expires_at is not None and abs(token.expires_at - (time.time() + 600)) < 5


def test_grok_token_refused_key_and_missing_key(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    """A refused key is PermissionDeniedError without the key in it; no key at all fails at once."""
    caplog.set_level(logging.DEBUG)
    with FakeRealtimeServer(provider="grok", api_key=XAI_KEY) as server:
        wrong = "xai-WRONGKEY0123456789abcdefghijklmnopqrstu"
        with pytest.raises(PermissionDeniedError) as caught:
            grok_realtime_token(api_key=wrong, base_url=server.base_url + "/v1")()
        assert wrong not in str(caught.value) and wrong not in caplog.text
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(PermissionDeniedError, match="XAI_API_KEY"):
        grok_realtime_token()
    monkeypatch.setenv("XAI_API_KEY", XAI_KEY)
    assert grok_realtime_token().url == "https://api.x.ai/v1/realtime/client_secrets"
    assert grok_realtime_token(expires_after=120, api_key="k").url.endswith("/client_secrets")
    with pytest.raises(ValueError, match="disagree"):
        grok_realtime_token(300, expires_after=120, api_key="k")
    for bad in (0, 3601, True, 1.5):
        with pytest.raises(ValueError):
            grok_realtime_token(bad)
    with pytest.raises(ValueError):
        grok_realtime_token(base_url="http://api.x.ai/v1")


def test_azure_token_mints_for_a_deployment_with_the_api_key() -> None:
    """POST /openai/v1/realtime/client_secrets with the api-key header; the secret connects."""
    with FakeRealtimeServer(provider="azure", api_key=AZURE_KEY) as server:
        source = azure_openai_realtime_token(endpoint=server.base_url, deployment="my-rt", api_key=AZURE_KEY,
                                             session_config={"instructions": "Be brief."})
        token = source()
        assert token.provider == "azure" and token.config.model == "my-rt" and token.token.startswith("ek_")
        (request,) = server.http_requests
        assert request.path == "/openai/v1/realtime/client_secrets"
        assert request.header("api-key") == "<redacted>"
        assert json.loads(request.body) == {"session": {"type": "realtime", "model": "my-rt",
                                                        "instructions": "Be brief."}}
        assert connect_and_ask(server, source) == "You said: token works?"
        assert server.connections[-1].path == "/openai/v1/realtime?model=my-rt"
        with pytest.raises(PermissionDeniedError):
            azure_openai_realtime_token(endpoint=server.base_url, deployment="my-rt", api_key="wrong")()


def test_azure_token_mints_with_an_entra_bearer_token() -> None:
    """azure_ad_token_provider sends Authorization: Bearer instead of a key."""
    with FakeRealtimeServer(provider="azure") as server:
        calls = []

        def provider() -> str:
            calls.append(1)
            return "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.x"

        token = azure_openai_realtime_token(endpoint=server.base_url, model="my-rt",
                                            azure_ad_token_provider=provider)()
        assert calls == [1] and token.provider == "azure"
        assert server.http_requests[0].header("Authorization") == "<redacted>"
        assert server.http_requests[0].header("api-key") is None


def test_azure_token_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Endpoint and key come from the environment; missing ones fail at once with their names."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="endpoint"):
        azure_openai_realtime_token(deployment="rt", api_key="k")
    with pytest.raises(PermissionDeniedError, match="AZURE_OPENAI_API_KEY"):
        azure_openai_realtime_token(endpoint="https://x.openai.azure.com", deployment="rt")
    with pytest.raises(ValueError, match="deployment"):
        azure_openai_realtime_token(endpoint="https://x.openai.azure.com", api_key="k")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com/")
    source = azure_openai_realtime_token(deployment="rt", api_key="k", expires_after=60)
    assert source.url == "https://x.openai.azure.com/openai/v1/realtime/client_secrets"
    with pytest.raises(ValueError):
        azure_openai_realtime_token(deployment="rt", api_key="k", expires_after=5)


def test_entra_tokens_from_a_credential_or_a_callable() -> None:
    """azure_entra_token reads expires_on from a credential, or the JWT's exp from a plain token."""
    class Access:
        token = "eyJ0eXAiOiJKV1QifQ.eyJleHAiOjE5MDAwMDAwMDB9.sig"
        expires_on = 1_900_000_123

    class Credential:
        def __init__(self) -> None:
            self.scopes = []

        def get_token(self, scope: str) -> Access:
            self.scopes.append(scope)
            return Access()

    credential = Credential()
    token = azure_entra_token(credential)()
    assert token.expires_at == 1_900_000_123 and credential.scopes == ["https://cognitiveservices.azure.com/.default"]
    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1_950_000_000}).encode()).decode().rstrip("=")
    plain = azure_entra_token(lambda: f"eyJhbGciOiJub25lIn0.{claims}.sig")()
    assert plain.expires_at == 1_950_000_000 and plain.provider == "azure"
    opaque = azure_entra_token(lambda: "opaque-token")()
    assert opaque.expires_at is not None and 250 < opaque.expires_at - time.time() <= 300
    assert "opaque" not in repr(azure_entra_token(lambda: "opaque-token"))
    with pytest.raises(PermissionDeniedError):
        azure_entra_token(lambda: "")()
    with pytest.raises(ConnectionFailedError):
        azure_entra_token(lambda: 1 / 0)()  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError):
        azure_entra_token("not a credential")


def test_the_api_key_token_never_expires_and_goes_in_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resource key is a token without expiry, sent as api-key; its repr hides it."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    source = azure_openai_api_key_token()
    token = source()
    assert token.token == AZURE_KEY and token.expires_at is None and AZURE_KEY not in repr(source)
    with FakeRealtimeServer(provider="azure", api_key=AZURE_KEY) as server:
        assert connect_and_ask(server, source, deployment="rt") == "You said: token works?"
        assert "api-key" not in server.connections[0].headers  # credentials are never recorded
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    with pytest.raises(PermissionDeniedError):
        azure_openai_api_key_token()


@pytest.mark.parametrize("provider", ["grok", "azure"])
def test_tanstack_token_json_is_accepted_for_grok_and_azure(provider: str) -> None:
    """RealtimeToken.from_dict reads TanStack's camelCase JSON for these providers."""
    expires_ms = (time.time() + 300) * 1000
    token = RealtimeToken.from_dict({"provider": provider, "token": "secret", "expiresAt": expires_ms,
                                     "config": {"model": "m"}})
    assert token.provider == provider and token.config.model == "m"
    assert token.expires_at == pytest.approx(expires_ms / 1000)
