"""Ask a realtime voice model a few questions from a plain script, and hear the answers.

    python examples/script_ask.py [--no-audio] ["your question" ...]

Talks to OpenAI when OPENAI_API_KEY is set, otherwise to an embedded FakeRealtimeServer.
Without a sound card (or with --no-audio) the answers play into a silent speaker that keeps
real time, so the script still waits for them as if you were listening.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from _common import audio_devices, audio_options, open_backend

from realtime_client import RealtimeClient

QUESTIONS = ["What is 2 + 2?", "Name one colour of the rainbow."]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Ask a realtime voice model a few questions.")
    parser.add_argument("questions", nargs="*", default=QUESTIONS, help="what to ask")
    parser.add_argument("--no-audio", action="store_true", help="play into a silent speaker")
    args = parser.parse_args(argv)
    audio = not args.no_audio and bool(audio_devices())
    backend = open_backend()
    print(f"talking to {backend.label}" + ("" if audio else ", without audio devices"))
    client = RealtimeClient(get_token=backend.get_token, adapter=backend.adapter,
                            instructions="Answer in one short sentence.",
                            **{"auto_capture": False, **audio_options(audio)})  # no microphone
    try:
        with client:  # connects (blocking), and destroys the client on the way out
            for question in args.questions:
                print(f"you: {question}")
                answer = client.ask(question, timeout=30)  # returns once the answer is complete
                print(f"assistant: {answer.text}")
            client.wait_for_playback(timeout=30)  # the last answer may still be playing
    finally:
        backend.close()


if __name__ == "__main__":
    main()
