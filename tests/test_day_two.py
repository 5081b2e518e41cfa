"""Day-two behaviour a newcomer relies on: waits that return the right answer, modes that tell the truth."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from realtime_client import RealtimeClient
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer, Reply
from tests.helpers import check_conformance


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
