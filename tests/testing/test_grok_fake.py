"""FakeRealtimeServer(provider="grok"): xAI's dialect, resumption, REST minting and the openai SDK as client.

Every frame the fake sends and receives is checked after each test: the xAI-only shapes against
tests/_xai_conformance.py (protocols.md §8.2), the shared events against the ``openai`` models.
"""

from __future__ import annotations

import base64
import threading
from typing import Any, Iterator, List

import numpy as np
import openai
import pytest
import requests

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import silence
from tests._xai_conformance import validate_grok_client_frame, validate_grok_server_frame


def check_grok_traffic(server: FakeRealtimeServer) -> None:
    for raw in list(server.sent):
        validate_grok_server_frame(raw)
    for frame in list(server.received):
        validate_grok_client_frame(frame)


@pytest.fixture
def grok() -> Iterator[FakeRealtimeServer]:
    """A started fake xAI server whose traffic is validated after the test."""
    with FakeRealtimeServer(provider="grok", provider_options={"ping_interval": 0.2}) as srv:
        yield srv
    check_grok_traffic(srv)
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []


def recv_until(conn: Any, type_: str) -> List[Any]:
    events = []
    while True:
        event = conn.recv()
        events.append(event)
        if event.type == type_:
            return events


def sdk(server: FakeRealtimeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.token().token)


def test_the_openai_sdk_completes_a_text_turn_against_the_grok_fake(grok: FakeRealtimeServer) -> None:
    """The official openai client, pointed at the fake, configures an xAI session and gets an answer."""
    with sdk(grok).realtime.connect(model="grok-voice-latest") as conn:
        assert {conn.recv().type, conn.recv().type} == {"conversation.created", "session.created"}
        conn.session.update(session={"instructions": "Be brief.", "voice": "ara", "turn_detection": None})
        updated = recv_until(conn, "session.updated")[-1]
        assert updated.session.instructions == "Be brief."
        conn.conversation.item.create(item={"type": "message", "role": "user",
                                            "content": [{"type": "input_text", "text": "Hello SDK"}]})
        conn.response.create()
        events = recv_until(conn, "response.done")
        transcript = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
        assert transcript == "You said: Hello SDK"
        assert events[-1].response.status == "completed"
    conn_info = grok.wait_for_connection()
    assert conn_info.path == "/v1/realtime?model=grok-voice-latest"
    assert conn_info.session["voice"] == "ara"


def test_the_sdk_hears_a_voice_turn_at_16_khz(grok: FakeRealtimeServer) -> None:
    """xAI takes PCM at other rates: 16 kHz speech is heard, and 16 kHz audio comes back."""
    grok.script(Reply.text("Nice to hear you."))
    with sdk(grok).realtime.connect(model="grok-voice-latest") as conn:
        conn.session.update(session={"audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 16000},
                      "transcription": {"model": "grok-transcribe"}},
            "output": {"format": {"type": "audio/pcm", "rate": 16000}}}})
        recv_until(conn, "session.updated")
        pcm = np.concatenate([silence(300, 16000), synthesize_speech(900, 16000, seed=4),
                              silence(800, 16000)])
        for i in range(0, len(pcm), 1600):
            conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + 1600].tobytes()).decode())
        events = recv_until(conn, "response.done")
        kinds = [e.type for e in events]
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("input_audio_buffer.committed")
        assert "conversation.item.input_audio_transcription.updated" in kinds
        audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
        duration_ms = len(audio) / 32  # 16 kHz PCM16: 32 bytes a millisecond
        assert 900 <= duration_ms <= 1200  # Reply.text's ~60 ms a character, at 16 kHz


