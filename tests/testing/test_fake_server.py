"""FakeRealtimeServer driven over real loopback WebSockets with raw JSON (websocket-client)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import numpy as np
import pytest
import websocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from realtime_client.testing import SESSION_LIMIT_REASON, FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import silence
from tests._conformance import validate_server_frame


def _fake_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("realtime-")]


@pytest.fixture
def make_server() -> Iterator[Any]:
    """Start servers with chosen knobs; stop them, check every frame they sent, and check no thread leaked."""
    servers: List[FakeRealtimeServer] = []

    def make(**knobs: Any) -> FakeRealtimeServer:
        server = FakeRealtimeServer(**knobs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
        for frame in server.sent:
            validate_server_frame(frame)
    assert _fake_threads() == []


@pytest.fixture
def server(make_server: Any) -> FakeRealtimeServer:
    """A fast-paced server accepting any bearer token."""
    return make_server()


class Client:
    """A raw JSON client on websocket-client that has read ``session.created``."""

    def __init__(
        self, server: FakeRealtimeServer, token: str = "test-key", model: str = "gpt-realtime"
    ) -> None:
        self.ws = websocket.create_connection(
            f"{server.url}?model={model}", header=[f"Authorization: Bearer {token}"], timeout=5
        )
        self.created = self.recv()

    def send(self, type_: str, **fields: Any) -> None:
        self.ws.send(json.dumps({"type": type_, **fields}))

    def recv(self) -> Dict[str, Any]:
        return json.loads(self.ws.recv())

    def until(self, type_: str) -> List[Dict[str, Any]]:
        frames = []
        while True:
            frames.append(self.recv())
            if frames[-1]["type"] == type_:
                return frames

    def append(self, samples: np.ndarray, chunk_ms: int = 100) -> None:
        step = 24 * chunk_ms
        for i in range(0, len(samples), step):
            self.send(
                "input_audio_buffer.append", audio=base64.b64encode(samples[i : i + step].tobytes()).decode()
            )

    def text_turn(self, text: str) -> List[Dict[str, Any]]:
        self.send(
            "conversation.item.create",
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        )
        self.send("response.create")
        return self.until("response.done")

    def close(self) -> None:
        self.ws.close()


def _types(frames: List[Dict[str, Any]]) -> List[str]:
    return [f["type"] for f in frames]


def _status(server: FakeRealtimeServer, **kwargs: Any) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(server.url + "?model=gpt-realtime", timeout=5, **kwargs)
    return info.value


# --- handshake ------------------------------------------------------------------------------------


def test_handshake_without_token_is_refused_with_json_401(server: FakeRealtimeServer) -> None:
    """A handshake without credentials gets HTTP 401 with an OpenAI-style JSON error body."""
    exc = _status(server)
    assert exc.status_code == 401
    assert json.loads(exc.resp_body)["error"]["type"] == "invalid_request_error"


def test_handshake_checks_api_key_and_minted_tokens(make_server: Any) -> None:
    """With api_key set only that key or an unexpired minted token opens a session."""
    server = make_server(api_key="sk-right")
    assert _status(server, header=["Authorization: Bearer sk-wrong"]).status_code == 401
    Client(server, token="sk-right").close()
    token = server.token()
    assert token.provider == "openai" and not token.expired
    Client(server, token=token.token).close()
    Client(server, token=server.get_token().token).close()
    expired = _status(server, header=[f"Authorization: Bearer {server.token(ttl=-1).token}"])
    assert expired.status_code == 401
    assert json.loads(expired.resp_body)["error"]["code"] == "token_expired"


def test_handshake_accepts_subprotocol_credentials(server: FakeRealtimeServer) -> None:
    """The browser-style subprotocol credential is accepted and ``realtime`` is selected."""
    ws = websocket.create_connection(
        server.url + "?model=gpt-realtime",
        timeout=5,
        subprotocols=["realtime", f"openai-insecure-api-key.{server.token().token}"],
    )
    assert ws.getsubprotocol() == "realtime"
    assert json.loads(ws.recv())["type"] == "session.created"
    ws.close()


def test_wrong_path_gets_404(server: FakeRealtimeServer) -> None:
    """Only /v1/realtime is served."""
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            server.url.replace("/v1/realtime", "/v1/other"), header=["Authorization: Bearer x"], timeout=5
        )
    assert info.value.status_code == 404


def test_reject_next_handshakes_answers_given_statuses(server: FakeRealtimeServer) -> None:
    """The next handshakes get the queued HTTP statuses, then handshakes succeed again."""
    server.reject_next_handshakes(1, status=401)
    server.reject_next_handshakes(1, status=500)
    auth = ["Authorization: Bearer x"]
    assert _status(server, header=auth).status_code == 401
    assert _status(server, header=auth).status_code == 500
    Client(server).close()


def test_session_created_reports_full_default_session_and_model(server: FakeRealtimeServer) -> None:
    """The first frame is session.created with the complete GA default session and the URL's model."""
    client = Client(server, model="gpt-realtime-mini")
    session = client.created["session"]
    assert client.created["type"] == "session.created"
    assert session["model"] == "gpt-realtime-mini"
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert server.wait_for_connection().model == "gpt-realtime-mini"
    client.close()


