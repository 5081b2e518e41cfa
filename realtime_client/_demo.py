"""The demo conversation behind ``python -m realtime_client demo``."""

from __future__ import annotations

import os
import sys
import wave
from pathlib import Path
from typing import Any, Dict

from ._client import RealtimeClient
from ._models import AudioPart, RealtimeMessage, TextPart, ToolCallPart
from ._tools import tool

QUESTIONS = ("Hi, who are you?", "What is the weather in Oslo?", "Thanks, bye!")


@tool
def get_weather(city: str) -> dict:
    """Get the current weather for a city."""
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


def print_message(msg: RealtimeMessage) -> None:
    """on_message callback: one line per part (runs on the realtime-callbacks thread)."""
    for part in msg.parts:
        if isinstance(part, TextPart):
            print(f"{msg.role:>9}: {part.content}", flush=True)
        elif isinstance(part, AudioPart):
            print(f"{msg.role:>9}: {part.transcript}  [{(part.duration_ms or 0) / 1000:.1f} s audio]",
                  flush=True)
        elif isinstance(part, ToolCallPart):
            print(f"{'tool call':>9}: {part.name}({part.arguments})", flush=True)


def run_demo(out: str = "demo-output/assistant.wav", live: bool = False, provider: str = "openai") -> int:
    """Run three turns (plain text, a tool call, another text) and write the assistant's audio.

    ``provider`` picks the protocol the embedded fake server speaks (a key of ``ADAPTERS``);
    ``live`` talks to OpenAI itself.
    """
    from .adapters import openai_realtime
    from .audio import WavFileOutput

    server: Any = None
    if live and provider != "openai":
        print(f"realtime-client: demo --live talks to OpenAI only; for {provider} use "
              f"'realtime-client chat --provider {provider}'", file=sys.stderr)
        return 2
    if live:
        if not os.environ.get("OPENAI_API_KEY"):
            print("realtime-client: demo --live needs OPENAI_API_KEY in the environment", file=sys.stderr)
            return 2
        from .tokens import openai_realtime_token

        base_url = os.environ.get("OPENAI_BASE_URL", "").strip()  # as the openai SDK reads it
        get_token: Any = (openai_realtime_token(base_url=base_url) if base_url
                          else openai_realtime_token())
        adapter = openai_realtime()
    else:
        from .testing import FakeRealtimeServer, Reply

        # espeak-ng speaks, when installed; the fake agent pings often, since ElevenLabs turns
        # end by a quiet ping interval
        options: Dict[str, Any] = {"ping_interval": 0.2} if provider == "elevenlabs" else {}
        server = FakeRealtimeServer(provider, speech="auto", provider_options=options).start()
        server.script(Reply.text("Hello! I am a demo assistant running on a local fake server."),
                      Reply.tool_call("get_weather", {"city": "Oslo"}),
                      Reply.text("It is 21 degrees and sunny in Oslo."),
                      Reply.text("Goodbye, and thanks for trying realtime-client!"))
        get_token = server.get_token
        adapter = server.adapter()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    client = RealtimeClient(get_token=get_token, adapter=adapter, tools=[get_weather], auto_capture=False,
                            audio_output=WavFileOutput(out), on_message=print_message,
                            instructions="You are a friendly, brief assistant.")
    try:
        with client:
            print(f"connected to {'OpenAI' if live else 'the embedded fake server'} ({client!r})")
            for question in QUESTIONS:
                client.ask(question, timeout=60)
            client.wait_for_playback(timeout=60)  # all of the last answer is in the WAV
    finally:
        if server is not None:
            server.stop()
    with wave.open(out, "rb") as wav:
        seconds = wav.getnframes() / float(wav.getframerate())
    print(f"assistant audio written to {out} ({seconds:.1f} s)")
    return 0

