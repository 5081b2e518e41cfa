"""The README's first command: the demo against the embedded fake server."""

from __future__ import annotations

import wave

from realtime_client._demo import run_demo


def test_the_demo_writes_every_answer_to_the_wav(tmp_path, capsys):
    """All of the last answer is in the WAV: the demo waits for playback, not for a mode."""
    out = tmp_path / "assistant.wav"
    assert run_demo(out=str(out)) == 0
    printed = capsys.readouterr().out
    assert "tool call: get_weather" in printed and "Goodbye" in printed
    with wave.open(str(out), "rb") as wav:
        seconds = wav.getnframes() / wav.getframerate()
    durations = [float(line.split("[")[1].split(" s")[0])
                 for line in printed.splitlines() if "s audio]" in line]
    assert len(durations) == 3 and abs(seconds - sum(durations)) < 0.15, (seconds, durations)


def test_the_demo_also_speaks_elevenlabs(tmp_path, capsys):
    """demo --provider elevenlabs runs the same three turns against the fake ElevenLabs agent."""
    out = tmp_path / "assistant.wav"
    assert run_demo(out=str(out), provider="elevenlabs") == 0
    printed = capsys.readouterr().out
    assert "provider=elevenlabs" in printed and "tool call: get_weather" in printed and "Goodbye" in printed


def test_the_live_demo_is_openai_only(capsys):
    """demo --live with another provider says it talks to OpenAI only."""
    assert run_demo(live=True, provider="elevenlabs") == 2
    assert "OpenAI only" in capsys.readouterr().err


def test_the_demo_speaks_grok_and_azure_too(tmp_path, capsys):
    """demo --provider grok|azure runs the same conversation against that provider's fake."""
    from realtime_client.cli import main

    for provider in ("grok", "azure"):
        out = tmp_path / f"{provider}.wav"
        assert main(["demo", "--provider", provider, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "tool call: get_weather" in printed and "Goodbye" in printed and provider in printed
    assert main(["demo", "--provider", "grok", "--live"]) == 2


def test_the_demo_speaks_gemini_too(tmp_path, capsys):
    """`demo --provider gemini` runs the same three turns against the fake Gemini server."""
    from realtime_client.cli import main

    out = tmp_path / "gemini.wav"
    assert main(["demo", "--provider", "gemini", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "provider=gemini" in printed and "tool call: get_weather" in printed and "Goodbye" in printed
    with wave.open(str(out), "rb") as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0
