"""A Qt (PySide6) voice chat: a streaming transcript, level meters, push-to-talk, interrupt, devices.

    pip install PySide6-Essentials
    python examples/qt_voice.py [--no-audio]

Talks to OpenAI when OPENAI_API_KEY is set, otherwise to an embedded FakeRealtimeServer.
Without a sound card (or with --no-audio) there is no microphone, and the assistant plays into
a silent speaker that keeps real time. Every client callback runs on the Qt GUI thread
(``qt_dispatcher``; without it callbacks would touch widgets from another thread and crash)
and nothing blocks that thread: ``connect(wait=False)`` returns at once, and the outcome
arrives as state changes (or ``on_error``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, List, Optional

from _common import Backend, audio_devices, audio_options, device_choices, meter, open_backend, transcript
from PySide6.QtCore import QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from realtime_client import ClientState, RealtimeClient, RealtimeError
from realtime_client.dispatch import qt_dispatcher


class App(QWidget):
    """The chat window. Tests drive it through its widgets, as a user would."""

    def __init__(self, backend: Backend, *, devices: List[Any], **client_options: Any) -> None:
        super().__init__()
        self.backend = backend
        self.options = {**audio_options(bool(devices)), **client_options}
        self.inputs, self.outputs = device_choices(devices, "input"), device_choices(devices, "output")
        self.dispatch = qt_dispatcher()
        self.client: Optional[RealtimeClient] = None

        self.setWindowTitle(f"realtime-client: {backend.label}")
        self.status = QLabel("idle")
        self.connect_button = QPushButton("Connect", clicked=self.toggle_connection)
        self.transcript = QPlainTextEdit(readOnly=True)
        self.transcript.setMinimumSize(480, 240)
        self.mic_meter, self.speaker_meter = (QProgressBar(maximum=1000, textVisible=False) for _ in "12")
        self.entry = QLineEdit(placeholderText="Type a message and press Enter", returnPressed=self.send)
        self.send_button = QPushButton("Send", clicked=self.send)
        self.talk_button = QPushButton("Hold to talk", pressed=lambda: self.talk(True),
                                       released=lambda: self.talk(False))
        self.interrupt_button = QPushButton("Interrupt", clicked=self.interrupt)
        self.input_picker, self.output_picker = QComboBox(), QComboBox()
        self.input_picker.addItems(list(self.inputs))
        self.output_picker.addItems(list(self.outputs))
        self.notice = QLabel(wordWrap=True, styleSheet="color: firebrick")

        grid = QGridLayout(self)
        grid.addWidget(self.status, 0, 0, 1, 3)
        grid.addWidget(self.connect_button, 0, 3)
        grid.addWidget(self.transcript, 1, 0, 1, 4)
        grid.addWidget(QLabel("mic"), 2, 0)
        grid.addWidget(self.mic_meter, 2, 1, 1, 3)
        grid.addWidget(QLabel("speaker"), 3, 0)
        grid.addWidget(self.speaker_meter, 3, 1, 1, 3)
        grid.addWidget(self.entry, 4, 0, 1, 3)
        grid.addWidget(self.send_button, 4, 3)
        grid.addWidget(self.talk_button, 5, 0, 1, 2)
        grid.addWidget(self.interrupt_button, 5, 2, 1, 2)
        grid.addWidget(QLabel("Microphone"), 6, 0)
        grid.addWidget(self.input_picker, 6, 1)
        grid.addWidget(QLabel("Speaker"), 6, 2)
        grid.addWidget(self.output_picker, 6, 3)
        grid.addWidget(self.notice, 7, 0, 1, 4)
        self.meter_timer = QTimer(self, interval=50, timeout=self.tick)
        self.meter_timer.start()
        self.show_controls("idle")

    # --- the client ---------------------------------------------------------------------------

    def toggle_connection(self) -> None:
        """Connect with the chosen devices (devices are fixed per client), or disconnect."""
        old, self.client = self.client, None
        if old is not None:
            was_live = old.status not in ("idle", "error")
            old.destroy()  # joins the client's threads: well under a second
            if was_live:
                self.show_controls("idle")
                return
        options = {"vad_mode": "manual", "auto_capture": False,  # the mic opens while "Hold to talk" is down
                   "input_device": self.inputs[self.input_picker.currentText()],
                   "output_device": self.outputs[self.output_picker.currentText()], **self.options}
        self.client = RealtimeClient(
            get_token=self.backend.get_token, adapter=self.backend.adapter, dispatcher=self.dispatch,
            on_state_change=self.show_state, on_connect=lambda: self.notice.setText(""),
            on_error=self.show_error, **options)
        self.client.connect(wait=False)

    def show_state(self, state: ClientState) -> None:
        text = transcript(state)
        if text != self.transcript.toPlainText():
            self.transcript.setPlainText(text)
            self.transcript.verticalScrollBar().setValue(self.transcript.verticalScrollBar().maximum())
        self.status.setText(f"{state.status.value} · {state.mode.value}")
        self.show_controls(state.status.value)

    def show_controls(self, status: str) -> None:
        live = status == "connected"
        busy = status in ("connecting", "connected", "reconnecting")
        for widget in (self.entry, self.send_button, self.talk_button, self.interrupt_button):
            widget.setEnabled(live)
        for picker in (self.input_picker, self.output_picker):
            picker.setEnabled(not busy and picker.count() > 1)
        self.connect_button.setText("Disconnect" if busy else "Connect")
        if not busy:
            self.status.setText(status)

    def show_error(self, error: RealtimeError) -> None:
        self.notice.setText(str(error))  # "[CODE] what happened"

    # --- the controls ---------------------------------------------------------------------------

    def send(self) -> None:
        text = self.entry.text().strip()
        if text and self.client is not None and self.client.status == "connected":
            self.client.send_text(text)
            self.entry.clear()

    def talk(self, pressed: bool) -> None:
        """Push-to-talk: the microphone streams while the button is held; release commits the turn."""
        if self.client is None or self.client.status != "connected":
            return
        try:
            if pressed:
                self.client.start_listening()
            else:
                self.client.stop_listening()
        except RealtimeError as error:  # e.g. no microphone
            self.show_error(error)

    def interrupt(self) -> None:
        if self.client is not None:
            self.client.interrupt()

    def tick(self) -> None:
        """Redraw the level meters (every 50 ms)."""
        audio = self.client.audio if self.client is not None else None
        levels = (audio.input_level, audio.output_level) if audio is not None else (0.0, 0.0)
        for bar, level in zip((self.mic_meter, self.speaker_meter), levels):
            bar.setValue(round(1000 * meter(level)))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.client is not None:
            self.client.destroy()
        super().closeEvent(event)


def main() -> None:
    parser = argparse.ArgumentParser(description="A Qt voice chat with a realtime model.")
    parser.add_argument("--no-audio", action="store_true", help="no microphone; play into a silent speaker")
    args, qt_args = parser.parse_known_args()
    app = QApplication([sys.argv[0], *qt_args])
    devices = [] if args.no_audio else audio_devices()
    backend = open_backend()
    print(f"talking to {backend.label}" + ("" if devices else ", without audio devices"))
    window = App(backend, devices=devices)
    window.show()
    window.toggle_connection()
    # Ctrl+C in the terminal closes the window (the meter timer lets Python see the signal);
    # left to itself, the KeyboardInterrupt would land inside a Qt slot.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    try:
        app.exec()
    finally:
        backend.close()


if __name__ == "__main__":
    main()
