"""Bounded shutdown: Ctrl+C, interpreter exit, hung handlers and callbacks, idempotent teardown."""

from __future__ import annotations

import gc
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path
from typing import Any, List, Optional

import pytest

from realtime_client import RealtimeStatus, tool
from realtime_client._shutdown import disconnect_all, live_clients, register
from realtime_client.testing import FakeRealtimeServer, Reply
from tests.helpers import wait_until

# --- subprocess helpers -----------------------------------------------------------------------

SCRIPT = textwrap.dedent('''
    """A script using a live client, driven by tests/test_shutdown.py; prints markers on stdout."""
    import os
    import sys
    import threading
    import time

    from realtime_client import RealtimeClient, RealtimeToken, tool
    from realtime_client.adapters import openai_realtime
    from realtime_client.audio import BufferOutput

    URL, MODE = sys.argv[1], sys.argv[2]
    TOKEN = os.environ["RC_TEST_TOKEN"]


    def say(*words):
        print(*words, flush=True)


    speaking = threading.Event()
    tool_started = threading.Event()
    callback_blocked = threading.Event()
    never = threading.Event()


    @tool
    def slow_lookup(query: str) -> str:
        """Look something up (this one never returns)."""
        tool_started.set()
        never.wait()
        return "unreachable"


    def on_mode(mode):
        say("mode", mode.value)
        if mode.value == "speaking":
            speaking.set()


    def on_message(message):
        if MODE.startswith("hung") and message.role == "user":
            callback_blocked.set()
            never.wait()  # a callback that blocks forever


    client = RealtimeClient(
        get_token=lambda: RealtimeToken(provider="openai", token=TOKEN, expires_at=time.time() + 600),
        adapter=openai_realtime(url=URL), auto_capture=False, audio_output=BufferOutput(realtime=True),
        tools=[slow_lookup], tool_timeout=60,
        on_status_change=lambda status: say("status", status.value), on_mode_change=on_mode,
        on_message=on_message, on_disconnect=lambda: say("disconnected"))
    client.connect(timeout=10)
    if MODE.startswith("hung"):
        client.send_text("look it up")
        assert tool_started.wait(10) and callback_blocked.wait(10), "tool or callback did not start"
    else:
        client.ask("tell me a long story", timeout=10)  # returns at response.done; playback goes on
        assert speaking.wait(10), "the assistant never became audible"
    say("threads", ",".join(sorted(t.name for t in threading.enumerate() if t.name.startswith("realtime-"))))

    if MODE == "sigint":
        say("READY")
        client.wait_for_response(timeout=60)  # no further response comes: blocked here at Ctrl+C
        say("NOT INTERRUPTED")
    elif MODE == "hung-disconnect":
        for call in ("disconnect", "disconnect", "destroy", "destroy"):
            start = time.monotonic()
            getattr(client, call)()
            say("took", call, f"{time.monotonic() - start:.3f}", client.status.value)
        say("ENDING")
    else:  # "end", "hung-exit": fall off the end with the session live
        say("ENDING")
''')


