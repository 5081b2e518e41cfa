"""A long Gemini conversation across many goAway moves (accelerated), with nothing lost."""

from __future__ import annotations

from benchmarks.bench_gemini_resume import conversation


def test_a_long_conversation_across_go_away_loses_no_message_and_no_user_audio():
    """Eight minutes of conversation at 60x with a goAway every two minutes (the benchmark at a
    smaller scale): every connection after the first resumed proactively, every question got
    its answer, and the server heard all the microphone audio."""
    result = conversation(minutes=8.0, every=2.0)
    assert result["connections"] >= 4 and result["resumed"] == result["connections"] - 1
    assert result["server_closed"] == 0, "the server had to end a connection itself"
    assert result["moves"] == result["connections"] - 1, result
    assert result["lost_messages"] == 0 and result["asked"] > 20
    assert result["lost_audio_ms"] < 100, result