def test_session_updates_are_validated_against_the_xai_schema() -> None:
    """An OpenAI-only field is refused with unknown_parameter, and nothing of the update applies."""
    with FakeRealtimeServer(provider="grok") as server:
        with sdk(server).realtime.connect(model="grok-voice-latest") as conn:
            bad = {"instructions": "x", "output_modalities": ["text"]}
            conn.session.update(session=bad)  # type: ignore[arg-type]
            error = recv_until(conn, "error")[-1]
            assert error.error.code == "unknown_parameter"
            assert error.error.param == "session.output_modalities"
        assert server.connections[0].session["instructions"] != "x"
        for raw in server.sent:  # what the fake sent is valid; what the test sent was not, on purpose
            validate_grok_server_frame(raw)


def test_pings_arrive_and_race_errors_carry_only_a_message(grok: FakeRealtimeServer) -> None:
    """The fake pings, and a cancel with nothing active answers with xAI's message and no code."""
    with sdk(grok).realtime.connect(model="grok-voice-latest") as conn:
        assert recv_until(conn, "ping")[-1].type == "ping"
        conn.response.cancel()
        error = recv_until(conn, "error")[-1]
        assert error.error.code is None and "no active response" in error.error.message


def test_resumption_replays_the_conversation_and_expiry_starts_anew() -> None:
    """A kept conversation is continued and its items replayed; an expired one gets a new id."""
    with FakeRealtimeServer(provider="grok", provider_options={"ping_interval": None}) as server:
        with sdk(server).realtime.connect(model="grok-voice-latest") as conn:
            conv_id = conn.recv().conversation.id
            conn.session.update(session={"resumption": {"enabled": True}, "turn_detection": None})
            recv_until(conn, "session.updated")
            conn.conversation.item.create(item={"type": "message", "role": "user",
                                                "content": [{"type": "input_text", "text": "remember me"}]})
            recv_until(conn, "conversation.item.done")
        extra = {"extra_query": {"conversation_id": conv_id}}
        with sdk(server).realtime.connect(model="grok-voice-latest", **extra) as conn:
            assert conn.recv().conversation.id == conv_id
            conn.session.update(session={"resumption": {"enabled": True}})
            replay = recv_until(conn, "conversation.item.done")
            assert replay[-1].item.content[0].text == "remember me"
        server.factory.expire_conversations()
        with sdk(server).realtime.connect(model="grok-voice-latest", **extra) as conn:
            assert conn.recv().conversation.id != conv_id
        check_grok_traffic(server)


def test_the_fake_mints_client_secrets_like_xai(grok: FakeRealtimeServer) -> None:
    """POST /v1/realtime/client_secrets takes only expires_after.seconds and returns top-level fields."""
    url = grok.base_url + "/v1/realtime/client_secrets"
    bearer = {"Authorization": "Bearer xai-k"}
    ok = requests.post(url, json={"expires_after": {"seconds": 300}}, headers=bearer, timeout=5)
    assert ok.status_code == 200 and set(ok.json()) == {"value", "expires_at"}
    for body in ({"session": {"model": "x"}}, {"expires_after": {"anchor": "created_at", "seconds": 60}},
                 {"expires_after": {"seconds": 7200}}):
        assert requests.post(url, json=body, headers=bearer, timeout=5).status_code == 400
    assert requests.post(url, json={}, timeout=5).status_code == 401
    assert requests.get(grok.base_url + "/v1/elsewhere", timeout=5).status_code == 404
    auth = [v for r in grok.http_requests for k, v in r.headers if k.lower() == "authorization"]
    assert auth and all(v == "<redacted>" for v in auth)


def test_unknown_provider_options_are_refused() -> None:
    """provider_options the grok peer does not know raise ValueError at construction."""
    with pytest.raises(ValueError, match="unknown grok provider_options"):
        FakeRealtimeServer(provider="grok", provider_options={"no_such_knob": 1})
    with pytest.raises(ValueError):
        FakeRealtimeServer(provider="grok", provider_options={"truncate": "maybe"})
    with pytest.raises(ValueError, match="openai"):
        FakeRealtimeServer(provider_options={"x": 1})
