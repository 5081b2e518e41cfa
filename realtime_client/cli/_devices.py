"""``realtime-client devices``: the audio devices PortAudio sees, with their default rates."""

from __future__ import annotations

from typing import IO, Any, List

from ._errors import EXIT_OK

__all__ = ["format_devices", "run_devices"]


def format_devices(devices: List[Any]) -> List[str]:
    """Lines describing ``devices`` (:class:`~realtime_client.audio.AudioDevice`), inputs first.

    A ``*`` marks the default device of each direction.
    """
    lines: List[str] = []
    for title, channels, rates, is_default in (
            ("input devices (microphones):", "max_input_channels", "input_rates", "is_default_input"),
            ("output devices (speakers):", "max_output_channels", "output_rates", "is_default_output")):
        chosen = [d for d in devices if getattr(d, channels) > 0]
        lines.append(title)
        if not chosen:
            lines.append("  (none)")
        for device in chosen:
            mark = "*" if getattr(device, is_default) else " "
            supported = ", ".join(str(r) for r in getattr(device, rates)) or "none of the common rates"
            lines.append(f"  {mark}{device.index:>3}  {device.name}  ({getattr(device, channels)} ch, "
                         f"default {device.default_sample_rate:g} Hz; opens at: {supported})")
    lines.append("* = default device; pass an index or part of a name to "
                 "chat --input-device/--output-device")
    return lines


def run_devices(out: IO[str]) -> int:
    """List the devices on ``out``.

    Raises:
        AudioDeviceError: PyAudio is missing or PortAudio cannot start (the CLI prints one line).
    """
    from ..audio import list_devices

    for line in format_devices(list_devices()):
        print(line, file=out)
    return EXIT_OK
