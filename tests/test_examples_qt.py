"""The Qt chat (``examples/qt_voice.py``) driven offscreen, and the Qt side of ``realtime_client.dispatch``.

Each run is a child process (``python -m tests.test_examples_qt <mode>``, with
``QT_QPA_PLATFORM=offscreen``): one ``QApplication`` per process, a fresh one-per-process
warning, and what Qt prints while the process exits is part of what is checked. The child
reports as one JSON line on stdout.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from realtime_client.testing import FakeRealtimeServer
from tests import test_examples as ex

QT_PROBLEMS = ("QObject", "Traceback", "KeyboardInterrupt", "Segmentation", "Fatal Python error")


def run_child(*args: str, timeout: float = 60) -> Dict[str, Any]:
    """Run this module as a child offscreen (see :func:`tests.test_examples.run_child`)."""
    ex.importable("PySide6.QtWidgets", "PySide6 (pip install PySide6-Essentials)")
    return ex.run_child("tests.test_examples_qt", *args, timeout=timeout, QT_QPA_PLATFORM="offscreen")


def test_qt_voice_converses_draws_and_exits_cleanly(tmp_path: Path) -> None:
    """The Qt chat answers typed and spoken turns, is interrupted, draws, and exits without Qt warnings."""
    pil = ex.importable("PIL.Image", "pillow (pip install pillow)")
    shot = tmp_path / "qt_voice.png"
    report = run_child("example", str(shot), str(ex.speech_wav(tmp_path / "me.wav")))
    text = report["transcript"]
    assert text.count("user: ") == 3 and "assistant: You said: hello there" in text
    assert text.endswith("[interrupted]"), text
    assert report["peaks"][0] > 0.3 and report["peaks"][1] > 0.3, f"meters never moved: {report['peaks']}"
    assert report["threads_after_close"] == []
    problems = [line for line in report["stderr"].splitlines() if any(p in line for p in QT_PROBLEMS)]
    assert problems == [], "Qt complained (e.g. 'shared QObject was deleted directly'):\n" + report["stderr"]
    ex.assert_drawn(pil.open(shot))


def test_qt_voice_script_quits_cleanly_on_ctrl_c() -> None:
    """``python examples/qt_voice.py`` connects, and Ctrl+C closes it with nothing on stderr but Qt's note."""
    ex.importable("PySide6.QtWidgets", "PySide6 (pip install PySide6-Essentials)")
    child = ex.Child("qt_voice.py", "--no-audio", QT_QPA_PLATFORM="offscreen")
    child.expect("talking to the embedded fake server, without audio devices")
    time.sleep(1.0)  # the window connects meanwhile
    err = child.stop()
    problems = [line for line in err.splitlines() if any(p in line for p in QT_PROBLEMS)]
    assert problems == [], err


def test_default_dispatcher_warns_once_in_a_qt_app_and_qt_dispatcher_does_not() -> None:
    """Callbacks on realtime-callbacks warn once (naming qt_dispatcher) only while a QApplication exists."""
    report = run_child("warning")
    assert report["imported_no_app"] == [], "warned before any QApplication existed"
    assert report["qt_dispatcher"] == [], "warned although callbacks ran on the GUI thread"
    assert report["qt_dispatcher_threads"] == ["MainThread"]
    warnings = report["default_dispatcher"]
    assert len(warnings) == 1, warnings
    assert "qt_dispatcher()" in warnings[0] and "'realtime-callbacks' thread" in warnings[0]
    assert report["default_dispatcher_callbacks"] >= 4  # several callbacks ran; one warning only
    assert report["qt_imported_by_the_check"] is False  # looking for Qt never imports it


def test_qt_dispatcher_lives_and_dies_with_the_application() -> None:
    """qt_dispatcher needs an application, runs callbacks on its thread, and dies quietly with it."""
    report = run_child("lifetime")
    assert "create the QApplication" in report["without_app"]
    assert report["threads"] == ["MainThread", "MainThread"]  # also when made on another thread
    assert report["bridge_parent_is_app"] is True
    assert report["after_app_deleted"] == "dropped"  # no exception, nothing run
    assert report["ran_after_delete"] == []


# --- the child ---------------------------------------------------------------------------------------