# --- session.update -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session, param",
    [
        ({"type": "realtime", "temperature": 0.8}, "session.temperature"),
        ({"type": "realtime", "foo": 1}, "session.foo"),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "foo": 1}}}},
            "session.audio.input.turn_detection.foo",
        ),
        ({"type": "realtime", "modalities": ["text"]}, "session.modalities"),
    ],
)
def test_session_update_rejects_unknown_parameters(
    server: FakeRealtimeServer, session: Dict[str, Any], param: str
) -> None:
    """An unknown key anywhere rejects the whole update with unknown_parameter and applies nothing."""
    client = Client(server)
    before = server.wait_for_connection().session
    client.send("session.update", event_id="evt_1", session={**session, "instructions": "changed"})
    error = client.recv()["error"]
    assert error == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "param": param,
        "message": f"Unknown parameter: '{param}'.",
        "event_id": "evt_1",
    }
    assert server.wait_for_connection().session == before
    client.close()


@pytest.mark.parametrize(
    "session, code",
    [
        ({"instructions": "x"}, "missing_required_parameter"),
        ({"type": "realtime", "output_modalities": ["audio", "text"]}, "invalid_value"),
        ({"type": "realtime", "audio": {"output": {"voice": "robot"}}}, "invalid_value"),
        ({"type": "realtime", "max_output_tokens": 5000}, "invalid_value"),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "invalid_value",
        ),
        ({"type": "realtime", "instructions": 5}, "invalid_type"),
    ],
)
def test_session_update_rejects_bad_values(
    server: FakeRealtimeServer, session: Dict[str, Any], code: str
) -> None:
    """A missing type or a bad value is rejected with the matching error code."""
    client = Client(server)
    client.send("session.update", session=session)
    assert client.recv()["error"]["code"] == code
    client.close()


def test_session_update_merges_and_returns_full_session(server: FakeRealtimeServer) -> None:
    """A valid update deep-merges (null clears) and session.updated carries the full session."""
    client = Client(server)
    client.send(
        "session.update",
        event_id="evt_2",
        session={
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["text"],
            "audio": {
                "input": {"turn_detection": None, "transcription": {"model": "whisper-1"}},
                "output": {"voice": "cedar"},
            },
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {}},
                }
            ],
            "tool_choice": "required",
            "max_output_tokens": 200,
        },
    )
    updated = client.recv()
    session = updated["session"]
    assert updated["type"] == "session.updated" and updated["event_id"] != "evt_2"
    assert session["instructions"] == "Be brief." and session["output_modalities"] == ["text"]
    assert session["audio"]["input"]["turn_detection"] is None
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "cedar",
        "speed": 1.0,
    }
    assert session["tools"][0]["name"] == "get_weather" and session["max_output_tokens"] == 200
    client.send(
        "session.update",
        session={
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}},
        },
    )
    td = client.recv()["session"]["audio"]["input"]["turn_detection"]
    assert td == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    client.close()


def test_voice_cannot_change_after_audio(server: FakeRealtimeServer) -> None:
    """Once assistant audio exists a voice change is refused with cannot_update_voice."""
    client = Client(server)
    client.text_turn("hi")
    client.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "ash"}}})
    assert client.until("error")[-1]["error"]["code"] == "cannot_update_voice"
    client.close()


# --- turns ----------------------------------------------------------------------------------------


