"""The official openai SDK's realtime client talks to FakeRealtimeServer, and every frame validates."""

from __future__ import annotations

import base64
import threading
from typing import Iterator, List

import numpy as np
import openai
import pytest

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import silence
from tests._conformance import validate_client_frame, validate_server_frame


@pytest.fixture
def server() -> Iterator[FakeRealtimeServer]:
    """A started server whose every sent frame is validated after the test."""
    with FakeRealtimeServer() as srv:
        yield srv
    for frame in srv.sent:
        validate_server_frame(frame)
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []


def _recv_until(conn: object, type_: str) -> List[object]:
    events = []
    while True:
        event = conn.recv()  # type: ignore[attr-defined]
        events.append(event)
        if event.type == type_:
            return events


def test_openai_sdk_completes_a_text_turn(server: FakeRealtimeServer) -> None:
    """The sync SDK client gets session.created, updates the session and completes a text turn."""
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.token().token)
    with client.realtime.connect(model="gpt-realtime") as conn:
        assert conn.recv().type == "session.created"
        conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}
        )
        updated = _recv_until(conn, "session.updated")[-1]
        assert updated.session.output_modalities == ["text"]
        conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello SDK"}]}
        )
        conn.response.create()
        events = _recv_until(conn, "response.done")
        done = events[-1]
        assert done.response.status == "completed"
        assert done.response.output[0].content[0].text == "You said: Hello SDK"
        assert done.response.usage.total_tokens > 0
    assert server.wait_for_connection().headers.get("User-Agent", "").startswith("OpenAI/Python")
    for frame in server.received:
        validate_client_frame(frame)


def test_openai_sdk_voice_turn_and_audio_reply(server: FakeRealtimeServer) -> None:
    """Audio appended through the SDK triggers server VAD and a spoken reply the SDK parses."""
    server.script(Reply.text("Nice to hear you."))
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x")
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.recv()
        pcm = np.concatenate([silence(300), synthesize_speech(800, seed=9), silence(700)])
        for i in range(0, len(pcm), 2400):
            conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i : i + 2400].tobytes()).decode())
        events = _recv_until(conn, "response.done")
        kinds = [e.type for e in events]
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("input_audio_buffer.committed")
        audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
        assert len(audio) > 0 and len(audio) % 2 == 0
        assert events[-1].response.output[0].content[0].transcript == "Nice to hear you."


def test_openai_sdk_connects_over_tls_to_the_fake() -> None:
    """With tls=True the sync SDK reaches wss:// through an ssl context trusting the fake's CA."""
    with FakeRealtimeServer(tls=True) as tls_server:
        server_ca = tls_server.ca_file
        assert tls_server.url.startswith("wss://") and tls_server.base_url.startswith("https://")
        client = openai.OpenAI(base_url=tls_server.base_url + "/v1", api_key=tls_server.token().token)
        options = {"ssl": tls_server.ssl_context()}
        with client.realtime.connect(model="gpt-realtime", websocket_connection_options=options) as conn:
            assert conn.recv().type == "session.created"
            text = {"type": "input_text", "text": "Secure"}
            conn.conversation.item.create(item={"type": "message", "role": "user", "content": [text]})
            conn.response.create(response={"output_modalities": ["text"]})
            done = _recv_until(conn, "response.done")[-1]
            assert done.response.output[0].content[0].text == "You said: Secure"
    assert server_ca is not None
    for frame in tls_server.sent:
        validate_server_frame(frame)
    for frame in tls_server.received:
        validate_client_frame(frame)
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []


def test_openai_sdk_gets_every_tls_upgrade_answered() -> None:
    """150 back-to-back wss connects of the sync SDK each get their HTTP 101 upgrade answer.

    The fake used to send TLS 1.3 session tickets. A ticket reaching websockets' reader thread
    while the SDK's thread wrote its upgrade request could make OpenSSL drop the request, and
    a few connects in a hundred then waited out their open timeout for an answer.
    """
    with FakeRealtimeServer(tls=True) as tls_server:
        client = openai.OpenAI(base_url=tls_server.base_url + "/v1", api_key=tls_server.token().token)
        context = tls_server.ssl_context()
        for attempt in range(1, 151):
            manager = client.realtime.connect(
                model="gpt-realtime", websocket_connection_options={"ssl": context, "open_timeout": 5})
            try:
                with manager as conn:
                    assert conn.recv().type == "session.created"
            except TimeoutError:
                pytest.fail(f"connect {attempt} waited out its open timeout for the upgrade answer")
    assert len(tls_server.connections) == 150
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []
