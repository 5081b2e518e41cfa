"""Audio devices for :class:`~realtime_client.RealtimeClient`, and device listing.

* :class:`PyAudioInput` / :class:`PyAudioOutput`: microphone and speaker through PyAudio;
  :func:`list_devices` shows what exists (:class:`AudioDevice`).
* :class:`WavFileInput`: a 16-bit WAV file played into the conversation like a microphone.
* :class:`BufferOutput`: a "speaker" that records into memory at real-time pace
  (``.played`` is what was heard); :class:`WavFileOutput` records into a WAV file.
* :class:`AudioVisualization`: levels, spectra and waveforms (``client.audio``).

Any object with the same methods works too (see ``AudioInput`` / ``AudioOutput`` in
``realtime_client._types``). pyaudio is imported only when a PyAudio device is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from ._analysis import AudioVisualization
from ._files import BufferOutput, WavFileInput, WavFileOutput

if TYPE_CHECKING:
    from ._pyaudio import AudioDevice, PyAudioInput, PyAudioOutput, list_devices

__all__ = [
    "AudioDevice",
    "AudioVisualization",
    "BufferOutput",
    "PyAudioInput",
    "PyAudioOutput",
    "WavFileInput",
    "WavFileOutput",
    "list_devices",
]

_LAZY = ("AudioDevice", "PyAudioInput", "PyAudioOutput", "list_devices")

for _obj in (AudioVisualization, BufferOutput, WavFileInput, WavFileOutput):
    _obj.__module__ = __name__
del _obj


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _pyaudio

        value = getattr(_pyaudio, name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
