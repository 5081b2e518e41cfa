"""Day-two behaviour a newcomer relies on: waits that return the right answer, modes that tell the truth."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

from realtime_client import RealtimeClient, RealtimeError
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer, Reply
from tests.helpers import Recorder, check_conformance, wait_until


@pytest.fixture
def paced() -> Iterator[FakeRealtimeServer]:
    """A fake server that streams audio at real-time pace, like a provider does."""
    srv = FakeRealtimeServer(pacing="realtime", audio_chunk_ms=50).start()
    try:
        yield srv
    finally:
        srv.stop()
    check_conformance(srv)


@pytest.fixture
def paced_client(paced: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    made: List[RealtimeClient] = []

    def factory(**options: Any) -> RealtimeClient:
        options.setdefault("audio_output", BufferOutput(realtime=True))
        client = RealtimeClient(get_token=paced.get_token, adapter=openai_realtime(url=paced.url),
                                auto_capture=False, **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


def test_ask_returns_its_own_answer_while_an_earlier_one_streams(paced, paced_client):
    """send_text('first') with a long answer streaming, then ask('second'): the second answer."""
    paced.script(Reply.audio("The first answer, which is long.", duration_ms=1200), Reply.text("Second."))
    client = paced_client()
    client.connect(timeout=5)
    client.send_text("first")
    answer = client.ask("second", timeout=15)
    assert answer.text == "Second."
    roles = [(m.role, m.text) for m in client.messages]
    assert ("assistant", "The first answer, which is long.") in roles


def test_ask_after_an_abandoned_ask_returns_its_own_answer(paced, paced_client):
    """An ask() cut short (timeout, Ctrl+C) leaves its answer streaming; the next ask() skips it."""
    paced.script(Reply.audio("Answer A, slowly spoken.", duration_ms=1000), Reply.text("Answer B."))
    client = paced_client()
    client.connect(timeout=5)
    with pytest.raises(TimeoutError):
        client.ask("question A", timeout=0.2)
    assert client.ask("question B", timeout=15).text == "Answer B."


# --- connect(): Ctrl+C, wait=False, and the threads a failed or ended session leaves ---------


def realtime_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith("realtime-") and not t.name.startswith("realtime-fake"))


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_in_get_token_propagates_and_tears_down(server, make_client, exc_type):
    def get_token() -> Any:
        raise exc_type()

    rec = Recorder()
    client = make_client(get_token=get_token, **rec.options())
    with pytest.raises(exc_type):
        client.connect(timeout=5)
    assert client.status == "idle" and client.error is None
    wait_until(lambda: not realtime_threads(), what="no realtime threads")
    assert rec.of("on_error") == []


def test_ctrl_c_during_the_handshake_propagates_and_closes_the_socket(server, make_client):
    """KeyboardInterrupt while connect() waits for the session: raised as is, socket closed, idle."""
    server.handshake_delay = 3.0
    client = make_client()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl+C
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.connect(timeout=10)
    assert time.monotonic() - started < 2.5
    assert client.status == "idle"
    wait_until(lambda: not realtime_threads(), what="no realtime threads")
    client.connect(timeout=10)  # and the client is still usable
    assert client.status == "connected"


def test_connect_without_waiting_reports_success_through_callbacks(server, make_client):
    server.handshake_delay = 0.3
    rec = Recorder()
    client = make_client(**rec.options())
    started = time.monotonic()
    client.connect(wait=False)
    assert time.monotonic() - started < 0.2
    assert client.status == "connecting"
    wait_until(lambda: rec.of("on_connect"), what="on_connect")
    assert client.status == "connected"
    assert rec.of("on_status_change") == ["connecting", "connected"]
    client.connect(wait=False)  # connected already: nothing happens
    assert client.ask("hi", timeout=10).text


def test_connect_without_waiting_reports_failure_through_on_error(server, make_client):
    rec = Recorder()
    client = make_client(adapter=openai_realtime(url="ws://127.0.0.1:9/v1/realtime"), **rec.options())
    client.connect(wait=False)
    wait_until(lambda: rec.of("on_error"), what="on_error")
    (err,) = rec.of("on_error")
    assert isinstance(err, RealtimeError) and client.error is err
    wait_until(lambda: client.status == "error", what="status error")
    wait_until(lambda: not realtime_threads(), what="the callback thread to end")


def test_a_blocking_connect_waits_for_one_in_progress(server, make_client):
    server.handshake_delay = 0.3
    client = make_client()
    client.connect(wait=False)
    client.connect(timeout=5)
    assert client.status == "connected"


def test_disconnect_during_a_background_connect_leaves_nothing_behind(server, make_client):
    server.handshake_delay = 1.0
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(wait=False)
    time.sleep(0.2)
    started = time.monotonic()
    client.disconnect()
    assert time.monotonic() - started < 1.5
    assert client.status == "idle" and rec.of("on_error") == [] and rec.of("on_connect") == []
    assert not realtime_threads()
    time.sleep(1.2)  # the handshake the server delayed would have finished by now
    assert client.status == "idle" and not realtime_threads()


def test_a_session_the_server_ends_leaves_no_callback_thread(server, make_client):
    rec = Recorder()
    client = make_client(reconnect=False, **rec.options())
    client.connect(timeout=5)
    server.drop(code=1011)
    wait_until(lambda: client.status == "error", what="status error")
    wait_until(lambda: not realtime_threads(), what="every realtime thread to end")
    assert rec.of("on_disconnect") == [None]
    client.connect(timeout=5)  # connecting again brings the callback thread back
    assert client.ask("again?", timeout=10).text
    assert "realtime-callbacks" in realtime_threads()
