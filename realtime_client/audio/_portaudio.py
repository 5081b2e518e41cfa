"""PortAudio plumbing shared by the PyAudio devices: quiet native logging, one PyAudio instance at
a time, device lookup by index or name, and choosing a sample rate the device accepts.

Native noise: alsa-lib and JACK print probe errors through handlers that
:func:`silence_native_audio_logs` replaces. PortAudio's ALSA host API also prints every failed
ALSA call ("Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c'") straight to file
descriptor 2, and exports no hook for it, so while PortAudio initializes, probes rates or
opens a stream, fd 2 points at ``/dev/null`` (anything another thread writes to stderr during
those few milliseconds is lost too). Failures still surface, as :class:`AudioDeviceError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from typing import Any, Dict, Iterator, List, Tuple, Union

from .._errors import AudioDeviceError

__all__ = ["COMMON_RATES", "DeviceSpec", "silence_native_audio_logs"]  # and the _helpers _pyaudio uses

_log = logging.getLogger("realtime_client")

COMMON_RATES: Tuple[int, ...] = (8000, 16000, 22050, 24000, 44100, 48000)
# When the wanted rate does not open and neither does the device's default: the rates
# hardware most often runs at, best first (any of them resamples cleanly to the provider's).
_FALLBACK_RATES: Tuple[int, ...] = (48000, 44100, 96000, 32000, 24000, 16000, 22050, 8000)

DeviceSpec = Union[int, str, None]


def _ignore_alsa(*_args: Any) -> None:
    return None


def _ignore_jack(_msg: Any) -> None:
    return None


# alsa-lib and libjack keep these C pointers: they must live as long as the process.
_ALSA_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)(_ignore_alsa)
_JACK_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(_ignore_jack)
_silenced = False
_PA_LOCK = threading.Lock()  # Pa_Initialize/Pa_Terminate are not thread-safe
_STDERR_LOCK = threading.Lock()  # one fd-2 redirection at a time, so each restores the real one


def silence_native_audio_logs() -> None:
    """Stop alsa-lib and JACK from printing probe errors on stderr (idempotent)."""
    global _silenced
    if _silenced:
        return
    _silenced = True
    for lib, names, handler in (
        ("asound", ("snd_lib_error_set_handler",), _ALSA_HANDLER),
        ("jack", ("jack_set_error_function", "jack_set_info_function"), _JACK_HANDLER),
    ):
        path = ctypes.util.find_library(lib)
        if not path:
            continue
        try:
            so = ctypes.CDLL(path)
            for name in names:
                getattr(so, name)(handler)
        except (OSError, AttributeError) as exc:
            _log.debug("could not silence %s: %s", lib, exc)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (PortAudio's ALSA error prints)."""
    with _STDERR_LOCK:
        saved = devnull = -1
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        except (OSError, ValueError, AttributeError):  # no fd 2 (or no sys.stderr): nothing to hide
            if saved >= 0:
                os.close(saved)
            saved = -1
        try:
            yield
        finally:
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)
            if devnull >= 0:
                os.close(devnull)


def _pyaudio_module() -> Any:
    try:
        import pyaudio
    except ImportError as exc:
        raise AudioDeviceError(
            "PyAudio is not installed: run `pip install pyaudio` (on Debian/Ubuntu install "
            "`portaudio19-dev` first), or use realtime_client.audio.WavFileInput/BufferOutput"
        ) from exc
    return pyaudio


def _new_pa() -> Any:
    pyaudio = _pyaudio_module()
    silence_native_audio_logs()
    with _PA_LOCK, _quiet_stderr():
        try:
            return pyaudio.PyAudio()
        except Exception as exc:
            raise AudioDeviceError(f"PortAudio failed to initialize: {exc}") from exc


def _terminate(pa: Any) -> None:
    with _PA_LOCK:
        try:
            pa.terminate()
        except Exception as exc:
            _log.debug("PortAudio terminate failed: %s", exc)


def _infos(pa: Any) -> List[Dict[str, Any]]:
    return [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]


def _inventory(infos: List[Dict[str, Any]]) -> str:
    if not infos:
        return (
            "PortAudio sees no audio devices at all (no sound card, no running sound server, "
            "or an ALSA configuration without PCMs)"
        )
    shown = ", ".join(
        f"[{d['index']}] {d['name']!r} ({d['maxInputChannels']} in / {d['maxOutputChannels']} out, "
        f"{int(d['defaultSampleRate'])} Hz)"
        for d in infos
    )
    return f"available devices: {shown}"


def _fail(message: str, infos: List[Dict[str, Any]], device: DeviceSpec) -> AudioDeviceError:
    return AudioDeviceError(
        f"{message}; {_inventory(infos)}",
        details={"device": device, "devices": [d["name"] for d in infos]},
    )


def _resolve(pa: Any, device: DeviceSpec, direction: str) -> Dict[str, Any]:
    infos = _infos(pa)
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    if device is None:
        try:
            if direction == "input":
                return dict(pa.get_default_input_device_info())
            return dict(pa.get_default_output_device_info())
        except (OSError, ValueError) as exc:
            raise _fail(f"there is no default {direction} device ({exc})", infos, device) from exc
    if isinstance(device, bool) or not isinstance(device, (int, str)):
        raise TypeError(f"device must be an index, a name or None, got {type(device).__name__}")
    if isinstance(device, int):
        if not 0 <= device < len(infos):
            raise _fail(f"there is no audio device with index {device}", infos, device)
        if infos[device][key] < 1:
            raise _fail(
                f"audio device {device} ({infos[device]['name']!r}) has no {direction} channels",
                infos,
                device,
            )
        return infos[device]
    wanted = device.casefold()
    usable = [d for d in infos if d[key] > 0]
    exact = [d for d in usable if str(d["name"]).casefold() == wanted]
    matches = exact or [d for d in usable if wanted in str(d["name"]).casefold()]
    if not matches:
        raise _fail(f"no {direction} device name contains {device!r}", infos, device)
    return matches[0]


def _supports(pa: Any, index: int, direction: str, rate: int) -> bool:
    pyaudio = _pyaudio_module()
    if direction == "input":
        kwargs = dict(input_device=index, input_channels=1, input_format=pyaudio.paInt16)
    else:
        kwargs = dict(output_device=index, output_channels=1, output_format=pyaudio.paInt16)
    try:
        with _quiet_stderr():
            return bool(pa.is_format_supported(rate, **kwargs))
    except (ValueError, OSError):
        return False


def _choose_rate(pa: Any, info: Dict[str, Any], direction: str, wanted: int) -> int:
    """``wanted`` if the device opens at it, else its default rate, else a common hardware rate."""
    default = int(info["defaultSampleRate"])
    candidates = [wanted] + [r for r in (default, *_FALLBACK_RATES) if r != wanted]
    for rate in dict.fromkeys(candidates):
        if _supports(pa, info["index"], direction, rate):
            if rate != wanted:
                _log.info("%s device %r cannot run at %d Hz; using %d Hz (resampled)",
                          direction, info["name"], wanted, rate)
            return rate
    return default  # nothing probes as supported: let the open fail and report why


