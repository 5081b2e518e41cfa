"""The official ``elevenlabs`` SDK's Conversation against our fake agent (protocols.md 8.4).

A custom AudioInterface feeds a WAV-like buffer of speech and records what the agent says, so
no sound card is needed. Every frame either side sends is checked against the contract
(the SDK's one known deviation, ``text_only`` at the top of the override, is allowed).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional

import pytest

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import pcm16_bytes
from tests.adapters.test_elevenlabs import check_traffic
from tests.helpers import wait_until

elevenlabs = pytest.importorskip("elevenlabs")
from elevenlabs.conversational_ai.conversation import (  # noqa: E402
    AudioInterface,
    ClientTools,
    Conversation,
)


class ScriptedAudio(AudioInterface):
    """Feeds ``speech`` (16 kHz PCM16) in 250 ms chunks after a short pause; records output."""

    def __init__(self, speech: bytes = b"") -> None:
        self.speech = speech
        self.output_audio = bytearray()
        self.interrupted = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, input_callback: Callable[[bytes], None]) -> None:
        def feed() -> None:
            chunk = 8000  # 250 ms, the SDK's recommendation
            data = self.speech + b"\0\0" * 16000
            for i in range(0, len(data), chunk):
                if self._stop.wait(0.01):
                    return
                input_callback(data[i:i + chunk])
        self._thread = threading.Thread(target=feed, name="sdk-audio-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def output(self, audio: bytes) -> None:
        self.output_audio.extend(audio)

    def interrupt(self) -> None:
        self.interrupted += 1


def _conversation(server: FakeRealtimeServer, *, requires_auth: bool, audio: Any = None,
                  tools: Optional[ClientTools] = None, **callbacks: Any) -> Conversation:
    from elevenlabs import ElevenLabs

    client = ElevenLabs(api_key=server.api_key or "x", base_url=server.base_url)
    return Conversation(client, "agent_fake", requires_auth=requires_auth, audio_interface=audio,
                        client_tools=tools, **callbacks)


def _end(conversation: Conversation) -> None:
    conversation.end_session()
    conversation.wait_for_session_end()


def test_sdk_text_turn_on_a_public_agent() -> None:
    """requires_auth=False: the SDK's user_message is answered; its pongs echo the ping ids."""
    server = FakeRealtimeServer(provider="elevenlabs", provider_options={"ping_interval": 0.1}).start()
    responses: List[str] = []
    conversation = _conversation(server, requires_auth=False, callback_agent_response=responses.append)
    try:
        conversation.start_session()
        wait_until(lambda: conversation._ws is not None and server.received, what="the SDK's initiation")
        time.sleep(0.1)
        conversation.send_user_message("Hello from the SDK")
        wait_until(lambda: responses == ["You said: Hello from the SDK"], what="the agent's answer")
        pong = server.wait_for_frame("pong")
        assert pong["event_id"] in server.connections[0].peer.pongs
        assert server.connections[0].peer.text_only  # the SDK's top-level text_only was understood
    finally:
        _end(conversation)
        server.stop()
    check_traffic(server, sdk_text_only_at_top=True)


def test_sdk_voice_turn_and_client_tool_on_a_private_agent() -> None:
    """requires_auth=True: signed URL over REST; speech is heard, a client tool runs, audio comes back."""
    server = FakeRealtimeServer(provider="elevenlabs", api_key="xi_interop",
                                provider_options={"ping_interval": 0.1}).start()
    server.user_transcripts.append("what is the weather")
    server.script(Reply.tool_call("get_weather", {"city": "Oslo"}, call_id="toolu_sdk"),
                  Reply.text("It is sunny in Oslo."))
    calls: List[dict] = []
    tools = ClientTools()
    tools.register("get_weather", lambda params: (calls.append(params), "sunny")[1])
    audio = ScriptedAudio(pcm16_bytes(synthesize_speech(800, 16000, seed=11)))
    transcripts: List[str] = []
    responses: List[str] = []
    conversation = _conversation(server, requires_auth=True, audio=audio, tools=tools,
                                 callback_user_transcript=transcripts.append,
                                 callback_agent_response=responses.append)
    try:
        conversation.start_session()
        wait_until(lambda: transcripts == ["what is the weather"], what="the user transcript")
        result = server.wait_for_frame("client_tool_result", timeout=10)
        assert result["tool_call_id"] == "toolu_sdk" and result["result"] == "sunny"
        assert calls and calls[0]["city"] == "Oslo"
        wait_until(lambda: "It is sunny in Oslo." in responses, what="the spoken answer")
        wait_until(lambda: len(audio.output_audio) > 16000, what="the answer's audio")
        assert "conversation_signature=" in server.connections[0].path
    finally:
        _end(conversation)
        server.stop()
    check_traffic(server)