def test_text_turn_in_text_modality_follows_sequence_b(server: FakeRealtimeServer) -> None:
    """A text turn in text modality streams output_text deltas in the documented order."""
    client = Client(server)
    client.send("session.update", session={"type": "realtime", "output_modalities": ["text"]})
    client.recv()
    frames = client.text_turn("What is two plus two?")
    kinds = [t for t in _types(frames) if t != "response.output_text.delta"]
    assert kinds == [
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    text = "".join(f["delta"] for f in frames if f["type"] == "response.output_text.delta")
    assert text == "You said: What is two plus two?"
    done = frames[-1]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"] > 0
    assert client.recv()["type"] == "rate_limits.updated"
    client.close()


def test_audio_turn_streams_pcm16_with_interleaved_transcript(server: FakeRealtimeServer) -> None:
    """A scripted audio reply streams valid PCM16 deltas interleaved with transcript deltas."""
    server.script(Reply.text("Sure, the weather in Oslo is mild."))
    client = Client(server)
    frames = client.text_turn("weather?")
    deltas = [f for f in frames if f["type"] == "response.output_audio.delta"]
    pcm = b"".join(base64.b64decode(f["delta"]) for f in deltas)
    samples = np.frombuffer(pcm, dtype="<i2")
    transcript = "Sure, the weather in Oslo is mild."
    assert len(pcm) % 2 == 0 and len(deltas) > 5 and np.abs(samples).max() > 1000
    assert abs(len(pcm) / 48 - 60 * len(transcript)) <= 100
    assert (
        "".join(f["delta"] for f in frames if f["type"] == "response.output_audio_transcript.delta")
        == transcript
    )
    first_transcript = _types(frames).index("response.output_audio_transcript.delta")
    assert first_transcript < _types(frames).index("response.output_audio.delta", first_transcript)
    assert frames[-1]["response"]["output"][0]["content"] == [
        {"type": "output_audio", "transcript": transcript}
    ]
    assert frames[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    client.close()


def test_tool_call_turn_and_tool_result_reply(server: FakeRealtimeServer) -> None:
    """A scripted tool call follows sequence C and the tool output drives the next default reply."""
    server.script(Reply.tool_call("get_weather", {"city": "Oslo"}, call_id="call_42"))
    client = Client(server)
    frames = client.text_turn("weather in Oslo?")
    args_done = next(f for f in frames if f["type"] == "response.function_call_arguments.done")
    assert args_done["call_id"] == "call_42" and args_done["name"] == "get_weather"
    assert json.loads(args_done["arguments"]) == {"city": "Oslo"}
    deltas = "".join(f["delta"] for f in frames if f["type"] == "response.function_call_arguments.delta")
    assert deltas == args_done["arguments"]
    assert frames[-1]["response"]["output"][0]["type"] == "function_call"
    client.send(
        "conversation.item.create",
        item={"type": "function_call_output", "call_id": "call_42", "output": '{"temp": 3}'},
    )
    client.send("response.create")
    frames = client.until("response.done")
    assert frames[-1]["response"]["output"][0]["content"][0]["transcript"] == 'The tool returned: {"temp": 3}'
    client.close()


def test_cancel_mid_stream_sends_partial_done_events(make_server: Any) -> None:
    """response.cancel during a real-time paced reply ends it as cancelled with partial content."""
    server = make_server(pacing="realtime")
    server.script(Reply.audio("one two three four five six seven eight nine ten", duration_ms=4000))
    client = Client(server)
    client.send("response.create")
    frames = client.until("response.output_audio.delta")
    client.send("response.cancel")
    frames += client.until("response.done")
    done = frames[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    partial = next(f for f in frames if f["type"] == "response.output_audio_transcript.done")["transcript"]
    assert len(partial) < len("one two three four five six seven eight nine ten")
    audio_ms = sum(
        len(base64.b64decode(f["delta"])) for f in frames if f["type"] == "response.output_audio.delta"
    )
    assert audio_ms / 48 < 4000
    client.close()


def test_cancel_without_active_response_is_an_error(server: FakeRealtimeServer) -> None:
    """response.cancel with nothing active answers response_cancel_not_active."""
    client = Client(server)
    client.send("response.cancel", event_id="evt_c")
    error = client.recv()["error"]
    assert error["code"] == "response_cancel_not_active" and error["event_id"] == "evt_c"
    client.close()


def test_second_response_create_while_active_is_refused(make_server: Any) -> None:
    """A second response.create during an active response gets conversation_already_has_active_response."""
    server = make_server(pacing="realtime")
    server.script(Reply.audio("long answer", duration_ms=3000))
    client = Client(server)
    client.send("response.create")
    created = client.until("response.created")[-1]
    client.send("response.create")
    frames = client.until("error")
    assert frames[-1]["error"]["code"] == "conversation_already_has_active_response"
    assert created["response"]["id"] in frames[-1]["error"]["message"]
    client.send("response.cancel")
    client.until("response.done")
    client.close()


def test_truncate_trims_audio_and_rejects_bad_requests(server: FakeRealtimeServer) -> None:
    """Truncate succeeds within the audio, and errors beyond it, for unknown items and for user items."""
    server.script(Reply.audio("hello there", duration_ms=1000))
    client = Client(server)
    frames = client.text_turn("hi")
    user_id = frames[0]["item"]["id"]
    item_id = frames[-1]["response"]["output"][0]["id"]
    client.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=5000)
    assert "shorter" in client.until("error")[-1]["error"]["message"]
    for bad in ("item_missing", user_id):
        client.send("conversation.item.truncate", item_id=bad, content_index=0, audio_end_ms=10)
        assert client.until("error")[-1]["error"]["type"] == "invalid_request_error"
    client.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=400)
    truncated = client.until("conversation.item.truncated")[-1]
    assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (item_id, 0, 400)
    client.send("conversation.item.retrieve", item_id=item_id)
    part = client.until("conversation.item.retrieved")[-1]["item"]["content"][0]
    assert len(base64.b64decode(part["audio"])) == 400 * 48 and part["transcript"] == ""
    client.close()


def test_items_create_retrieve_delete(server: FakeRealtimeServer) -> None:
    """Items can be inserted at root, retrieved and deleted; unknown ids are errors."""
    client = Client(server)
    client.send(
        "conversation.item.create",
        item={
            "id": "item_a",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "a"}],
        },
    )
    client.until("conversation.item.done")
    client.send(
        "conversation.item.create",
        previous_item_id="root",
        item={
            "id": "item_b",
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "b"}],
        },
    )
    assert client.until("conversation.item.added")[-1]["previous_item_id"] is None
    assert [i["id"] for i in server.wait_for_connection().items] == ["item_b", "item_a"]
    client.send(
        "conversation.item.create",
        previous_item_id="nope",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "c"}]},
    )
    assert client.until("error")[-1]["error"]["param"] == "previous_item_id"
    client.send(
        "conversation.item.create",
        item={
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x", "bogus": 1}],
        },
    )
    assert client.until("error")[-1]["error"]["param"] == "item.content[0].bogus"
    client.send("conversation.item.retrieve", item_id="item_a")
    assert client.until("conversation.item.retrieved")[-1]["item"]["content"][0]["text"] == "a"
    client.send("conversation.item.delete", item_id="item_a")
    assert client.until("conversation.item.deleted")[-1]["item_id"] == "item_a"
    client.send("conversation.item.delete", item_id="item_a")
    assert client.until("error")[-1]["error"]["code"] == "item_not_found"
    client.close()


