"""RealtimeClient end to end against FakeRealtimeServer(provider="azure"): turns, tools, barge-in, reconnect,
and the recycle before the 30-minute cap (accelerated).

Every frame either side sent validates against the ``openai`` GA models after each test.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator, List

import pytest

from realtime_client import RealtimeClient, ReconnectPolicy, tool
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply
from realtime_client.tokens import azure_openai_api_key_token
from tests.helpers import Recorder, check_conformance, frames_of, wait_until
from tests.test_grok_client import speech_wav

Make = Callable[..., RealtimeClient]
FAST = ReconnectPolicy(attempts=4, base=0.05, cap=0.2, connect_timeout=3.0)
KEY = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def azure() -> Iterator[FakeRealtimeServer]:
    """A started fake Azure server; its traffic validates against the openai models after the test."""
    srv = FakeRealtimeServer(provider="azure").start()
    try:
        yield srv
    finally:
        srv.stop()
    check_conformance(srv)


@pytest.fixture
def make_azure(azure: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    """Clients wired to the azure fake (no microphone, a fast buffer speaker), destroyed after the test."""
    made: List[RealtimeClient] = []

    def factory(adapter_options: Any = None, **options: Any) -> RealtimeClient:
        options.setdefault("get_token", azure.get_token)
        options.setdefault("adapter", azure.adapter(**(adapter_options or {})))
        options.setdefault("auto_capture", False)
        if "audio_output" not in options and options.get("auto_playback", True):
            options["audio_output"] = BufferOutput(realtime=False)
        client = RealtimeClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


def test_a_text_turn_on_the_ga_endpoint(azure: FakeRealtimeServer, make_azure: Make) -> None:
    """A minted (bearer) secret opens /openai/v1/realtime?model=<deployment>; ask() is answered."""
    client = make_azure(instructions="Be brief.")
    client.connect(timeout=5)
    assert client.ask("Hello Azure", timeout=10).text == "You said: Hello Azure"
    conn = azure.connections[0]
    assert conn.path == "/openai/v1/realtime?model=gpt-realtime"
    assert conn.session["instructions"] == "Be brief."
    assert "azure" in repr(client)


def test_the_preview_endpoint_with_an_api_key(azure: FakeRealtimeServer,
                                              make_azure: Make) -> None:
    """api_version= selects the preview URL; a resource key travels in the api-key header."""
    azure.api_key = KEY
    client = make_azure(get_token=azure_openai_api_key_token(KEY),
                        adapter_options={"api_version": "2025-04-01-preview", "deployment": "rt"})
    client.connect(timeout=5)
    assert client.ask("Preview", timeout=10).text == "You said: Preview"
    assert azure.connections[0].path == "/openai/realtime?api-version=2025-04-01-preview&deployment=rt"


def test_a_voice_turn_with_a_transcription_deployment(azure: FakeRealtimeServer,
                                                      make_azure: Callable[..., RealtimeClient],
                                                      tmp_path: Any) -> None:
    """Transcription names the deployment; the user's voice message gets its transcript."""
    azure.user_transcripts.append("what time is it")
    wav = speech_wav(tmp_path / "speech.wav", 1200)
    client = make_azure(adapter_options={"input_transcription": "whisper"},
                        audio_input=WavFileInput(wav, realtime=False), auto_capture=True)
    client.connect(timeout=5)
    answer = client.wait_for_response(timeout=20)
    assert answer.text == "I heard you."
    assert client.messages[0].text == "what time is it"
    assert azure.connections[0].session["audio"]["input"]["transcription"]["model"] == "whisper"


def test_a_tool_call(azure: FakeRealtimeServer, make_azure: Make) -> None:
    """A scripted tool call runs the tool and the answer uses its result."""
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    azure.script(Reply.tool_call("add", {"a": 2, "b": 3}))
    client = make_azure(tools=[add])
    client.connect(timeout=5)
    client.send_text("2 + 3?")
    wait_until(lambda: any(m.text == "The tool returned: 5" for m in client.messages), what="the answer")


def test_interrupt_cancels_and_truncates(azure: FakeRealtimeServer, make_azure: Make) -> None:
    """interrupt() during a streaming answer cancels it and truncates to what was heard."""
    azure.pacing = "realtime"
    out = BufferOutput(realtime=True)
    azure.script(Reply.audio("A long answer to cut off.", duration_ms=4000))
    client = make_azure(audio_output=out)
    client.connect(timeout=5)
    client.send_text("talk")
    wait_until(lambda: out.played_ms >= 400, what="400 ms played")
    client.interrupt()
    trunc = azure.wait_for_frame("conversation.item.truncate", timeout=5)
    assert azure.wait_for_frame("response.cancel", timeout=5)
    assert abs(trunc["audio_end_ms"] - out.played_ms) <= 100
    wait_until(lambda: any(m.interrupted for m in client.messages), what="the interrupted message")


