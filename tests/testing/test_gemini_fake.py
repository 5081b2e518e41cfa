"""FakeRealtimeServer(provider="gemini") on the wire: raw sockets, the refusals the real server
makes, resumption rules, the REST endpoint; every frame it sends validates as LiveServerMessage."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pytest
import requests
import websocket

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from tests._gemini_conformance import validate_server_frame

MODEL = "models/gemini-3.8-live"


_OPEN: List[Any] = []


@pytest.fixture
def server() -> Iterator[FakeRealtimeServer]:
    with FakeRealtimeServer(provider="gemini", api_key="key") as srv:
        yield srv
        while _OPEN:  # close our raw sockets first, so the server need not wait for them
            _OPEN.pop().close()
    for frame in srv.sent:
        validate_server_frame(frame)


class Raw:
    """A raw WebSocket to the fake (websocket-client), reading binary JSON."""

    def __init__(self, server: FakeRealtimeServer, version: str = "v1beta", key: str = "key",
                 method: str = "BidiGenerateContent") -> None:
        url = (f"ws://127.0.0.1:{server.port}/ws/google.ai.generativelanguage.{version}."
               f"GenerativeService.{method}")
        self.ws = websocket.create_connection(url, header=[f"x-goog-api-key: {key}"], timeout=5)
        _OPEN.append(self.ws)

    def send(self, message: Dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def recv(self) -> Dict[str, Any]:
        opcode, data = self.ws.recv_data(control_frame=False)
        assert opcode == websocket.ABNF.OPCODE_BINARY, "the fake sends binary JSON, as Gemini does"
        return json.loads(data)

    def until(self, key: str, inner: Optional[str] = None) -> List[Dict[str, Any]]:
        got = []
        while True:
            message = self.recv()
            got.append(message)
            if key in message and (inner is None or message[key].get(inner)):
                return got

    def close_code(self) -> tuple:
        """Read until the server's close frame; return (code, reason)."""
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.ws.send_close()  # answer the close handshake, so the server need not wait
                return int.from_bytes(data[:2], "big"), data[2:].decode()


def setup(raw: Raw, **extra: Any) -> Dict[str, Any]:
    raw.send({"setup": {"model": MODEL, "sessionResumption": {}, **extra}})
    return raw.recv()


def test_setup_is_answered_and_every_api_version_is_served(server):
    """setupComplete answers setup on v1, v1beta and v1alpha; a handle follows it."""
    for version in ("v1", "v1beta", "v1alpha"):
        raw = Raw(server, version)
        assert setup(raw) == {"setupComplete": {}}
        assert raw.recv()["sessionResumptionUpdate"]["resumable"] is True
        raw.ws.close()


@pytest.mark.parametrize("first, reason", [
    ({"realtimeInput": {"text": "hi"}}, "first message must be setup"),
    ({"setup": {"model": MODEL, "bogusField": 1}}, 'Unknown name "bogusField"'),
    ({"setup": {"model": "gemini-3.8-live"}}, "models/<model id>"),
    ({"setup": {"model": MODEL, "sessionResumption": {"transparent": True}}}, "not supported"),
])
def test_what_the_real_server_refuses_closes_1007(server, first, reason):
    """Anything but setup first, unknown setup fields, a bare model id and Vertex-only fields: 1007."""
    raw = Raw(server)
    raw.send(first)
    code, text = raw.close_code()
    assert code == 1007 and reason in text


def test_unknown_model_closes_1008(server):
    """A model the server does not serve closes with 1008 '... is not found'."""
    raw = Raw(server)
    raw.send({"setup": {"model": "models/gemini-nope"}})
    code, text = raw.close_code()
    assert code == 1008 and "not found" in text


def test_credentials_are_refused_with_close_frames(server):
    """A wrong key closes 1007 after the first message; the key never shows in headers."""
    raw = Raw(server, key="wrong")
    raw.send({"setup": {"model": MODEL}})
    assert raw.close_code() == (1007, "API key not valid. Please pass a valid API key.")


def test_snake_case_keys_and_a_text_turn(server):
    """The SDK's snake_case top-level keys are accepted; a text turn streams audio parts with
    outputTranscription, then generationComplete, turnComplete with usage, and a new handle."""
    raw = Raw(server)
    setup(raw, outputAudioTranscription={})
    raw.recv()
    raw.send({"realtime_input": {"text": "Hello"}})
    got = raw.until("serverContent", "turnComplete")
    said = "".join(m["serverContent"].get("outputTranscription", {}).get("text", "") for m in got)
    assert said == "You said: Hello"
    assert got[-2] == {"serverContent": {"generationComplete": True}}
    assert got[-1]["usageMetadata"]["totalTokenCount"] > 0
    assert "newHandle" in raw.recv()["sessionResumptionUpdate"]
    assert server.wait_for_frame("realtimeInput")["realtime_input"] == {"text": "Hello"}
    assert server.wait_for_sent("setupComplete") == {"setupComplete": {}}


def test_mid_session_client_content_closes_1007_on_3x(server):
    """clientContent only seeds history (historyConfig); mid-session on a 3.x model it is 1007."""
    raw = Raw(server)
    setup(raw)
    raw.recv()
    raw.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}], "turnComplete": True}})
    assert raw.close_code()[0] == 1007


def test_seeded_history_then_live(server):
    """With historyConfig the server takes clientContent turns until turnComplete, then a handle."""
    raw = Raw(server)
    setup(raw, historyConfig={"initialHistoryInClientContent": True})
    raw.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "I am Ada."}]},
                                          {"role": "model", "parts": [{"text": "Hi Ada."}]}],
                                "turnComplete": True}})
    assert raw.recv()["sessionResumptionUpdate"]["resumable"]
    assert [t["role"] for t in server.connections[0].items] == ["user", "model"]