def test_bad_frames_get_error_events(server: FakeRealtimeServer) -> None:
    """Invalid JSON, unknown types, unknown keys and bad base64 each get an error; the session goes on."""
    client = Client(server)
    client.ws.send("{not json")
    assert client.recv()["error"]["code"] == "invalid_json"
    client.send("session.nope")
    assert client.recv()["error"]["param"] == "type"
    client.send("response.cancel", extra=1)
    assert client.recv()["error"]["code"] == "unknown_parameter"
    client.send("input_audio_buffer.append", audio="***")
    assert client.recv()["error"]["param"] == "audio"
    client.close()


def test_max_output_tokens_cuts_reply_as_incomplete(server: FakeRealtimeServer) -> None:
    """A tiny max_output_tokens ends the reply with status incomplete and reason max_output_tokens."""
    client = Client(server)
    client.send("response.create", response={"max_output_tokens": 3, "output_modalities": ["text"]})
    done = client.until("response.done")[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    client.close()


def test_scripted_error_reply_and_metadata_check(server: FakeRealtimeServer) -> None:
    """Reply.error answers response.create with an error event; non-string metadata is refused."""
    server.script(Reply.error("rate_limit_exceeded", "Slow down."))
    client = Client(server)
    client.send("response.create", event_id="evt_r")
    error = client.recv()["error"]
    assert (error["code"], error["message"]) == ("rate_limit_exceeded", "Slow down.")
    assert error["event_id"] == "evt_r"
    client.send("response.create", response={"metadata": {"n": 1}})
    assert client.recv()["error"]["param"] == "response.metadata"
    client.close()


def test_out_of_band_response_runs_beside_default_one(make_server: Any) -> None:
    """A conversation:"none" response may run while a default one is active and writes no items."""
    server = make_server(pacing="realtime")
    server.script(Reply.audio("default answer", duration_ms=2000), Reply.text("side note"))
    client = Client(server)
    client.send("response.create")
    client.until("response.created")
    client.send(
        "response.create",
        response={"conversation": "none", "output_modalities": ["text"], "metadata": {"topic": "x"}},
    )
    created = client.until("response.created")[-1]["response"]
    assert created["conversation_id"] is None and created["metadata"] == {"topic": "x"}
    frames = client.until("response.done")
    assert frames[-1]["response"]["id"] == created["id"]
    assert "conversation.item.added" not in _types(frames)
    client.send("response.cancel")
    client.until("response.done")
    assert [i["role"] for i in server.wait_for_connection().items] == ["assistant"]
    client.close()


def test_g711_output_format(server: FakeRealtimeServer) -> None:
    """With audio/pcmu output the deltas carry 8 bytes per millisecond."""
    server.script(Reply.audio("hi", duration_ms=500))
    client = Client(server)
    client.send(
        "session.update",
        session={"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}},
    )
    assert client.recv()["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    client.send("response.create")
    frames = client.until("response.done")
    audio = b"".join(
        base64.b64decode(f["delta"]) for f in frames if f["type"] == "response.output_audio.delta"
    )
    assert len(audio) == 500 * 8
    client.close()


# --- scripted outcomes the client team needs (protocols.md §8.1) -----------------------------------


def test_failed_reply_reports_rate_limit_in_response_done(server: FakeRealtimeServer) -> None:
    """Reply.failed sends response.created then response.done failed, with no output and the error."""
    server.script(Reply.failed(code="rate_limit_exceeded", message="Rate limit reached."))
    client = Client(server)
    frames = client.text_turn("hi")
    kinds = _types(frames)
    assert kinds[kinds.index("response.created") :] == ["response.created", "response.done"]
    done = frames[-1]["response"]
    assert done["status"] == "failed" and done["output"] == []
    assert done["status_details"] == {
        "type": "failed",
        "error": {"type": "tokens", "code": "rate_limit_exceeded", "message": "Rate limit reached."},
    }
    assert client.recv()["type"] == "rate_limits.updated"
    assert client.text_turn("again")[-1]["response"]["status"] == "completed"
    client.close()


def test_error_reply_rejects_response_create_naming_the_client_event(server: FakeRealtimeServer) -> None:
    """Reply.error answers response.create with an error whose event_id is the client's, and no response."""
    server.script(Reply.error("rate_limit_exceeded", "Too many requests.", error_type="tokens"))
    client = Client(server)
    client.send("response.create", event_id="evt_client_7")
    error = client.recv()
    assert error["type"] == "error"
    assert error["error"] == {"type": "tokens", "code": "rate_limit_exceeded",
                              "message": "Too many requests.", "param": None, "event_id": "evt_client_7"}
    client.send("input_audio_buffer.clear")
    assert client.recv()["type"] == "input_audio_buffer.cleared"
    assert "response.created" not in [json.loads(f)["type"] for f in server.sent]
    client.close()


def test_reply_max_output_tokens_cuts_off_with_partial_text(server: FakeRealtimeServer) -> None:
    """A Reply's max_output_tokens ends the response incomplete (max_output_tokens) with partial text."""
    full = "one two three four five six seven eight nine ten eleven twelve"
    server.script(Reply.text(full, max_output_tokens=4))
    client = Client(server)
    client.send("session.update", session={"type": "realtime", "output_modalities": ["text"]})
    client.recv()
    frames = client.text_turn("count")
    done = frames[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["max_output_tokens"] == 4
    text = done["output"][0]["content"][0]["text"]
    assert text and full.startswith(text) and text != full
    assert done["output"][0]["status"] == "incomplete"
    client.close()


def test_session_max_output_tokens_cuts_off_the_default_reply(server: FakeRealtimeServer) -> None:
    """A small session max_output_tokens cuts replies off the same way."""
    client = Client(server)
    client.send("session.update", session={"type": "realtime", "max_output_tokens": 3,
                                           "output_modalities": ["text"]})
    assert client.recv()["session"]["max_output_tokens"] == 3
    done = client.text_turn("a rather long question to repeat back")[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("incomplete", "max_output_tokens")
    assert done["output"][0]["content"][0]["text"].startswith("You said")
    client.close()


def test_sequence_reply_streams_a_message_then_a_function_call(server: FakeRealtimeServer) -> None:
    """Reply.sequence puts a spoken message and a function call into one response, in order."""
    server.script(Reply.sequence(Reply.audio("Let me check.", duration_ms=400),
                                 Reply.tool_call("get_weather", {"city": "Paris"}, call_id="call_w1")))
    client = Client(server)
    frames = client.text_turn("weather in Paris?")
    kinds = _types(frames)
    assert kinds.count("response.created") == 1 and kinds.count("response.output_item.added") == 2
    added = [f for f in frames if f["type"] == "response.output_item.added"]
    assert [(f["output_index"], f["item"]["type"]) for f in added] == [(0, "message"), (1, "function_call")]
    assert kinds.index("response.output_audio.done") < kinds.index("response.function_call_arguments.delta")
    output = frames[-1]["response"]["output"]
    assert output[0]["content"] == [{"type": "output_audio", "transcript": "Let me check."}]
    assert (output[1]["name"], json.loads(output[1]["arguments"]), output[1]["call_id"]) == (
        "get_weather", {"city": "Paris"}, "call_w1")
    assert frames[-1]["response"]["status"] == "completed"
    items = server.wait_for_connection().items
    assert [i["type"] for i in items] == ["message", "message", "function_call"]
    client.close()


def test_sequence_accepts_only_output_items() -> None:
    """Reply.sequence refuses an empty sequence and nested outcomes such as Reply.failed."""
    with pytest.raises(ValueError):
        Reply.sequence()
    with pytest.raises(ValueError, match="failed"):
        Reply.sequence(Reply.text("x"), Reply.failed())


def test_session_update_accepts_its_own_model_and_refuses_another(server: FakeRealtimeServer) -> None:
    """A session.update naming the session's model is applied; another model gets an error event."""
    client = Client(server, model="gpt-realtime-2.1")
    client.send("session.update", event_id="evt_m1",
                session={"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Hi."})
    updated = client.recv()
    assert updated["type"] == "session.updated" and updated["session"]["model"] == "gpt-realtime-2.1"
    client.send("session.update", event_id="evt_m2",
                session={"type": "realtime", "model": "gpt-realtime-mini"})
    error = client.recv()
    assert error["type"] == "error"
    assert (error["error"]["param"], error["error"]["event_id"]) == ("session.model", "evt_m2")
    assert server.wait_for_connection().session["model"] == "gpt-realtime-2.1"
    client.close()


def test_item_added_and_done_follow_creates_commits_and_outputs(server: FakeRealtimeServer) -> None:
    """conversation.item.added/done come for a client create, a commit and each output item, GA style."""
    client = Client(server)
    client.send("session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    client.recv()
    client.send("conversation.item.create", item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "first"}]})
    created = [client.recv(), client.recv()]
    assert _types(created) == ["conversation.item.added", "conversation.item.done"]
    assert created[0]["previous_item_id"] is None and created[0]["item"]["id"] == created[1]["item"]["id"]
    client.append(synthesize_speech(300))
    client.send("input_audio_buffer.commit")
    committed = [client.recv() for _ in range(3)]
    assert _types(committed) == ["input_audio_buffer.committed", "conversation.item.added",
                                 "conversation.item.done"]
    assert committed[1]["previous_item_id"] == created[0]["item"]["id"]
    client.send("response.create")
    frames = client.until("response.done")
    kinds = _types(frames)
    assert kinds.index("response.output_item.added") < kinds.index("conversation.item.added")
    assert kinds.index("response.output_item.done") < kinds.index("conversation.item.done")
    done_item = frames[kinds.index("conversation.item.done")]
    assert done_item["item"]["status"] == "completed"
    assert done_item["previous_item_id"] == committed[0]["item_id"]
    client.close()


# --- public surface, drops and TLS ----------------------------------------------------------------


def test_unknown_provider_is_a_value_error_naming_the_known_ones() -> None:
    """FakeRealtimeServer(provider=...) refuses an unknown provider and lists the known ones."""
    with pytest.raises(ValueError, match="openai"):
        FakeRealtimeServer(provider="nope")


def test_surface_url_base_url_token_and_adapter(server: FakeRealtimeServer) -> None:
    """url, base_url, get_token, adapter() and ca_file describe a plain ws:// OpenAI server."""
    assert server.url == f"ws://127.0.0.1:{server.port}/v1/realtime"
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.ca_file is None and server.provider == "openai"
    token = server.get_token()
    assert token.provider == "openai" and token.config.model == server.model
    adapter = server.adapter(model="gpt-realtime")
    assert type(adapter).__name__ == "OpenAIRealtimeAdapter"
    Client(server, token=token.token).close()


def test_drop_with_a_code_sends_that_close_frame(server: FakeRealtimeServer) -> None:
    """drop(code=...) closes every live connection with that code; drop() aborts without a frame."""
    for code in (1011, None):
        with ws_connect(server.url + "?model=gpt-realtime",
                        additional_headers={"Authorization": "Bearer x"}) as ws:
            ws.recv()
            server.drop(code=code, reason="" if code is None else "boom")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            if code is None:
                assert info.value.rcvd is None
            else:
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "boom")
    assert server.connections[0].close_code == 1011 and server.connections[1].close_code == 1006


def test_tls_server_speaks_wss_to_websocket_client_trusting_its_ca(make_server: Any) -> None:
    """With tls=True websocket-client connects to wss:// with sslopt ca_certs and is refused without it."""
    server = make_server(tls=True)
    assert server.url.startswith("wss://") and server.base_url.startswith("https://")
    assert server.ca_file is not None
    assert Path(server.ca_file).read_text().startswith("-----BEGIN CERTIFICATE")
    ws = websocket.create_connection(server.url + "?model=gpt-realtime", timeout=5,
                                     header=["Authorization: Bearer x"], sslopt={"ca_certs": server.ca_file})
    assert json.loads(ws.recv())["type"] == "session.created"
    ws.close()
    with pytest.raises(ssl.SSLError):
        websocket.create_connection(server.url, timeout=5, header=["Authorization: Bearer x"])



def test_tls_server_sends_no_session_ticket(make_server: Any) -> None:
    """Over TLS 1.3 the server sends nothing after the handshake but its answers: no session
    ticket, which a threaded client (websockets.sync, the openai SDK's) could meet while writing
    its upgrade request, and lose the request."""
    server = make_server(tls=True)
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        with server.ssl_context().wrap_socket(raw, server_hostname=server.host) as tls:
            assert tls.version() == "TLSv1.3"
            tls.sendall(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while True:  # the answer ends with the connection; any ticket would come before it
                chunk = tls.recv(65536)
                if not chunk:
                    break
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 404 ")
            assert tls.session is not None and not tls.session.has_ticket

# --- input audio and VAD --------------------------------------------------------------------------


def test_manual_commit_needs_100_ms(server: FakeRealtimeServer) -> None:
    """Committing under 100 ms fails with input_audio_buffer_commit_empty; 200 ms commits a user item."""
    client = Client(server)
    client.send("session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    client.recv()
    client.append(synthesize_speech(50))
    client.send("input_audio_buffer.commit")
    assert client.recv()["error"]["code"] == "input_audio_buffer_commit_empty"
    client.append(synthesize_speech(200))
    client.send("input_audio_buffer.commit")
    frames = [client.recv() for _ in range(3)]
    assert _types(frames) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert frames[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    client.send("input_audio_buffer.clear")
    assert client.recv()["type"] == "input_audio_buffer.cleared"
    client.close()


def test_server_vad_turn_from_appended_speech(server: FakeRealtimeServer) -> None:
    """Appended speech then silence yields speech_started/stopped, a commit, transcription and a reply."""
    server.user_transcripts.append("what is the weather")
    client = Client(server)
    client.send(
        "session.update",
        session={"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}},
    )
    client.recv()
    client.append(np.concatenate([silence(600), synthesize_speech(1200, seed=5), silence(800)]))
    frames = client.until("response.done")
    kinds = _types(frames)
    started = frames[kinds.index("input_audio_buffer.speech_started")]
    stopped = frames[kinds.index("input_audio_buffer.speech_stopped")]
    assert 250 <= started["audio_start_ms"] <= 400
    assert 2100 <= stopped["audio_end_ms"] <= 2400
    assert started["item_id"] == stopped["item_id"]
    assert kinds.index("input_audio_buffer.committed") < kinds.index(
        "conversation.item.input_audio_transcription.completed"
    )
    completed = frames[kinds.index("conversation.item.input_audio_transcription.completed")]
    assert completed["transcript"] == "what is the weather" and completed["item_id"] == started["item_id"]
    assert frames[-1]["response"]["output"][0]["content"][0]["transcript"] == "I heard you."
    client.close()


def test_barge_in_cancels_with_turn_detected(make_server: Any) -> None:
    """Speech while a paced reply streams cancels it with reason turn_detected."""
    server = make_server(pacing="realtime")
    server.script(Reply.audio("a long answer that keeps going", duration_ms=5000))
    client = Client(server)
    client.send("response.create")
    client.until("response.output_audio.delta")
    client.append(synthesize_speech(400, seed=2))
    frames = client.until("response.done")
    assert "input_audio_buffer.speech_started" in _types(frames)
    assert frames[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    client.close()


# --- faults and lifecycle ------------------------------------------------------------------------


def test_drop_connections_closes_without_close_frame(server: FakeRealtimeServer) -> None:
    """drop_connections ends the TCP connection with no WebSocket close frame."""
    with ws_connect(
        server.url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer x"}
    ) as ws:
        ws.recv()
        server.drop_connections()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is None


def test_close_connections_sends_code_and_reason(server: FakeRealtimeServer) -> None:
    """close_connections sends a close frame with the given code and reason."""
    with ws_connect(
        server.url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer x"}
    ) as ws:
        ws.recv()
        server.close_connections(4000, "bye")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")


def test_stall_holds_frames_then_releases_them(server: FakeRealtimeServer) -> None:
    """During a stall nothing is sent; queued frames flow afterwards."""
    client = Client(server)
    server.stall(0.8)
    server.send_event({"type": "input_audio_buffer.cleared"})
    client.ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        client.recv()
    client.ws.settimeout(5)
    assert client.recv()["type"] == "input_audio_buffer.cleared"
    client.close()


def test_send_raw_event_and_error(server: FakeRealtimeServer) -> None:
    """send_raw sends as-is, unrecorded; send_event and send_error add ids and are recorded."""
    client = Client(server)
    server.send_raw("not json {")
    server.send_raw(b"\x00\x01")
    server.send_event({"type": "input_audio_buffer.cleared"})
    server.send_error("server_error_x", "Something broke", error_type="server_error")
    assert client.ws.recv() == "not json {"
    assert client.ws.recv() == b"\x00\x01"
    assert client.recv()["event_id"].startswith("event_")
    error = client.recv()
    assert error["error"]["code"] == "server_error_x" and error["error"]["type"] == "server_error"
    assert not any(f in ("not json {",) for f in server.sent)
    assert server.wait_for_sent("error")["error"]["message"] == "Something broke"
    client.close()


def test_max_session_seconds_closes_with_1001(make_server: Any) -> None:
    """After max_session_seconds the connection closes with 1001 and the real reason text."""
    server = make_server(max_session_seconds=0.3)
    with ws_connect(
        server.url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer x"}
    ) as ws:
        ws.recv()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, SESSION_LIMIT_REASON)


def test_wait_for_frame_returns_frame_or_times_out(server: FakeRealtimeServer) -> None:
    """wait_for_frame returns the count-th matching frame and raises TimeoutError otherwise."""
    client = Client(server)
    client.send("input_audio_buffer.clear", event_id="a")
    client.send("input_audio_buffer.clear", event_id="b")
    assert server.wait_for_frame("input_audio_buffer.clear", count=2)["event_id"] == "b"
    with pytest.raises(TimeoutError):
        server.wait_for_frame("response.create", timeout=0.1)
    client.close()


def test_stop_is_idempotent_thread_clean_and_restartable() -> None:
    """stop() closes clients with 1001, leaves no realtime-* thread, can repeat, and the port is reused."""
    server = FakeRealtimeServer(pacing="realtime").start()
    port = server.port
    server.script(Reply.audio("streaming", duration_ms=5000))
    ws = ws_connect(server.url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer x"})
    ws.send(json.dumps({"type": "response.create"}))
    assert "realtime-fake-server" in _fake_threads()
    server.wait_for_sent("response.output_audio.delta")
    server.stop()
    assert _fake_threads() == []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1001
    ws.close()
    server.stop()
    with server:
        assert server.port == port
        Client(server).close()
    assert _fake_threads() == []


def test_pytest_plugin_fixture(tmp_path: Path) -> None:
    """The pytest11 plugin's fake_realtime_server fixture yields a started server and stops it."""
    (tmp_path / "test_uses_fixture.py").write_text(
        textwrap.dedent("""
        import threading
        def test_fixture(fake_realtime_server):
            assert fake_realtime_server.url.startswith("ws://127.0.0.1:")
            assert any(t.name == "realtime-fake-server" for t in threading.enumerate())
    """)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:realtime_client",
            "-p",
            "realtime_client.testing._pytest_plugin",
            str(tmp_path),
        ],
        cwd=str(Path(__file__).parents[2]),
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
