"""``chat`` with real audio devices: PulseAudio null sinks behind ALSA (tests/audio/conftest.py).

The CLI runs as a real process on the virtual devices: its speaker plays into ``spk`` (the
test records ``spk_tap``), and its microphone hears what the test plays into ``mic_feed``.
The embedded fake server speaks with espeak-ng and hears with pocketsphinx (approximate, so
the assertions look for any of a few keywords).
"""

from __future__ import annotations

import re
from typing import List

import numpy as np

from realtime_client.testing._audio import rms_dbfs
from tests.audio.conftest import VirtualAudio, pulse_session, virtual_audio  # noqa: F401 (fixtures)
from tests.test_cli import run_cli
from tests.test_cli_tui import Terminal, terminal  # noqa: F401 (fixture)
from tests.testing.test_speech import EspeakVoice, SphinxEar, ear, espeak  # noqa: F401 (fixtures)


def _loud_seconds(samples: np.ndarray, rate: int) -> float:
    """Seconds of 20 ms frames louder than -45 dBFS."""
    frame = rate // 50
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    return sum(1 for f in frames if rms_dbfs(f) > -45.0) * 0.02


def test_piped_chat_speaks_on_the_speaker(virtual_audio: VirtualAudio, espeak: EspeakVoice) -> None:  # noqa: F811
    """Script mode plays each spoken answer on the default output before it moves on or exits."""
    recorder = virtual_audio.recorder("spk_tap", virtual_audio.spk_rate).start()
    try:
        done = run_cli("chat", stdin="hello\n")
    finally:
        played = recorder.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["You said: hello"]
    expected = espeak("You said: hello", virtual_audio.spk_rate)
    assert expected is not None
    expected_s = _loud_seconds(expected, virtual_audio.spk_rate)
    heard_s = _loud_seconds(played, virtual_audio.spk_rate)
    assert 0.8 * expected_s <= heard_s <= 1.3 * expected_s + 0.1, (heard_s, expected_s)


def test_interactive_chat_hears_the_microphone(virtual_audio: VirtualAudio, espeak: EspeakVoice,  # noqa: F811
                                               ear: SphinxEar, terminal: List[Terminal]) -> None:  # noqa: F811
    """Speech into the microphone shows on the meter, becomes a "you:" line and is answered."""
    term = Terminal("chat")
    terminal.append(term)
    term.wait_for(r"Ctrl\+D quit(?!s)")
    assert "recognised by pocketsphinx" in term.text
    speech = espeak("hello world", virtual_audio.mic_rate)
    assert speech is not None
    feeder = virtual_audio.feeder("mic_feed", virtual_audio.mic_rate).play(
        np.concatenate([np.zeros(virtual_audio.mic_rate // 2, np.int16), speech]))
    try:
        term.wait_for("\u2588")  # the input meter fills while the speech plays
        screen = term.wait_for(r"assistant: You said: ", timeout=30)
    finally:
        feeder.close()
    # a redraw can leave the pending transcript in front of the final line ("helloyou: hello world")
    said = [line.split("you: ")[-1] for line in re.findall(r"you: ([^\n]*)", screen)]
    answered = re.findall(r"assistant: You said: ([^\n]*)", screen)
    # pocketsphinx is approximate ("hello world" also comes back as "no where else" when the
    # machine is busy): assert the loop, mic -> recognised words -> the answer repeating them
    assert said and said[-1].strip(), said
    assert answered and answered[-1].strip() == said[-1].strip(), (said, answered)
    term.press("\x04")  # Ctrl+D
    assert term.exit_status() == 0
    assert "Traceback" not in term.text