def test_resumption_rules(server):
    """A handle restores the conversation on a new socket; it is refused with 1011 while the old
    socket is open and with 1007 once unknown; the model cannot change on a resume."""
    first = Raw(server)
    setup(first)
    first.recv()
    first.send({"realtimeInput": {"text": "remember me"}})
    first.until("serverContent", "turnComplete")
    handle = first.recv()["sessionResumptionUpdate"]["newHandle"]
    busy = Raw(server)
    busy.send({"setup": {"model": MODEL, "sessionResumption": {"handle": handle}}})
    assert busy.close_code()[0] == 1011
    first.ws.close()
    server.connections[0].wait_closed(2)
    time.sleep(0.05)
    other_model = Raw(server)
    other_model.send({"setup": {"model": "models/gemini-3.1-flash-live-preview",
                                "sessionResumption": {"handle": handle}}})
    assert other_model.close_code()[0] == 1007
    server.connections[2].wait_closed(2)
    time.sleep(0.05)
    again = Raw(server)
    assert setup(again, sessionResumption={"handle": handle}) == {"setupComplete": {}}
    assert server.connections[3].peer.resumed
    assert [t["role"] for t in server.connections[3].items] == ["user", "model"]
    server.connections[3].peer.store.forget_handles()
    again.ws.close()
    server.connections[3].wait_closed(2)
    gone = Raw(server)
    gone.send({"setup": {"model": MODEL, "sessionResumption": {"handle": handle}}})
    assert gone.close_code()[0] == 1007


def test_voice_activity_tool_call_and_barge_in(server):
    """Speech at 16 kHz is heard, transcribed and answered; a tool call waits for toolResponse;
    speech during a paced answer is interrupted, with toolCallCancellation for pending calls."""
    server.user_transcripts.append("call the tool")
    server.script(Reply.tool_call("lookup", {"q": "x"}, call_id="c1"))
    raw = Raw(server)
    setup(raw, inputAudioTranscription={})
    raw.recv()
    speech = np.concatenate([synthesize_speech(800, 16000, seed=4), np.zeros(16000, np.int16)])
    data = speech.astype("<i2").tobytes()
    for i in range(0, len(data), 640):
        raw.send({"realtimeInput": {"audio": {"data": base64.b64encode(data[i:i + 640]).decode(),
                                              "mimeType": "audio/pcm;rate=16000"}}})
    got = raw.until("toolCall")
    heard = "".join(m["serverContent"]["inputTranscription"]["text"] for m in got
                    if "inputTranscription" in m.get("serverContent", {}))
    assert heard == "call the tool"
    assert got[-1]["toolCall"]["functionCalls"][0] == {"id": "c1", "name": "lookup", "args": {"q": "x"}}
    server.pacing = "realtime"
    server.script(Reply.audio("a long answer", duration_ms=4000))
    raw.send({"toolResponse": {"functionResponses": [{"id": "c1", "name": "lookup",
                                                      "response": {"output": "found"}}]}})
    raw.until("serverContent", "modelTurn")
    raw.send({"realtimeInput": {"text": "stop"}})
    got = raw.until("serverContent", "interrupted")
    assert raw.recv() == {"serverContent": {"turnComplete": True}}
    assert server.connections[0].peer.audio_ms >= 1700


def test_speech_option_speaks_with_espeak_when_available():
    """speech='espeak' gives real speech in the audio parts (skipped without espeak-ng)."""
    try:
        srv = FakeRealtimeServer(provider="gemini", speech="espeak")
    except Exception as exc:  # no espeak-ng on this machine
        pytest.skip(str(exc))
    with srv:
        raw = Raw(srv, key="any")
        setup(raw)
        raw.recv()
        raw.send({"realtimeInput": {"text": "Hello there"}})
        got = raw.until("serverContent", "turnComplete")
        audio = b"".join(base64.b64decode(p["inlineData"]["data"]) for m in got
                         for p in m["serverContent"].get("modelTurn", {}).get("parts", []))
        assert len(audio) > 24000 and np.abs(np.frombuffer(audio, "<i2")).max() > 1000


def test_auth_tokens_endpoint(server):
    """POST /v1alpha/auth_tokens mints a token the WebSocket then accepts on the constrained
    method; bad keys, bodies and methods get Google-style errors."""
    url = server.base_url + "/v1alpha/auth_tokens"
    body = {"uses": 2, "bidiGenerateContentSetup": {"model": MODEL}, "fieldMask": "model"}
    reply = requests.post(url, json=body, headers={"x-goog-api-key": "key"}, timeout=5)
    assert reply.status_code == 200
    token = reply.json()
    assert token["name"].startswith("auth_tokens/") and token["uses"] == 2 and "expireTime" in token
    assert requests.post(url, json=body, headers={"x-goog-api-key": "nope"}, timeout=5).status_code == 400
    bogus = requests.post(url, json={"bogus": 1}, headers={"x-goog-api-key": "key"}, timeout=5)
    assert bogus.status_code == 400
    assert requests.post(url, json=body, timeout=5).status_code == 403
    missing = requests.post(server.base_url + "/v1beta/models", json={}, timeout=5)
    assert missing.status_code == 404
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/ws/google.ai.generativelanguage.v1alpha.GenerativeService."
        "BidiGenerateContentConstrained", header=[f"Authorization: Token {token['name']}"], timeout=5)
    ws.send(json.dumps({"setup": {"model": MODEL}}))
    assert json.loads(ws.recv()) == {"setupComplete": {}}
    ws.close()


def test_send_error_is_refused_for_gemini(server):
    """Gemini has no error events: send_error() says to close with a code instead."""
    raw = Raw(server)
    setup(raw)
    with pytest.raises(ValueError, match="close frames"):
        server.send_error("x", "y")
