"""FakeRealtimeServer(provider="azure"): Azure's paths and auth, minting, and the official openai clients.

Every frame the fake sends and receives validates against the ``openai`` GA models.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, List

import openai
import pytest
import requests
from openai.types.realtime import ClientSecretCreateResponse
from pydantic import TypeAdapter

from realtime_client.testing import FakeRealtimeServer
from tests.helpers import check_conformance

KEY = "azure-resource-key-0123456789abcdef"


@pytest.fixture
def azure() -> Iterator[FakeRealtimeServer]:
    """A started fake Azure server that accepts only KEY (or secrets it minted)."""
    with FakeRealtimeServer(provider="azure", api_key=KEY) as srv:
        yield srv
    check_conformance(srv)
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []


def recv_until(conn: Any, type_: str) -> List[Any]:
    events = []
    while True:
        event = conn.recv()
        events.append(event)
        if event.type == type_:
            return events


def text_turn(conn: Any, text: str) -> Any:
    assert conn.recv().type == "session.created"
    conn.conversation.item.create(item={"type": "message", "role": "user",
                                        "content": [{"type": "input_text", "text": text}]})
    conn.response.create(response={"output_modalities": ["text"]})
    return recv_until(conn, "response.done")[-1]


def test_the_openai_client_runs_a_text_turn_on_the_ga_path(azure: FakeRealtimeServer) -> None:
    """openai.OpenAI(base_url=.../openai/v1/) reaches /openai/v1/realtime?model=<deployment>."""
    client = openai.OpenAI(base_url=azure.base_url + "/openai/v1/", api_key=azure.token().token)
    with client.realtime.connect(model="my-realtime") as conn:
        done = text_turn(conn, "Hello Azure")
        assert done.response.output[0].content[0].text == "You said: Hello Azure"
    assert azure.connections[0].path == "/openai/v1/realtime?model=my-realtime"
    assert azure.connections[0].model == "my-realtime"


def test_the_azure_client_runs_a_text_turn_on_the_preview_path(azure: FakeRealtimeServer) -> None:
    """openai.AzureOpenAI(websocket_base_url=...) uses the preview path with the api-key header."""
    client = openai.AzureOpenAI(azure_endpoint=azure.base_url, api_key=KEY, api_version="2025-04-01-preview",
                                websocket_base_url=f"ws://127.0.0.1:{azure.port}/openai")
    with client.realtime.connect(model="my-realtime") as conn:
        done = text_turn(conn, "Preview")
        assert done.response.output[0].content[0].text == "You said: Preview"
    path = azure.connections[0].path
    assert path.startswith("/openai/realtime?")
    assert "deployment=my-realtime" in path and "api-version=" in path


def test_an_api_version_on_the_ga_path_and_a_wrong_key_are_refused(azure: FakeRealtimeServer) -> None:
    """Azure answers 401 to the GA path with api-version, and to an unknown key."""
    import websocket

    for url, headers in ((azure.url + "?model=rt&api-version=2025-04-01-preview", [f"api-key: {KEY}"]),
                         (azure.url + "?model=rt", ["api-key: wrong"])):
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            websocket.create_connection(url, header=headers, timeout=5)
        assert caught.value.status_code == 401
    ws = websocket.create_connection(azure.url + f"?model=rt&api-key={KEY}", timeout=5)
    ws.close()


def test_the_fake_mints_client_secrets_like_azure(azure: FakeRealtimeServer) -> None:
    """POST /openai/v1/realtime/client_secrets needs session.type and a deployment; the reply is GA's."""
    url = azure.base_url + "/openai/v1/realtime/client_secrets"
    ok = requests.post(url, json={"session": {"type": "realtime", "model": "my-realtime"}},
                       headers={"api-key": KEY}, timeout=5)
    assert ok.status_code == 200
    reply = TypeAdapter(ClientSecretCreateResponse).validate_python(ok.json())
    assert reply.session.model == "my-realtime" and reply.value
    untyped = requests.post(url, json={"session": {"model": "x"}}, headers={"api-key": KEY}, timeout=5)
    assert untyped.status_code == 400
    assert requests.post(url, json={"session": {"type": "realtime", "model": "x"}}, headers={"api-key": "no"},
                         timeout=5).status_code == 401
    # the secret opens a session
    client = openai.OpenAI(base_url=azure.base_url + "/openai/v1/", api_key=reply.value)
    with client.realtime.connect(model="my-realtime") as conn:
        assert conn.recv().type == "session.created"


def test_the_session_cap_closes_with_azure_s_reason() -> None:
    """max_session_seconds closes with 1001 and the 30-minute text."""
    import websocket

    with FakeRealtimeServer(provider="azure", max_session_seconds=0.3) as server:
        ws = websocket.create_connection(server.url + "?model=rt", header=["api-key: k"], timeout=5)
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            while True:
                ws.recv()
        conn = server.wait_for_connection()
        assert conn.close_code == 1001 and "30 minutes" in (conn.close_reason or "")
