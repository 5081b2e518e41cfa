"""The xAI Grok provider session on frames, beyond the contract suite: no network, no threads."""

from __future__ import annotations

import json
import warnings
from typing import Any, Dict, List

import pytest

from realtime_client import tool
from realtime_client._events import (
    AssistantTranscript,
    AudioChunk,
    ConfigApplied,
    ConfigRejected,
    Ignored,
    Malformed,
    ProviderErrorEvent,
    Ready,
    TurnEnded,
    UserTranscript,
)
from realtime_client._intents import (
    AppendAudio,
    Interrupt,
    RequestResponse,
    ToolResult,
    UpdateSession,
    UserMessage,
)
from realtime_client._models import RealtimeToken, SessionConfig, TextPart, VADConfig
from realtime_client._provider import Adapter, ProviderSession, ResumeState
from realtime_client.adapters import ADAPTERS, GrokRealtimeAdapter, grok_realtime
from realtime_client.adapters._grok import GrokSession
from realtime_client.audio._format import AudioFormat
from tests._xai_conformance import validate_grok_client_frame, validate_grok_server_frame, validate_session

URL = "ws://127.0.0.1:1/v1/realtime"
TOKEN = RealtimeToken(provider="grok", token="xai-secret-abc123")
XAI_SESSION = {"instructions": "hi", "voice": "eve", "turn_detection": None,
               "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                         "output": {"format": {"type": "audio/pcm", "rate": 24000}}}}


def frame(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "event_id": f"event_{type_}", **fields})


def error(code: Any, message: str, event_id: Any = None, type_: str = "invalid_request_error") -> str:
    return frame("error", error={"type": type_, "code": code, "message": message, "event_id": event_id})


def conversation_created(conv_id: str = "conv_1") -> str:
    return frame("conversation.created", conversation={"id": conv_id, "object": "realtime.conversation"})


def session_created() -> str:
    return frame("session.created", session=XAI_SESSION)


def session_updated() -> str:
    return frame("session.updated", session=XAI_SESSION)


def ready_session(adapter: GrokRealtimeAdapter = None, config: SessionConfig = SessionConfig(),
                  resume: ResumeState = None, conv_id: str = "conv_1") -> GrokSession:
    session = (adapter or grok_realtime(url=URL)).new_session()
    session.connection_request(TOKEN, config, resume)
    session.start(config, resume)
    session.receive(session_created())
    replies = session.receive(conversation_created(conv_id)).replies
    assert [r["type"] for r in replies] == ["session.update"]
    (ready,) = session.receive(session_updated()).events
    assert isinstance(ready, Ready)
    return session


def events(session: GrokSession, raw: str) -> List[Any]:
    return list(session.receive(raw).events)


def test_grok_is_registered_and_is_an_adapter() -> None:
    """grok_realtime is in ADAPTERS and builds ProviderSessions."""
    adapter = ADAPTERS["grok"](url=URL)
    assert isinstance(adapter, Adapter) and adapter.provider == "grok"
    assert isinstance(adapter.new_session(), ProviderSession)


def test_connection_request_has_model_bearer_and_no_secret_in_repr() -> None:
    """The URL names the default model and the token travels only in the Authorization header."""
    session = grok_realtime().new_session()
    request = session.connection_request(TOKEN, SessionConfig(), None)
    assert request.url == "wss://api.x.ai/v1/realtime?model=grok-voice-think-fast-2.0"
    assert request.headers == {"Authorization": "Bearer xai-secret-abc123"}
    assert "xai-secret-abc123" not in repr(request) and "xai-secret" not in repr(grok_realtime())


def test_the_model_comes_from_the_adapter_then_config_then_token() -> None:
    """grok_realtime(model=) wins, then SessionConfig.model, then the token's model."""
    token = RealtimeToken(provider="grok", token="t", config=SessionConfig(model="grok-voice-latest"))
    assert grok_realtime(url=URL).new_session().connection_request(token, SessionConfig(), None).url \
        .endswith("model=grok-voice-latest")
    assert grok_realtime(url=URL, model="m1").new_session().connection_request(
        token, SessionConfig(model="m2"), None).url.endswith("model=m1")


