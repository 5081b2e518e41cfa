"""What the examples share: what they talk to, audio choices, and the transcript as text.

Used by ``script_ask.py``, ``tk_voice.py`` and ``qt_voice.py``; copy it along with them.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, List, NamedTuple

from realtime_client import ClientState, RealtimeError
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput


class Backend(NamedTuple):
    """Where a client connects: its token source and adapter, a label to show, and a cleanup."""

    get_token: Callable[[], Any]
    adapter: Any
    label: str
    close: Callable[[], None]


def open_backend() -> Backend:
    """OpenAI with tokens minted from ``OPENAI_API_KEY``, or a started ``FakeRealtimeServer``."""
    if os.environ.get("OPENAI_API_KEY"):
        from realtime_client.tokens import openai_realtime_token

        return Backend(openai_realtime_token(), openai_realtime(), "OpenAI", lambda: None)
    from realtime_client.testing import FakeRealtimeServer

    server = FakeRealtimeServer().start()  # it answers "You said: ..." to whatever it is told
    return Backend(server.get_token, server.adapter(), "the embedded fake server", server.stop)


def audio_devices() -> List[Any]:
    """The PyAudio devices there are; an empty list when there is no sound card (or no PyAudio)."""
    try:
        from realtime_client.audio import list_devices

        return list_devices()
    except RealtimeError:
        return []


def audio_options(audio: bool) -> Dict[str, Any]:
    """Client options: the default microphone and speaker, or a silent speaker that keeps real time.

    Without a sound card the default devices fail to open (``AUDIO_DEVICE``); a ``BufferOutput``
    plays the assistant's audio into memory at real-time pace, so modes, levels and
    ``wait_for_playback()`` behave as they would with a speaker.
    """
    return {} if audio else {"audio_output": BufferOutput(), "auto_capture": False}


def device_choices(devices: List[Any], direction: str) -> Dict[str, Any]:
    """Picker entries for one direction: label -> ``input_device``/``output_device`` value."""
    channels = "max_input_channels" if direction == "input" else "max_output_channels"
    choices: Dict[str, Any] = {"system default": None}
    choices.update({f"{d.index}: {d.name}": d.index for d in devices if getattr(d, channels) > 0})
    return choices


def transcript(state: ClientState) -> str:
    """The conversation as text: finished messages, then what is still being transcribed."""
    lines = [f"{m.role}: {m.text.strip()}{' [interrupted]' if m.interrupted else ''}" for m in state.messages]
    if state.pending_user_transcript:
        lines.append(f"user: {state.pending_user_transcript} …")
    if state.pending_assistant_transcript:
        lines.append(f"assistant: {state.pending_assistant_transcript} …")
    return "\n\n".join(lines)


def meter(level: float) -> float:
    """A level (RMS, 0-1) on a meter's scale: -60 dBFS is empty, 0 dBFS is full."""
    return 0.0 if level <= 0.001 else min(1.0, 1.0 + 20.0 * math.log10(level) / 60.0)