def test_a_drop_reconnects_and_replays(azure: FakeRealtimeServer, make_azure: Make) -> None:
    """Azure cannot resume: after a drop the new session is seeded with the history."""
    client = make_azure(reconnect=FAST, auto_playback=False)
    client.connect(timeout=5)
    client.ask("first", timeout=10)
    azure.drop_connections()
    conn = azure.wait_for_connection(count=2, timeout=5)
    wait_until(lambda: client.status == "connected", what="connected again")
    wait_until(lambda: len(frames_of(conn, "conversation.item.create")) >= 2, what="the replay")
    texts = [c.get("text") for f in frames_of(conn, "conversation.item.create") for c in f["item"]["content"]]
    assert texts[:2] == ["first", "You said: first"]
    assert client.ask("second", timeout=10).text == "You said: second"


def test_an_idle_session_is_recycled_before_the_server_closes_it(make_azure: Make) -> None:
    """With a 2 s cap on both sides the client hands over at 1.5 s: the server never has to close,
    the history carries over, and on_go_away says how long was left."""
    rec = Recorder()
    with FakeRealtimeServer(provider="azure", max_session_seconds=2.0) as server:
        client = make_azure(get_token=server.get_token, adapter=server.adapter(session_cap=2.0),
                            reconnect=FAST, auto_playback=False, **rec.options())
        client.connect(timeout=5)
        client.ask("before", timeout=10)
        conn = server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: client.status == "connected", what="connected again")
        assert server.connections[0].close_code is None, "the server had to close: no recycle"
        (left,) = rec.of("on_go_away")
        assert 0.0 < left <= 0.5
        # callbacks run on their own thread: the status can read "connected" before it is told
        wait_until(lambda: rec.of("on_status_change")[-2:] == ["reconnecting", "connected"],
                   what="reconnected")
        wait_until(lambda: len(frames_of(conn, "conversation.item.create")) >= 2, what="the history replayed")
        assert client.ask("after", timeout=10).text == "You said: after"
        assert rec.of("on_error") == []
        client.destroy()
        check_conformance(server)


def test_the_recycle_waits_for_the_answer_being_played(azure: FakeRealtimeServer,
                                                       make_azure: Make) -> None:
    """A turn still playing when the recycle window opens is never cut: the handover waits for it."""
    rec = Recorder()
    azure.pacing = "realtime"
    out = BufferOutput(realtime=True)
    client = make_azure(adapter_options={"session_cap": 4.0}, reconnect=FAST, audio_output=out,
                        **rec.options())
    client.connect(timeout=5)
    opened = time.monotonic()
    azure.script(Reply.audio("A story that runs past the recycle window.", duration_ms=2500))
    time.sleep(1.5)
    client.send_text("tell me a story")  # streams and plays from ~1.5 s to ~4 s; the window opens at 3 s
    story = client.wait_for_response(timeout=10)
    assert not story.interrupted and story.stop_reason == "completed"
    azure.wait_for_connection(count=2, timeout=10)
    assert time.monotonic() - opened >= 3.9, "the recycle cut into the answer"
    assert len(out.played) / 48 >= 2400, "the answer did not play to its end"
    wait_until(lambda: client.status == "connected", what="connected again")
    assert len(rec.of("on_go_away")) == 1
    assert client.ask("still there?", timeout=10).text == "You said: still there?"
    assert rec.of("on_error") == []


def test_the_server_cap_without_a_quiet_moment_still_reconnects(azure: FakeRealtimeServer,
                                                                make_azure: Make) -> None:
    """With the recycle off (session_cap=None) the server's 1001 close at the cap reconnects as before."""
    rec = Recorder()
    with FakeRealtimeServer(provider="azure", max_session_seconds=0.8) as server:
        client = make_azure(get_token=server.get_token, adapter=server.adapter(session_cap=None),
                            reconnect=FAST, auto_playback=False, **rec.options())
        client.connect(timeout=5)
        server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: rec.of("on_go_away") == [0.0], what="on_go_away(0)")
        assert server.connections[0].close_code == 1001
        client.destroy()


def test_no_key_reaches_logs_or_reprs(azure: FakeRealtimeServer, make_azure: Callable[..., RealtimeClient],
                                      caplog: Any) -> None:
    """With DEBUG logging (wire log included) neither the api-key nor a bearer secret shows."""
    caplog.set_level(logging.DEBUG, logger="realtime_client")
    azure.api_key = KEY
    client = make_azure(get_token=azure_openai_api_key_token(KEY), adapter_options={"deployment": "rt"})
    client.connect(timeout=5)
    client.ask("hello", timeout=10)
    client.disconnect()
    assert KEY not in caplog.text + repr(client) + repr(azure_openai_api_key_token(KEY))
    assert "send " in caplog.text