def test_the_config_answers_conversation_created_whichever_comes_first() -> None:
    """session.created first is ignored; conversation.created is answered with session.update."""
    for order in ((session_created(), conversation_created()), (conversation_created(), session_created())):
        session = grok_realtime(url=URL).new_session()
        session.start(SessionConfig(instructions="Be brief."), None)
        replies = [r for raw in order for r in session.receive(raw).replies]
        assert [r["type"] for r in replies] == ["session.update"]
        validate_grok_client_frame(replies[0])
        assert session.conversation_id == "conv_1"
        assert events(session, session_updated())[0] == Ready(AudioFormat(), AudioFormat())


def test_config_after_session_created_or_either() -> None:
    """config_after picks the event the configuration answers; it is sent once."""
    session = grok_realtime(url=URL, config_after="session.created").new_session()
    session.start(SessionConfig(), None)
    assert [r["type"] for r in session.receive(session_created()).replies] == ["session.update"]
    assert session.receive(conversation_created()).replies == ()
    either = grok_realtime(url=URL, config_after="either").new_session()
    either.start(SessionConfig(), None)
    assert len(either.receive(conversation_created()).replies) == 1
    assert either.receive(session_created()).replies == ()
    with pytest.raises(ValueError, match="config_after"):
        grok_realtime(config_after="never")


def test_the_session_update_uses_xai_fields_only() -> None:
    """Every option lands where §8.2 puts it, with no undeclared field."""
    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    adapter = grok_realtime(url=URL, input_transcription={"model": "grok-transcribe", "language_hint": "en",
                                                         "keyterms": ["Oslo"]},
                            speed=1.2, reasoning_effort="high", replace={"xAI": "ex A I"}, input_rate=16000,
                            output_rate=48000)
    config = SessionConfig(instructions="Be brief.", voice="ara", tools=(lookup, {"type": "web_search"}),
                           vad_config=VADConfig(threshold=0.6, silence_duration_ms=400, prefix_padding_ms=200,
                                                idle_timeout_ms=8000),
                           provider_options={"tools": [{"type": "x_search", "allowed_x_handles": ["xai"]}]})
    session = adapter.new_session()
    sent = session.session_update(config)
    validate_grok_client_frame(sent)
    body = sent["session"]
    assert body["voice"] == "ara" and body["instructions"] == "Be brief."
    assert body["turn_detection"] == {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200,
                                      "silence_duration_ms": 400, "idle_timeout_ms": 8000}
    assert body["audio"] == {"input": {"format": {"type": "audio/pcm", "rate": 16000},
                                       "transcription": {"model": "grok-transcribe", "language_hint": "en",
                                                         "keyterms": ["Oslo"]}},
                             "output": {"format": {"type": "audio/pcm", "rate": 48000}, "speed": 1.2}}
    assert [t["type"] for t in body["tools"]] == ["function", "web_search", "x_search"]
    assert body["reasoning"] == {"effort": "high"} and body["replace"] == {"xAI": "ex A I"}
    assert body["resumption"] == {"enabled": True}
    assert "type" not in body and "output_modalities" not in body
    assert session.info.input_format == AudioFormat("pcm16", 16000)
    assert session.info.output_format == AudioFormat("pcm16", 48000)


def test_manual_mode_sends_a_null_turn_detection_and_g711_formats() -> None:
    """vad_mode='manual' is turn_detection null; G.711 is audio/pcmu at 8 kHz both ways."""
    session = grok_realtime(url=URL, audio_format="g711_ulaw", input_transcription=False,
                            resumption=False).new_session()
    body = session.session_update(SessionConfig(vad_mode="manual"))["session"]
    validate_session(body)
    assert body["turn_detection"] is None
    assert body["audio"] == {"input": {"format": {"type": "audio/pcmu"}},
                             "output": {"format": {"type": "audio/pcmu"}}}
    assert "resumption" not in body
    assert session.info.input_format == AudioFormat("g711_ulaw", 8000)
    assert session.info.transcribes_input is False