class Script:
    """A running copy of SCRIPT with its stdout lines collected by a helper thread."""

    def __init__(self, tmp_path: Path, server: FakeRealtimeServer, mode: str) -> None:
        path = tmp_path / "client_script.py"
        path.write_text(SCRIPT)
        self.stderr_path = tmp_path / "stderr.txt"
        self._stderr = self.stderr_path.open("w")
        env = {**os.environ, "RC_TEST_TOKEN": server.token().token, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, str(path), server.url, mode], stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=env, cwd=str(tmp_path))
        self.lines: List[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="test-script-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, prefix: str, timeout: float = 20.0) -> str:
        """Wait for a stdout line starting with ``prefix``; return it."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line {prefix!r} within {timeout} s; got {self.lines}; "
                                     f"stderr: {self.stderr()}") from None
            if line is None:
                raise AssertionError(f"the script ended before printing {prefix!r}; got {self.lines}; "
                                     f"exit {self.proc.wait()}; stderr: {self.stderr()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def wait_exit(self, timeout: float = 10.0) -> float:
        """Wait for the process to exit; return how long that took."""
        start = time.monotonic()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the script did not exit within {timeout} s; stderr: {self.stderr()}") \
                from None
        elapsed = time.monotonic() - start
        self._reader.join(5)
        while True:
            line = self._queue.get_nowait() if not self._queue.empty() else None
            if line is None:
                break
            self.lines.append(line)
        return elapsed

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def run_script(tmp_path: Path, server: FakeRealtimeServer):
    """Start SCRIPT in a subprocess against the test's fake server; kill it after the test."""
    started: List[Script] = []

    def start(mode: str) -> Script:
        script = Script(tmp_path, server, mode)
        started.append(script)
        return script

    yield start
    for script in started:
        script.close()


def wait_closed(server: FakeRealtimeServer, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(c.closed for c in server.connections):
        time.sleep(0.02)
    assert server.connections and all(c.closed for c in server.connections)


# --- subprocess tests ---------------------------------------------------------------------------


def test_ctrl_c_during_a_live_session_exits_within_two_seconds(server, run_script):
    """SIGINT while the main thread waits and assistant audio plays ends the process within 2 s, cleanly."""
    server.script(Reply.audio("Once upon a time " * 20, duration_ms=30_000))
    script = run_script("sigint")
    threads = script.expect("threads ")
    assert "realtime-playback" in threads and "realtime-reader" in threads
    script.expect("READY")
    time.sleep(0.2)  # let the main thread block in wait_for_response
    script.proc.send_signal(signal.SIGINT)
    elapsed = script.wait_exit()
    assert elapsed < 2.0, f"exit took {elapsed:.2f} s"
    assert script.proc.returncode == -signal.SIGINT  # Python re-raises an uncaught Ctrl+C
    assert "KeyboardInterrupt" in script.stderr()
    assert "NOT INTERRUPTED" not in script.lines
    # the exit hook disconnected the client: the callbacks saw it, the server saw the socket close
    assert "status idle" in script.lines and "disconnected" in script.lines
    wait_closed(server)


def test_a_script_that_just_ends_exits_within_two_seconds(server, run_script):
    """A script that falls off its end mid-session exits within 2 s, the exit hook disconnecting it."""
    server.script(Reply.audio("A long answer " * 20, duration_ms=30_000))
    script = run_script("end")
    script.expect("ENDING")
    elapsed = script.wait_exit()
    assert elapsed < 2.0, f"exit took {elapsed:.2f} s"
    assert script.proc.returncode == 0, script.stderr()
    assert "status idle" in script.lines and "disconnected" in script.lines
    assert "Traceback" not in script.stderr()
    wait_closed(server)


def test_hung_tool_and_callback_cannot_block_disconnect(server, run_script):
    """With a tool handler and a callback blocked forever, each disconnect()/destroy() returns in ~1 s."""
    server.script(Reply.tool_call("slow_lookup", {"query": "x"}))
    script = run_script("hung-disconnect")
    script.expect("ENDING", timeout=30)
    exit_time = script.wait_exit()
    took = [line.split() for line in script.lines if line.startswith("took ")]
    assert [t[1] for t in took] == ["disconnect", "disconnect", "destroy", "destroy"]
    assert all(t[3] == "idle" for t in took)
    for _, call, seconds, _ in took:
        assert float(seconds) < 2.0, f"{call} took {seconds} s"
    assert exit_time < 2.0, f"exit took {exit_time:.2f} s"
    assert script.proc.returncode == 0, script.stderr()
    wait_closed(server)


def test_hung_tool_and_callback_cannot_block_interpreter_exit(server, run_script):
    """A script that ends while a tool handler and a callback are blocked forever still exits within 2 s."""
    server.script(Reply.tool_call("slow_lookup", {"query": "x"}))
    script = run_script("hung-exit")
    script.expect("ENDING")
    elapsed = script.wait_exit()
    assert elapsed < 2.0, f"exit took {elapsed:.2f} s"
    assert script.proc.returncode == 0, script.stderr()
    wait_closed(server)


# --- in-process tests ---------------------------------------------------------------------------




def live_realtime_threads() -> List[threading.Thread]:
    """The client's own threads still running (the fake server's are not the client's)."""
    return [t for t in threading.enumerate() if t.name.startswith("realtime-") and t.is_alive()
            and not t.name.startswith("realtime-fake")]


def assert_no_client_threads() -> None:
    wait_until(lambda: not live_realtime_threads(), what="all realtime-* threads to end")


def test_disconnect_and_destroy_twice_are_idempotent(server, make_client):
    """disconnect() and destroy() each work twice, fire on_disconnect once and leave no thread behind."""
    seen: List[str] = []
    client = make_client(on_disconnect=lambda: seen.append("disconnected"))
    client.connect(timeout=5)
    assert client.ask("hello", timeout=10).role == "assistant"
    client.disconnect()
    client.disconnect()
    assert client.status == RealtimeStatus.IDLE
    client.destroy()
    client.destroy()
    client.disconnect()
    assert client.status == RealtimeStatus.IDLE and seen == ["disconnected"]
    assert_no_client_threads()
    wait_closed(server)


def test_disconnect_and_destroy_from_a_callback(server, make_client):
    """A callback may disconnect() and destroy() its own client; teardown completes without a leak."""
    done = threading.Event()
    errors: List[BaseException] = []
    client: Optional[Any] = None

    def on_message(message: Any) -> None:
        if message.role != "assistant":
            return
        try:
            assert client is not None
            client.disconnect()
            client.disconnect()
            client.destroy()
            client.destroy()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            done.set()

    client = make_client(on_message=on_message)
    client.connect(timeout=5)
    client.send_text("hi")
    assert done.wait(10), "the callback never ran"
    assert errors == []
    assert client.status == RealtimeStatus.IDLE
    assert_no_client_threads()
    wait_closed(server)


def test_disconnect_and_destroy_from_a_tool_handler(server, make_client, caplog):
    """A tool handler may disconnect() and destroy() the client that called it, twice, without a
    leak, and without a warning that it (still in its own call) was abandoned."""
    caplog.set_level("WARNING", logger="realtime_client")
    done = threading.Event()
    errors: List[BaseException] = []
    timings: List[float] = []
    holder: List[Any] = []

    @tool
    def hang_up() -> str:
        """End the call."""
        try:
            for call in ("disconnect", "disconnect", "destroy", "destroy"):
                start = time.monotonic()
                getattr(holder[0], call)()
                timings.append(time.monotonic() - start)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
        return "bye"

    client = make_client(tools=[hang_up])
    holder.append(client)
    server.script(Reply.tool_call("hang_up", {}))
    client.connect(timeout=5)
    client.send_text("please hang up")
    assert done.wait(10), "the tool never ran"
    assert errors == [] and len(timings) == 4
    assert max(timings) < 2.0, timings
    assert client.status == RealtimeStatus.IDLE
    assert_no_client_threads()
    wait_closed(server)
    assert not [r for r in caplog.records if "abandoned" in r.getMessage()]


def test_the_registry_tracks_clients_weakly(make_client):
    """Every client registers itself; the registry does not keep a dropped client alive."""
    client = make_client(auto_playback=False)
    assert client in live_clients()

    class Stub:
        status = RealtimeStatus.IDLE

        def disconnect(self) -> None:
            pass

    stub = Stub()
    register(stub)
    assert stub in live_clients()
    ref = weakref.ref(stub)
    del stub
    gc.collect()
    assert ref() is None
    assert not [c for c in live_clients() if isinstance(c, Stub)]
    assert client in live_clients()


def test_disconnect_all_disconnects_live_clients_and_skips_idle_ones(server, make_client):
    """disconnect_all() disconnects every connected client and leaves idle ones alone."""
    a, b = make_client(auto_playback=False), make_client(auto_playback=False)
    idle = make_client(auto_playback=False)
    a.connect(timeout=5)
    b.connect(timeout=5)
    disconnected: List[str] = []
    idle_probe = make_client(auto_playback=False, on_disconnect=lambda: disconnected.append("idle"))
    assert disconnect_all(timeout=2.0) == []
    assert a.status == RealtimeStatus.IDLE and b.status == RealtimeStatus.IDLE
    assert idle.status == RealtimeStatus.IDLE and disconnected == []
    assert idle_probe.status == RealtimeStatus.IDLE
    assert_no_client_threads()


def test_disconnect_all_skips_a_client_whose_disconnect_hangs(server, make_client):
    """A client whose disconnect() hangs is skipped at the deadline; the others are still disconnected."""
    release = threading.Event()

    class Wedged:
        """Stands in for a client whose teardown is stuck (e.g. in a device driver)."""

        status = RealtimeStatus.CONNECTED

        def disconnect(self) -> None:
            release.wait(30)

    wedged = Wedged()
    register(wedged)
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    start = time.monotonic()
    try:
        late = disconnect_all(timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        release.set()
    assert late == [wedged]
    assert 0.4 <= elapsed < 1.5, elapsed
    assert client.status == RealtimeStatus.IDLE
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "realtime-shutdown"],
               what="the shutdown worker to end")
