"""google-genai's official live client talks to FakeRealtimeServer(provider="gemini") over TLS.

The SDK rewrites the scheme to ``wss``, so the server runs with ``tls=True`` and the SDK trusts
its throw-away CA through ``async_client_args={"ssl": ...}``. ``client.aio.live.connect`` is
asyncio only: each test runs it on an event loop of its own (``asyncio.run``). Every frame of
the exchange is validated against the SDK's own models afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any, Iterator, List

import numpy as np
import pytest
from google import genai
from google.genai import types

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from tests._gemini_conformance import validate_client_frame, validate_server_frame

MODEL = "gemini-3.8-live"


@pytest.fixture
def server() -> Iterator[FakeRealtimeServer]:
    with FakeRealtimeServer(provider="gemini", tls=True, api_key="sdk-key") as srv:
        yield srv
    for frame in srv.sent:
        validate_server_frame(frame)
    for frame in srv.received:
        validate_client_frame(frame)
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-")] == []


def _client(server: FakeRealtimeServer, key: str = "sdk-key", version: Any = None) -> genai.Client:
    options = types.HttpOptions(base_url=server.base_url, api_version=version,
                                async_client_args={"ssl": server.ssl_context()},
                                client_args={"verify": server.ssl_context()})  # REST: httpx
    return genai.Client(api_key=key, http_options=options)


async def _turn(session: Any) -> List[types.LiveServerMessage]:
    """Messages until turnComplete (the SDK's receive() stops there)."""
    return [message async for message in session.receive()]


def test_sdk_text_turn(server: FakeRealtimeServer) -> None:
    """The SDK's setup is answered; send_realtime_input(text=...) gets a text answer and usage."""

    async def run() -> List[types.LiveServerMessage]:
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT],
                                         system_instruction="Be brief.")
        async with _client(server).aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="Hello SDK")
            return await _turn(session)

    messages = asyncio.run(run())
    text = "".join(m.text or "" for m in messages)
    assert text == "You said: Hello SDK"
    assert messages[-1].server_content.turn_complete and messages[-1].usage_metadata.total_token_count > 0
    conn = server.connections[0]
    assert ".v1.GenerativeService.BidiGenerateContent" in conn.path  # google-genai >= 3 uses v1
    assert "realtime_input" in conn.received[1]  # the SDK's snake_case top-level key is accepted


def test_sdk_audio_turn(server: FakeRealtimeServer) -> None:
    """16 kHz speech through send_realtime_input(audio=...) is heard by the fake's VAD, transcribed,
    and answered with 24 kHz audio and its transcription."""
    server.user_transcripts.append("hello from the sdk")
    pcm = np.concatenate([synthesize_speech(900, 16000, seed=2), np.zeros(16000, np.int16)])
    data = pcm.astype("<i2").tobytes()

    async def run() -> List[types.LiveServerMessage]:
        config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO],
                                         input_audio_transcription=types.AudioTranscriptionConfig(),
                                         output_audio_transcription=types.AudioTranscriptionConfig())
        async with _client(server).aio.live.connect(model=MODEL, config=config) as session:
            for i in range(0, len(data), 640):  # 20 ms chunks
                await session.send_realtime_input(
                    audio=types.Blob(data=data[i:i + 640], mime_type="audio/pcm;rate=16000"))
            return await _turn(session)

    messages = asyncio.run(run())
    heard = "".join(m.server_content.input_transcription.text for m in messages
                    if m.server_content and m.server_content.input_transcription)
    said = "".join(m.server_content.output_transcription.text for m in messages
                   if m.server_content and m.server_content.output_transcription)
    audio = b"".join(m.data or b"" for m in messages)
    assert heard == "hello from the sdk" and said == "I heard you."
    assert len(audio) > 24000  # more than half a second of 24 kHz PCM16


def test_sdk_tool_call(server: FakeRealtimeServer) -> None:
    """toolCall reaches the SDK; send_tool_response(...) lets the model go on and finish the turn."""
    server.script(Reply.tool_call("get_weather", {"city": "Paris"}))

    async def run() -> List[types.LiveServerMessage]:
        declaration = types.FunctionDeclaration(name="get_weather", description="Weather in a city.",
                                                parameters_json_schema={"type": "object", "properties": {
                                                    "city": {"type": "string"}}})
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT],
                                         tools=[types.Tool(function_declarations=[declaration])])
        seen: List[types.LiveServerMessage] = []
        async with _client(server).aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="Weather in Paris?")
            async for message in session.receive():
                seen.append(message)
                if message.tool_call:
                    (call,) = message.tool_call.function_calls
                    assert call.name == "get_weather" and call.args == {"city": "Paris"}
                    await session.send_tool_response(function_responses=[types.FunctionResponse(
                        id=call.id, name=call.name, response={"output": {"temperature": 21}})])
            return seen

    messages = asyncio.run(run())
    assert any(m.tool_call for m in messages)
    assert "".join(m.text or "" for m in messages) == 'The tool returned: {"temperature":21}'


def test_sdk_ephemeral_token_from_the_fake_auth_tokens_endpoint(server: FakeRealtimeServer) -> None:
    """client.auth_tokens.create() mints at the fake's REST endpoint; the SDK connects with it on
    v1alpha's BidiGenerateContentConstrained (Authorization: Token)."""
    sdk = _client(server, version="v1alpha")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK marks ephemeral tokens experimental
        token = sdk.auth_tokens.create(config=types.CreateAuthTokenConfig(uses=1))
    assert token.name.startswith("auth_tokens/")

    async def run() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
            async with _client(server, key=token.name, version="v1alpha").aio.live.connect(
                    model=MODEL, config=config) as session:
                await session.send_realtime_input(text="token works?")
                return "".join(m.text or "" for m in await _turn(session))

    assert asyncio.run(run()) == "You said: token works?"
    assert ".v1alpha.GenerativeService.BidiGenerateContentConstrained" in server.connections[0].path


def test_sdk_sees_a_refused_key_as_an_api_error(server: FakeRealtimeServer) -> None:
    """A wrong API key: the fake closes with 1007 'API key not valid', which the SDK raises."""

    async def run() -> None:
        async with _client(server, key="wrong").aio.live.connect(model=MODEL) as session:
            await _turn(session)

    with pytest.raises(genai.errors.APIError) as caught:
        asyncio.run(run())
    assert caught.value.code == 1007 and "API key not valid" in str(caught.value)