@pytest.mark.parametrize("config, match", [
    (SessionConfig(temperature=0.7), "temperature"),
    (SessionConfig(max_output_tokens=100), "max_output_tokens"),
    (SessionConfig(output_modalities=("text",)), "output_modalities"),
    (SessionConfig(vad_mode="semantic"), "semantic"),
    (SessionConfig(vad_config=VADConfig(create_response=False)), "create_response"),
    (SessionConfig(vad_config=VADConfig(threshold=0.95)), "threshold"),
    (SessionConfig(voice="  "), "voice"),
    (SessionConfig(provider_options={"model": "x"}), "model"),
    (SessionConfig(provider_options={"audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}}}),
     "format"),
])
def test_check_config_refuses_what_xai_cannot_carry(config: SessionConfig, match: str) -> None:
    """Settings the xAI session has no field for fail on the caller's line."""
    with pytest.raises(ValueError, match=match):
        grok_realtime(url=URL).check_config(config)


def test_check_config_warns_about_settings_without_effect_and_accepts_audio() -> None:
    """output_modalities=['audio'] is the default; semantic_eagerness and manual VAD config warn."""
    adapter = grok_realtime(url=URL)
    adapter.check_config(SessionConfig(output_modalities=("audio",)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter.check_config(SessionConfig(semantic_eagerness="high"))
        adapter.check_config(SessionConfig(vad_mode="manual", vad_config=VADConfig(threshold=0.5)))
    assert len(caught) == 2


@pytest.mark.parametrize("kwargs", [{"speed": 0.5}, {"reasoning_effort": "low"}, {"input_rate": 11025},
                                    {"audio_format": "opus"}, {"session_cap": 0}, {"replace": {"a": 1}},
                                    {"url": "ws://api.x.ai/v1/realtime"}])
def test_adapter_options_are_validated(kwargs: Dict[str, Any]) -> None:
    """Out-of-range or unknown adapter options raise at once."""
    with pytest.raises((ValueError, TypeError)):
        grok_realtime(**kwargs)


def test_ping_is_ignored_without_a_reply() -> None:
    """xAI's ping needs no answer."""
    session = ready_session()
    received = session.receive(frame("ping", timestamp=1765432100000))
    assert received.events == (Ignored("ping"),) and received.replies == ()


def test_text_under_both_spellings_is_not_doubled() -> None:
    """response.text.* and response.output_text.* carry the same text; the first spelling wins."""
    session = ready_session()
    out: List[Any] = []
    for kind in ("response.text.delta", "response.output_text.delta"):
        out += events(session, frame(kind, response_id="r1", item_id="i1", output_index=0, content_index=0,
                                     delta="Hi"))
    for kind in ("response.output_text.done", "response.text.done"):
        out += events(session, frame(kind, response_id="r1", item_id="i1", output_index=0, content_index=0,
                                     text="Hi"))
    texts = [e for e in out if isinstance(e, AssistantTranscript)]
    assert texts == [AssistantTranscript("r1", "i1", "Hi", False, "text"),
                     AssistantTranscript("r1", "i1", "Hi", True, "text")]
    assert sum(isinstance(e, Ignored) for e in out) == 2


def test_interim_transcripts_are_cumulative() -> None:
    """.updated carries the whole transcript so far: it replaces the pending one."""
    session = ready_session()
    first = events(session, frame("conversation.item.input_audio_transcription.updated", item_id="u1",
                                  content_index=0, transcript="What's"))
    second = events(session, frame("conversation.item.input_audio_transcription.updated", item_id="u1",
                                   content_index=0, transcript="What's the weather"))
    assert first == [UserTranscript("u1", "What's", False, cumulative=True)]
    assert second == [UserTranscript("u1", "What's the weather", False, cumulative=True)]
    validate_grok_server_frame(frame("conversation.item.input_audio_transcription.updated", item_id="u1",
                                     content_index=0, transcript="x"))


def test_top_level_usage_is_read_when_the_response_has_none() -> None:
    """response.done with usage only at its top level still reports usage."""
    session = ready_session()
    usage = {"total_tokens": 10, "input_tokens": 6, "output_tokens": 4}
    (ended,) = events(session, frame("response.done", usage=usage, response={
        "id": "r1", "object": "realtime.response", "status": "completed", "output": [], "usage": None}))
    assert isinstance(ended, TurnEnded) and ended.usage is not None and ended.usage.total_tokens == 10


def test_barge_in_always_cancels_and_truncates() -> None:
    """Even when the user's speech triggered it, the interrupt sends cancel and truncate."""
    session = ready_session()
    frames = session.send(Interrupt("r1", "i1", 840.6, by_user_speech=True))
    assert [f["type"] for f in frames] == ["response.cancel", "conversation.item.truncate"]
    assert frames[1]["audio_end_ms"] == 840 and frames[1]["content_index"] == 0
    for f in frames:
        validate_grok_client_frame(f)
    assert session.send(Interrupt(None, "i1", 0.0)) == []


def test_errors_answering_our_truncate_or_a_raced_cancel_are_benign() -> None:
    """A refused truncate and a message-only 'no active response' stay quiet; 'already has' retries."""
    session = ready_session()
    truncate = session.send(Interrupt(None, "i1", 300.0))[0]
    refused = events(session, error("bad", "Cannot truncate", truncate["event_id"]))
    raced = events(session, error(None, "Cancellation failed: no active response found"))
    busy = events(session, error(None, "Conversation already has an active response"))
    other = events(session, error("boom", "Boom", type_="server_error"))
    assert [e.kind for e in refused + raced + busy + other] == ["benign", "benign", "retry", "other"]


def test_a_rejected_session_update_is_config_rejected() -> None:
    """An error naming our update's event id rejects that update."""
    session = ready_session()
    old, new = SessionConfig(), SessionConfig(instructions="New")
    (update,) = session.send(UpdateSession("cfg1", new, old))
    assert update["session"]["instructions"] == "New" and "audio" in update["session"]  # whole session
    (rejected,) = events(session, error("x", "no", update["event_id"]))
    assert rejected == ConfigRejected("cfg1", "no", "x")
    assert len(session.send(UpdateSession("cfg2", new, old))) == 1
    assert events(session, session_updated()) == [ConfigApplied("cfg2")]


def test_partial_updates_send_only_what_changed() -> None:
    """partial_updates=True sends the changed top-level fields only."""
    session = ready_session(grok_realtime(url=URL, partial_updates=True))
    old, new = SessionConfig(instructions="A"), SessionConfig(instructions="B")
    (update,) = session.send(UpdateSession("c", new, old))
    assert update["session"] == {"instructions": "B"}
    assert session.send(UpdateSession("d", SessionConfig(), SessionConfig())) == []


def test_shared_intents_are_openai_frames() -> None:
    """Messages, responses, audio and tool results are OpenAI's client events."""
    session = ready_session()
    out = []
    for intent in (UserMessage("msg_1", (TextPart("hi"),)), RequestResponse(), AppendAudio(b"\x00\x00" * 480),
                   ToolResult("call_1", "f", '{"ok": true}')):
        out += session.send(intent)
    assert [f["type"] for f in out] == ["conversation.item.create", "response.create",
                                        "input_audio_buffer.append", "conversation.item.create"]
    for f in out:
        validate_grok_client_frame(f)


def test_audio_under_the_configured_rate_decodes() -> None:
    """Audio deltas decode into AudioChunk events; a malformed frame is Malformed, never an exception."""
    session = ready_session(grok_realtime(url=URL, output_rate=16000))
    (chunk,) = events(session, frame("response.output_audio.delta", response_id="r1", item_id="i1",
                                     output_index=0, content_index=0, delta="AAAAAA=="))
    assert isinstance(chunk, AudioChunk) and chunk.audio == b"\x00" * 4
    assert isinstance(events(session, "not json")[0], Malformed)
    assert isinstance(events(session, frame("conversation.created", conversation=[]))[0], Malformed)


# --- resumption ------------------------------------------------------------------------------------


def test_resume_state_reattaches_with_the_conversation_id() -> None:
    """With resumption on, the next connection names the conversation and replays nothing."""
    session = ready_session()
    session.send(UserMessage("msg_1", (TextPart("hi"),)))
    events(session, frame("conversation.item.added", previous_item_id=None, item={
        "id": "item_a", "object": "realtime.item", "type": "message", "role": "assistant", "content": []}))
    resume = session.resume_state()
    assert resume.replay is False and resume.conversation_id == "conv_1" and resume.resumes
    assert set(resume.items) == {"msg_1", "item_a"}
    request = grok_realtime(url=URL).new_session().connection_request(TOKEN, SessionConfig(), resume)
    assert request.url == f"{URL}?model=grok-voice-think-fast-2.0&conversation_id=conv_1"
    assert grok_realtime(url=URL, resumption=False).new_session().resume_state() == ResumeState(replay=True)


def test_replayed_items_are_dropped_before_and_after_ready() -> None:
    """Items the server replays on a resumed connection never become new messages."""
    resume = ResumeState(replay=False, conversation_id="conv_1", items=("u_old", "a_old"))
    session = grok_realtime(url=URL).new_session()
    session.start(SessionConfig(), resume)
    session.receive(conversation_created("conv_1"))
    before = events(session, frame("conversation.item.input_audio_transcription.completed", item_id="u_new",
                                   content_index=0, transcript="replayed before ready"))
    (ready,) = events(session, session_updated())
    after = events(session, frame("conversation.item.input_audio_transcription.completed", item_id="u_old",
                                  content_index=0, transcript="replayed after ready"))
    fresh = events(session, frame("conversation.item.input_audio_transcription.completed", item_id="u_2",
                                  content_index=0, transcript="new speech"))
    assert all(isinstance(e, Ignored) for e in before + after)
    assert ready == Ready(AudioFormat(), AudioFormat(), history_lost=False)
    assert fresh == [UserTranscript("u_2", "new speech", True)]


def test_an_expired_conversation_is_history_lost() -> None:
    """A different conversation id (or an error about it) means the history must be replayed."""
    resume = ResumeState(replay=False, conversation_id="conv_old", items=("u_old",))
    session = ready_session(resume=resume, conv_id="conv_new")
    assert session.conversation_id == "conv_new"
    assert session.resume_state().conversation_id == "conv_new"
    other = grok_realtime(url=URL).new_session()
    other.start(SessionConfig(), resume)
    (err,) = events(other, error("conversation_not_found", "Conversation not found or expired"))
    assert isinstance(err, ProviderErrorEvent) and err.kind == "benign"
    other.receive(conversation_created("conv_old2"))
    (ready,) = events(other, session_updated())
    assert ready.history_lost is True


def test_the_replay_flag_reaches_the_reducer() -> None:
    """Ready(history_lost=True) makes Resumed replay even though the resume state said not to."""
    from realtime_client import _actions as act
    from realtime_client._intents import Replay
    from realtime_client._models import RealtimeMessage
    from realtime_client._reducer import Conversation

    conv = Conversation(SessionConfig())
    conv.reduce(act.Connecting(manual=False))
    conv.reduce(act.SessionOpened(grok_realtime(url=URL).new_session().info))
    conv.reduce(Ready())
    conv.reduce(act.Connected(mic_open=False, playback=False))
    hello = RealtimeMessage(id="m1", role="user", parts=(TextPart("hello"),))
    conv.reduce(act.SendUser(hello, respond=False))
    conv.reduce(act.SessionLost())
    conv.reduce(act.SessionOpened(grok_realtime(url=URL).new_session().info))
    conv.reduce(Ready(history_lost=True))
    fx = conv.reduce(act.Resumed(replay=False))
    assert [type(i) for i in fx.intents] == [Replay]


def test_a_repeated_function_call_runs_once() -> None:
    """xAI may announce the same call twice; the second announcement is ignored."""
    from realtime_client._events import ToolCall

    session = ready_session()
    done = frame("response.function_call_arguments.done", response_id="r1", item_id="fc1", output_index=0,
                 call_id="call_1", name="f", arguments="{}")
    assert isinstance(events(session, done)[0], ToolCall)
    assert isinstance(events(session, done)[0], Ignored)
