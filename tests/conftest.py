"""Shared fixtures: conformance checks on every frame, a thread-leak guard, client factories."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest
from hypothesis import HealthCheck, settings

from realtime_client import RealtimeClient
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer
from tests.helpers import check_conformance

# Property tests must not flake on a loaded 2-core CI machine: no health checks or deadlines,
# and a fixed example sequence under CI=true (locally each run explores new examples).
settings.register_profile("realtime", suppress_health_check=list(HealthCheck), deadline=None,
                          derandomize=os.environ.get("CI") == "true")
settings.load_profile("realtime")


def _silence_native_audio_logs() -> None:
    from realtime_client.audio import _pyaudio

    silence = getattr(_pyaudio, "silence_native_audio_logs", None)
    if silence is not None:
        silence()


try:
    _silence_native_audio_logs()
except Exception:  # pyaudio missing on a developer machine: audio tests will say so
    pass


def live_realtime_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("realtime-") and t.is_alive()
            and t.name != "realtime-fake-server"]


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail any test that leaves a ``realtime-*`` thread of the client running."""
    yield
    end = time.monotonic() + 2.0
    while live_realtime_threads() and time.monotonic() < end:
        time.sleep(0.02)
    leaked = [t.name for t in live_realtime_threads() if not t.name.startswith("realtime-fake")]
    assert not leaked, f"threads still alive after the test: {leaked}"


def checked_server(**options: Any) -> Iterator[FakeRealtimeServer]:
    """A started fake OpenAI Realtime server whose traffic is checked for conformance after the test."""
    srv = FakeRealtimeServer(**options).start()
    try:
        yield srv
    finally:
        srv.stop()
    check_conformance(srv)


def client_factory(server: FakeRealtimeServer, realtime_speaker: bool = False
                   ) -> Iterator[Callable[..., RealtimeClient]]:
    """Build clients wired to ``server`` (no microphone; a buffer speaker, fast or paced, unless
    the test passes its own); destroyed after the test."""
    made: List[RealtimeClient] = []

    def factory(**options: Any) -> RealtimeClient:
        options.setdefault("get_token", server.get_token)
        options.setdefault("adapter", openai_realtime(url=server.url))
        options.setdefault("auto_capture", False)
        if "audio_output" not in options and options.get("auto_playback", True):
            options["audio_output"] = BufferOutput(realtime=realtime_speaker)
        client = RealtimeClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


@pytest.fixture
def server() -> Iterator[FakeRealtimeServer]:
    """A started fake OpenAI Realtime server, checked for conformance after the test."""
    yield from checked_server()


@pytest.fixture
def make_client(server: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    """Build clients wired to ``server`` (no microphone, fast buffer speaker); destroyed after the test."""
    yield from client_factory(server)


@pytest.fixture
def paced() -> Iterator[FakeRealtimeServer]:
    """A fake server that streams audio at real-time pace, as a provider does."""
    yield from checked_server(pacing="realtime", audio_chunk_ms=50)


@pytest.fixture
def paced_client(paced: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    """Clients of ``paced`` with a speaker that plays at real-time pace."""
    yield from client_factory(paced, realtime_speaker=True)


@pytest.fixture
def caplog_rc(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="realtime_client")
    return caplog
