"""A Tkinter voice chat: a streaming transcript, level meters, push-to-talk, interrupt, devices.

    python examples/tk_voice.py [--no-audio]

Talks to OpenAI when OPENAI_API_KEY is set, otherwise to an embedded FakeRealtimeServer.
Without a sound card (or with --no-audio) there is no microphone, and the assistant plays into
a silent speaker that keeps real time. Every client callback runs on the Tk thread
(``tk_dispatcher``) and nothing blocks it: ``connect(wait=False)`` returns at once, and the
outcome arrives as state changes (or ``on_error``).
"""

from __future__ import annotations

import argparse
import tkinter as tk
from tkinter import ttk
from typing import Any, List, Optional

from _common import Backend, audio_devices, audio_options, device_choices, meter, open_backend, transcript

from realtime_client import ClientState, RealtimeClient, RealtimeError
from realtime_client.dispatch import tk_dispatcher


class App:
    """The chat window. Tests drive it through its widgets, as a user would."""

    def __init__(self, root: tk.Tk, backend: Backend, *, devices: List[Any], **client_options: Any) -> None:
        self.root, self.backend = root, backend
        self.options = {**audio_options(bool(devices)), **client_options}
        self.inputs, self.outputs = device_choices(devices, "input"), device_choices(devices, "output")
        self.dispatch = tk_dispatcher(root)
        self.client: Optional[RealtimeClient] = None

        root.title(f"realtime-client: {backend.label}")
        root.protocol("WM_DELETE_WINDOW", self.close)
        frame = ttk.Frame(root, padding=8)
        frame.pack(fill="both", expand=True)
        frame.columnconfigure(1, weight=1)
        frame.columnconfigure(3, weight=1)
        frame.rowconfigure(1, weight=1)

        self.status = ttk.Label(frame, text="idle")
        self.connect_button = ttk.Button(frame, text="Connect", command=self.toggle_connection)
        self.transcript = tk.Text(frame, wrap="word", width=64, height=14, state="disabled")
        self.meters = tk.Canvas(frame, height=34, highlightthickness=0)
        self.bars = [self._meter_row(row, name) for row, name in enumerate(("mic", "speaker"))]
        self.entry = ttk.Entry(frame)
        self.entry.bind("<Return>", lambda _event: self.send())
        self.send_button = ttk.Button(frame, text="Send", command=self.send)
        self.talk_button = ttk.Button(frame, text="Hold to talk")
        self.talk_button.bind("<ButtonPress-1>", lambda _event: self.talk(True))
        self.talk_button.bind("<ButtonRelease-1>", lambda _event: self.talk(False))
        self.interrupt_button = ttk.Button(frame, text="Interrupt", command=self.interrupt)
        self.input_picker = ttk.Combobox(frame, values=list(self.inputs), state="readonly")
        self.output_picker = ttk.Combobox(frame, values=list(self.outputs), state="readonly")
        self.notice = ttk.Label(frame, foreground="firebrick", wraplength=480)

        self.status.grid(row=0, column=0, columnspan=3, sticky="w")
        self.connect_button.grid(row=0, column=3, sticky="e")
        self.transcript.grid(row=1, column=0, columnspan=4, sticky="nsew", pady=4)
        self.meters.grid(row=2, column=0, columnspan=4, sticky="ew")
        self.entry.grid(row=3, column=0, columnspan=3, sticky="ew", pady=4)
        self.send_button.grid(row=3, column=3, sticky="ew")
        self.talk_button.grid(row=4, column=0, columnspan=2, sticky="ew")
        self.interrupt_button.grid(row=4, column=2, columnspan=2, sticky="ew")
        ttk.Label(frame, text="Microphone").grid(row=5, column=0, sticky="w", pady=4)
        self.input_picker.grid(row=5, column=1, sticky="ew", padx=4)
        ttk.Label(frame, text="Speaker").grid(row=5, column=2, sticky="w")
        self.output_picker.grid(row=5, column=3, sticky="ew", padx=4)
        self.notice.grid(row=6, column=0, columnspan=4, sticky="w")
        self.input_picker.current(0)
        self.output_picker.current(0)
        self.show_controls("idle")
        self.tick()

    def _meter_row(self, row: int, name: str) -> int:
        y = 2 + 16 * row
        self.meters.create_text(2, y + 6, text=name, anchor="w")
        self.meters.create_rectangle(60, y, 460, y + 12, outline="grey60")
        return self.meters.create_rectangle(60, y, 60, y + 12, fill="seagreen", width=0)

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
                   "input_device": self.inputs[self.input_picker.get()],
                   "output_device": self.outputs[self.output_picker.get()], **self.options}
        self.client = RealtimeClient(
            get_token=self.backend.get_token, adapter=self.backend.adapter, dispatcher=self.dispatch,
            on_state_change=self.show_state, on_connect=lambda: self.notice.configure(text=""),
            on_error=self.show_error, **options)
        self.client.connect(wait=False)

    def show_state(self, state: ClientState) -> None:
        text = transcript(state)
        if text != self.transcript.get("1.0", "end-1c"):
            self.transcript.configure(state="normal")
            self.transcript.replace("1.0", "end", text)
            self.transcript.configure(state="disabled")
            self.transcript.see("end")
        self.status.configure(text=f"{state.status.value} · {state.mode.value}")
        self.show_controls(state.status.value)

    def show_controls(self, status: str) -> None:
        live = status == "connected"
        busy = status in ("connecting", "connected", "reconnecting")
        for widget in (self.entry, self.send_button, self.talk_button, self.interrupt_button):
            widget.state(["!disabled"] if live else ["disabled"])
        for picker in (self.input_picker, self.output_picker):
            picker.state(["disabled"] if busy or len(picker["values"]) < 2 else ["!disabled", "readonly"])
        self.connect_button.configure(text="Disconnect" if busy else "Connect")
        if not busy:
            self.status.configure(text=status)

    def show_error(self, error: RealtimeError) -> None:
        self.notice.configure(text=str(error))  # "[CODE] what happened"

    # --- the controls ---------------------------------------------------------------------------

    def send(self) -> None:
        text = self.entry.get().strip()
        if text and self.client is not None and self.client.status == "connected":
            self.client.send_text(text)
            self.entry.delete(0, "end")

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
        """Redraw the level meters, 20 times a second."""
        audio = self.client.audio if self.client is not None else None
        levels = (audio.input_level, audio.output_level) if audio is not None else (0.0, 0.0)
        for bar, level in zip(self.bars, levels):
            x0, y0, _, y1 = self.meters.coords(bar)
            self.meters.coords(bar, x0, y0, x0 + 400 * meter(level), y1)
        self.root.after(50, self.tick)

    def close(self) -> None:
        if self.client is not None:
            self.client.destroy()
        self.root.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description="A Tkinter voice chat with a realtime model.")
    parser.add_argument("--no-audio", action="store_true", help="no microphone; play into a silent speaker")
    args = parser.parse_args()
    devices = [] if args.no_audio else audio_devices()
    backend = open_backend()
    print(f"talking to {backend.label}" + ("" if devices else ", without audio devices"))
    root = tk.Tk()
    app = App(root, backend, devices=devices)
    app.toggle_connection()
    try:
        root.mainloop()
    except KeyboardInterrupt:  # Ctrl+C in the terminal
        app.close()
    finally:
        backend.close()


if __name__ == "__main__":
    main()
