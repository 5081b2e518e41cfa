"""The interactive ``chat`` screen, driven through a real pseudo-terminal (the ``pty`` module).

The process sees a terminal on stdin and stdout, so it runs the prompt_toolkit screen; the
test types, presses the keys and reads what is drawn. The embedded fake server paces its
espeak replies in real time, so there is time to interrupt one.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Iterator, List

import pytest

from tests.test_cli import ROOT, cli_env

if os.environ.get("CI", "").strip().lower() not in ("1", "true", "yes"):
    pytest.importorskip("prompt_toolkit")  # the cli extra; CI installs it with dev

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\r")


class Terminal:
    """A child process on a pty (100x24) and everything it has drawn, escape codes removed."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        env = cli_env(TERM="xterm-256color")
        self.proc = subprocess.Popen([sys.executable, "-m", "realtime_client", *args], cwd=ROOT, env=env,
                                     stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self._raw: List[bytes] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="test-pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    with self._lock:
                        self._raw.append(data)
                    # Answer cursor position requests as a terminal would (row 10 of 24), so
                    # prompt_toolkit knows there is room below the prompt for its toolbar.
                    for _ in range(data.count(b"\x1b[6n")):
                        os.write(self.master, b"\x1b[10;1R")
                elif self.proc.poll() is not None:
                    return
            except OSError:  # the child closed the terminal
                return

    @property
    def text(self) -> str:
        with self._lock:
            raw = b"".join(self._raw)
        return _ANSI.sub("", raw.decode("utf-8", errors="replace"))

    def wait_for(self, pattern: str, timeout: float = 20.0, after: str = "") -> str:
        """Wait until ``pattern`` is drawn (after the last ``after``, if given); return the text.

        prompt_toolkit redraws only the characters that changed, so a pattern should be
        something drawn afresh: a printed line, or a toolbar line when it first appears.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.text
            start = text.rfind(after) if after else 0
            if start >= 0 and re.search(pattern, text[start:]):
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared on the screen:\n{self.text[-3000:]}")

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def exit_status(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[List[Terminal]]:
    """Terminals a test opens; their processes are killed and reaped afterwards."""
    made: List[Terminal] = []
    yield made
    for term in made:
        term.close()


def _open(made: List[Terminal], *args: str) -> Terminal:
    term = Terminal("chat", *args)
    made.append(term)
    term.wait_for(r"Ctrl\+D quit(?!s)")  # the toolbar is drawn: connected and waiting for keys
    return term


def test_type_interrupt_and_ctrl_c(terminal: List[Terminal]) -> None:
    """Typed lines are answered, Esc cuts a streaming answer off, Ctrl+C exits 130 cleanly."""
    term = _open(terminal, "--no-audio")
    assert "embedded fake server" in term.text
    term.press("hello there\r")
    term.wait_for(r"you: hello there")
    term.wait_for(r"assistant: You said: hello there")
    long_line = "please tell me a very long story about the sea, the ships, the whales and the stars"
    term.press(long_line + "\r")
    term.wait_for(r"assistant: You", after="you: " + long_line)  # the answer is streaming
    term.press("\x1b")  # Esc: interrupt
    screen = term.wait_for(r"\[interrupted\]")
    # The printed line may follow the toolbar's redraw on the same stripped line: take the
    # text between the last "assistant: " label and the marker.
    cut = screen[:screen.rindex("[interrupted]")].rsplit("assistant: ", 1)[-1].strip()
    full = "You said: " + long_line
    assert cut and full.startswith(cut) and len(cut) < len(full), screen[-1500:]
    term.press("\x03")  # Ctrl+C
    assert term.exit_status() == 130
    assert "Traceback" not in term.text


def test_talk_key_without_a_microphone_and_ctrl_d(terminal: List[Terminal]) -> None:
    """Ctrl+T explains there is no microphone with --no-audio; Ctrl+D quits with status 0."""
    term = _open(terminal, "--no-audio", "--push-to-talk")
    term.press("\x14")  # Ctrl+T
    term.wait_for(r"no microphone \(--no-audio\)")
    term.press("\x04")  # Ctrl+D on an empty line
    assert term.exit_status() == 0
    assert "Traceback" not in term.text
