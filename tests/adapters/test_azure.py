"""The Azure OpenAI provider: URLs, auth, deployments and the session cap (the protocol is OpenAI's)."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any, Dict

import pytest

from realtime_client._events import Ready
from realtime_client._intents import Interrupt, UserMessage
from realtime_client._models import RealtimeToken, SessionConfig, TextPart, VADConfig
from realtime_client._provider import Adapter, ProviderSession
from realtime_client.adapters import ADAPTERS, azure_openai_realtime
from tests._conformance import validate_client_frame

ENDPOINT = "https://contoso.openai.azure.com"
KEY = RealtimeToken(provider="azure", token="0123456789abcdef0123456789abcdef")
SECRET = RealtimeToken(provider="azure", token="ek_abc123", expires_at=time.time() + 600)
JWT = RealtimeToken(provider="azure", token="eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln")


def test_azure_is_registered_and_is_an_adapter() -> None:
    """azure_openai_realtime is in ADAPTERS, builds ProviderSessions and reports 'azure'."""
    adapter = ADAPTERS["azure"](endpoint=ENDPOINT, deployment="gpt-realtime")
    assert isinstance(adapter, Adapter) and adapter.provider == "azure"
    session = adapter.new_session()
    assert isinstance(session, ProviderSession)
    assert session.info.provider == "azure" and session.info.session_cap == 1800.0
    assert session.info.transcribes_input is False  # a transcription deployment must be named


def test_the_ga_url_has_the_deployment_and_no_api_version() -> None:
    """The GA endpoint is /openai/v1/realtime?model=<deployment>; an api-version there gives 401."""
    request = azure_openai_realtime(endpoint=ENDPOINT, deployment="rt").new_session().connection_request(
        KEY, SessionConfig(), None)
    assert request.url == "wss://contoso.openai.azure.com/openai/v1/realtime?model=rt"
    assert "api-version" not in request.url


def test_api_version_selects_the_preview_url() -> None:
    """With api_version the deprecated preview path and its query are used."""
    adapter = azure_openai_realtime(endpoint=ENDPOINT + "/openai/v1/", deployment="rt",
                                    api_version="2025-04-01-preview")
    request = adapter.new_session().connection_request(KEY, SessionConfig(), None)
    assert request.url == ("wss://contoso.openai.azure.com/openai/realtime?api-version=2025-04-01-preview"
                           "&deployment=rt")


def test_endpoint_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURE_OPENAI_ENDPOINT is read when endpoint= is not given; no endpoint at all is an error."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://fabrikam.openai.azure.com/")
    assert azure_openai_realtime(deployment="rt").url == "wss://fabrikam.openai.azure.com/openai/v1/realtime"
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    with pytest.raises(ValueError, match="endpoint"):
        azure_openai_realtime(deployment="rt")


@pytest.mark.parametrize("kwargs", [
    {"endpoint": "http://contoso.openai.azure.com", "deployment": "rt"},
    {"endpoint": ENDPOINT, "deployment": "a", "model": "b"},
    {"endpoint": ENDPOINT, "auth": "cookie"},
    {"endpoint": ENDPOINT, "input_transcription": True},
    {"endpoint": ENDPOINT, "session_cap": -1},
    {"url": "ws://contoso.openai.azure.com/openai/v1/realtime"},
])
def test_bad_options_raise(kwargs: Dict[str, Any]) -> None:
    """Plain http/ws to a remote host, conflicting names and unknown modes are refused."""
    with pytest.raises((ValueError, TypeError)):
        azure_openai_realtime(**kwargs)


def test_auth_auto_sends_keys_as_api_key_and_expiring_tokens_as_bearer() -> None:
    """A key that never expires goes in api-key; ek_ secrets, JWTs and expiring tokens are Bearer."""
    session = azure_openai_realtime(endpoint=ENDPOINT, deployment="rt").new_session()
    assert session.connection_request(KEY, SessionConfig(), None).headers == {"api-key": KEY.token}
    for token in (SECRET, JWT, RealtimeToken(provider="azure", token="opaque", expires_at=time.time() + 60)):
        headers = session.connection_request(token, SessionConfig(), None).headers
        assert headers == {"Authorization": f"Bearer {token.token}"}
    forced = azure_openai_realtime(endpoint=ENDPOINT, deployment="rt", auth="api-key").new_session()
    assert forced.connection_request(SECRET, SessionConfig(), None).headers == {"api-key": SECRET.token}
    assert KEY.token not in repr(session.connection_request(KEY, SessionConfig(), None))


def test_the_deployment_falls_back_to_config_then_token() -> None:
    """Without deployment=, SessionConfig.model then the token's model name the deployment."""
    session = azure_openai_realtime(url="ws://127.0.0.1:9/openai/v1/realtime").new_session()
    token = RealtimeToken(provider="azure", token="k", config=SessionConfig(model="from-token"))
    assert session.connection_request(token, SessionConfig(), None).url.endswith("?model=from-token")
    assert session.connection_request(token, SessionConfig(model="cfg"), None).url.endswith("?model=cfg")
    with pytest.raises(ValueError, match="deployment"):
        session.connection_request(KEY, SessionConfig(), None)


def test_check_config_follows_ga_rules_and_deployment_names() -> None:
    """GA's refusals hold; model= must match the deployment; no-effect warnings reach the caller."""
    adapter = azure_openai_realtime(endpoint=ENDPOINT, deployment="rt")
    with pytest.raises(ValueError, match="temperature"):
        adapter.check_config(SessionConfig(temperature=0.5))
    with pytest.raises(ValueError, match="deployment"):
        adapter.check_config(SessionConfig(model="other"))
    adapter.check_config(SessionConfig(model="rt"))
    from realtime_client import RealtimeClient

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = RealtimeClient(get_token=lambda: KEY, adapter=adapter, vad_mode="manual",
                                vad_config=VADConfig(threshold=0.3), auto_capture=False, auto_playback=False)
    client.destroy()
    assert len(caught) == 1 and caught[0].filename == __file__  # the caller's line


def test_the_protocol_is_openai_ga_with_a_transcription_deployment() -> None:
    """The handshake and intents are OpenAI's; transcription names the given deployment."""
    session = azure_openai_realtime(endpoint=ENDPOINT, deployment="rt",
                                    input_transcription="whisper-deploy").new_session()
    assert session.info.transcribes_input is True
    session.start(SessionConfig(instructions="Hi"), None)
    created = {"type": "session.created", "event_id": "e1", "session": {"type": "realtime"}}
    (update,) = session.receive(json.dumps(created)).replies
    validate_client_frame(update)
    assert update["session"]["audio"]["input"]["transcription"] == {"model": "whisper-deploy"}
    (ready,) = session.receive(json.dumps({"type": "session.updated", "event_id": "e2",
                                           "session": {"type": "realtime"}})).events
    assert isinstance(ready, Ready)
    frames = session.send(UserMessage("m1", (TextPart("hi"),))) + session.send(Interrupt("r1", "i1", 100.0))
    for f in frames:
        validate_client_frame(f)
    assert [f["type"] for f in frames] == ["conversation.item.create", "response.cancel",
                                           "conversation.item.truncate"]
    assert session.classify_close(1001, "cap", None).go_away
    assert session.resume_state().replay is True
