"""The dispatchers: the default callback thread, and running callbacks on a Tk main loop."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from typing import Iterator, List

import pytest

from realtime_client.dispatch import ThreadDispatcher, tk_dispatcher


def test_thread_dispatcher_runs_in_order_on_its_named_thread():
    """Scheduled functions run in order on one thread named realtime-callbacks."""
    d = ThreadDispatcher()
    d.start()
    seen: List[tuple] = []
    done = threading.Event()
    for i in range(200):
        d(lambda i=i: seen.append((i, threading.current_thread().name)))
    d(done.set)
    assert done.wait(5)
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"realtime-callbacks"}
    assert d.stop(1.0)
    assert not d.running


def test_thread_dispatcher_logs_exceptions_and_carries_on(caplog):
    """A raising function is logged with its traceback and later functions still run."""
    caplog.set_level(logging.ERROR, logger="realtime_client")
    d = ThreadDispatcher()
    d.start()
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    d(boom)
    d(done.set)
    assert done.wait(5)
    d.stop(1.0)
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


def test_thread_dispatcher_stop_from_its_own_thread_and_restart():
    """stop() from inside a callback does not deadlock, and start() afterwards gets a new thread."""
    d = ThreadDispatcher()
    d.start()
    stopped = threading.Event()
    d(lambda: (d.stop(1.0), stopped.set()))
    assert stopped.wait(5)
    d.start()
    ran = threading.Event()
    d(ran.set)
    assert ran.wait(5), "the restarted dispatcher did not run the callback"
    assert d.stop(1.0)


def test_thread_dispatcher_restarted_while_finishing_keeps_order_and_joins_both():
    """start() while the stopped thread still runs its queue: the new thread waits for it (one
    callback at a time, in order), and stop() on the new one leaves no callback thread behind."""
    d = ThreadDispatcher()
    d.start()
    release = threading.Event()
    order: List[str] = []
    d(lambda: (release.wait(5), order.append("old")))
    d.request_stop()
    d.start()  # the old thread is still busy with its callback
    d(lambda: order.append("new"))
    time.sleep(0.1)
    assert order == [], "the new thread ran while the old one was still busy"
    release.set()
    assert d.stop(5.0)
    assert order == ["old", "new"]
    assert not [t for t in threading.enumerate() if t.name == "realtime-callbacks"]


@pytest.fixture
def display() -> Iterator[str]:
    """A DISPLAY: the existing one, or a private Xvfb server started for the test."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb is missing: .ci/run must install xvfb")
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    number = 90 + os.getpid() % 500
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        socket_path = f"/tmp/.X11-unix/X{number}"
        end = time.monotonic() + 5
        while not os.path.exists(socket_path) and time.monotonic() < end:
            time.sleep(0.02)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(5)


def test_tk_dispatcher_runs_callbacks_on_the_tk_thread(display):
    """Callbacks scheduled from a background thread run on the thread that runs the Tk main loop."""
    import tkinter

    root = tkinter.Tk(screenName=display)
    try:
        dispatch = tk_dispatcher(root, poll_ms=5)
        main = threading.current_thread().name
        ran: List[str] = []

        def worker() -> None:
            for _ in range(3):
                dispatch(lambda: ran.append(threading.current_thread().name))
            dispatch(root.quit)

        threading.Thread(target=worker, name="bg-worker").start()
        root.after(5000, root.quit)  # safety net
        root.mainloop()
        assert ran == [main, main, main]
    finally:
        root.destroy()