class QtUI:
    """Drives ``examples/qt_voice.py``'s ``App`` with QTest: real key and mouse events."""

    def __init__(self, app: Any) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication

        self.app, self.qtest, self.left = app, QTest, Qt.MouseButton.LeftButton
        self.return_key = Qt.Key.Key_Return
        self.pump = ex.Pump(QApplication.processEvents, self._meters,
                         lambda: f"{self.status()!r}, {self.transcript()!r}")

    def _meters(self) -> List[float]:
        return [self.app.mic_meter.value() / 1000.0, self.app.speaker_meter.value() / 1000.0]

    def status(self) -> str:
        return str(self.app.status.text())

    def transcript(self) -> str:
        return str(self.app.transcript.toPlainText())

    def click(self, button: Any) -> None:
        self.qtest.mouseClick(button, self.left)

    def type(self, text: str) -> None:
        self.qtest.keyClicks(self.app.entry, text)

    def enter(self) -> None:
        self.qtest.keyClick(self.app.entry, self.return_key)

    def press(self, button: Any) -> None:
        self.qtest.mousePress(button, self.left)

    def release(self, button: Any) -> None:
        self.qtest.mouseRelease(button, self.left)


def drive_example(shot: str, speech: str) -> Dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from realtime_client.audio import WavFileInput

    qt_voice, common = ex.load_examples("qt_voice", "_common")
    app = QApplication([])
    with FakeRealtimeServer() as server:
        backend = common.Backend(server.get_token, server.adapter(), "the test's fake server", lambda: None)
        window = qt_voice.App(backend, devices=[], audio_input=WavFileInput(speech))
        window.show()
        ui = QtUI(window)
        try:
            ex.converse(ui, server)
            window.grab().save(shot)
            transcript = ui.transcript()
        finally:
            window.close()  # closeEvent destroys the client
        app.processEvents()
    return {"transcript": transcript, "peaks": ui.pump.peaks, "threads_after_close": ex.client_threads()}


def check_warning() -> Dict[str, Any]:
    from realtime_client import RealtimeClient
    from realtime_client.dispatch import qt_dispatcher

    warnings: List[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and "qt_dispatcher" in record.getMessage():
                warnings.append(record.getMessage())

    logging.getLogger("realtime_client").addHandler(Collect())
    app: Any = None

    def converse_with(server: FakeRealtimeServer, **options: Any) -> List[str]:
        """Two questions; returns the threads on_message ran on. Clears and returns warnings too."""
        threads: List[str] = []
        client = RealtimeClient(get_token=server.get_token, adapter=server.adapter(), auto_capture=False,
                                auto_playback=False, **options,
                                on_message=lambda m: threads.append(threading.current_thread().name))
        try:
            client.connect(timeout=10)
            for question in ("one", "two"):
                client.ask(question, timeout=10)
            end = time.monotonic() + 5
            while len(threads) < 4 and time.monotonic() < end:  # qt_dispatcher: run the GUI loop
                if app is not None:
                    app.processEvents()
                time.sleep(0.01)
        finally:
            client.destroy()
        return threads

    report: Dict[str, Any] = {}
    with FakeRealtimeServer() as server:
        converse_with(server)
        report["qt_imported_by_the_check"] = "PySide6" in sys.modules
        from PySide6.QtWidgets import QApplication

        converse_with(server)
        report["imported_no_app"], warnings[:] = list(warnings), []
        app = QApplication([])
        report["qt_dispatcher_threads"] = sorted(set(converse_with(server, dispatcher=qt_dispatcher())))
        report["qt_dispatcher"], warnings[:] = list(warnings), []
        report["default_dispatcher_callbacks"] = len(converse_with(server)) + len(converse_with(server))
        report["default_dispatcher"] = list(warnings)
    return report


def check_lifetime() -> Dict[str, Any]:
    import shiboken6
    from PySide6.QtWidgets import QApplication

    from realtime_client.dispatch import qt_dispatcher

    report: Dict[str, Any] = {}
    try:
        qt_dispatcher()
    except RuntimeError as exc:
        report["without_app"] = str(exc)
    app = QApplication([])
    made: List[Any] = []
    worker = threading.Thread(target=lambda: made.append(qt_dispatcher()), name="not-the-gui-thread")
    worker.start()
    worker.join()
    ran: List[str] = []
    for dispatch in (qt_dispatcher(), made[0]):
        dispatch(lambda: ran.append(threading.current_thread().name))
    end = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < end:
        app.processEvents()
    report["threads"] = ran
    report["bridge_parent_is_app"] = made[0].bridge.parent() is app
    late: List[str] = []
    made[0](lambda: late.append("pending when the application was deleted"))
    shiboken6.delete(app)
    made[0](lambda: late.append("scheduled after"))
    report["after_app_deleted"] = "dropped"
    report["ran_after_delete"] = late
    return report


if __name__ == "__main__":
    mode = sys.argv[1]
    result = {"example": lambda: drive_example(*sys.argv[2:]), "warning": check_warning,
              "lifetime": check_lifetime}[mode]()
    print(json.dumps(result), flush=True)
