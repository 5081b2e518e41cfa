"""The conversation reducer on its own: events and intents in, state and effects out (no I/O)."""

from __future__ import annotations

import attrs
import pytest

from realtime_client import AudioPart, RealtimeMessage, RealtimeMode, RealtimeStatus, TextPart, ToolCallPart
from realtime_client import _events as ev
from realtime_client._conversation import Conversation, Effects
from realtime_client.adapters import openai_realtime
from realtime_client.audio._engine import PlayedItem


@pytest.fixture
def conv() -> Conversation:
    c = Conversation(openai_realtime(url="ws://127.0.0.1:1/v1/realtime"))
    c.set_status(RealtimeStatus.CONNECTED)
    c.settle_mode()
    return c


def feed(conv: Conversation, *events, playback: bool = True) -> Effects:
    fx = Effects()
    for event in events:
        conv.handle(event, fx, playback)
    return fx


def notified(fx: Effects, name: str) -> list:
    return [args for n, args in fx.notifications if n == name]


def audio_turn(response: str = "resp_1", item: str = "item_a", ms: int = 1000) -> list:
    pcm = b"\x00\x01" * (24 * ms)
    return [ev.ResponseStarted(response), ev.AssistantItemStarted(item, response),
            ev.AudioDelta(item, pcm, response),
            ev.TranscriptDelta("assistant", item, "Hello ", "audio", response),
            ev.TranscriptDelta("assistant", item, "there", "audio", response),
            ev.TranscriptDone("assistant", item, "Hello there", "audio", response),
            ev.ResponseDone(response, "completed", output_item_ids=(item,))]


def test_assistant_message_is_announced_once_when_the_response_is_done(conv):
    """Streaming deltas update the pending transcript; the message appears and is announced at done."""
    events = audio_turn()
    fx = feed(conv, *events[:-1])
    assert conv.pending_assistant == "Hello there" and conv.messages == []
    assert notified(fx, "on_message") == []
    fx = feed(conv, events[-1])
    (msg,), = notified(fx, "on_message")
    assert msg.id == "item_a" and msg.parts == (AudioPart("Hello there", 1000.0),)
    assert conv.pending_assistant == "" and conv.turns_completed == 1


def test_audio_goes_to_playback_only_when_enabled(conv):
    """Audio deltas become play effects with playback, and mark speaking without it."""
    fx = feed(conv, *audio_turn()[:3])
    assert fx.play and fx.play[0][0] == "item_a"
    conv2 = Conversation(conv.adapter)
    conv2.set_status(RealtimeStatus.CONNECTED)
    fx = feed(conv2, *audio_turn()[:3], playback=False)
    assert fx.play == [] and conv2.mode is RealtimeMode.SPEAKING


def test_tool_result_before_response_done_sends_one_response_create(conv):
    """A tool that finishes before response.done waits for it, then exactly one response.create."""
    fx = feed(conv, ev.ResponseStarted("r1"), ev.ToolCall("call_1", "f", '{"a": 1}', "fc_1", "r1"))
    assert [c.call_id for c in fx.tool_calls] == ["call_1"]
    outcome = type("Outcome", (), {"call_id": "call_1", "result": '{"ok": true}', "output": {"ok": True},
                                   "error": None})()
    fx = Effects()
    conv.tool_finished(outcome, fx)
    assert [f["type"] for f in fx.frames] == ["conversation.item.create"]
    fx = feed(conv, ev.ResponseDone("r1", output_item_ids=("fc_1",)))
    assert [f["type"] for f in fx.frames] == ["response.create"]
    msg = conv.messages[-1]
    call = next(p for p in msg.parts if isinstance(p, ToolCallPart))
    assert call.output == {"ok": True} and conv.turns_completed == 0


def test_tool_result_after_response_done_sends_response_create_then(conv):
    """A tool that finishes after response.done triggers the response.create itself."""
    fx = feed(conv, ev.ResponseStarted("r1"), ev.ToolCall("call_1", "f", "{}", "fc_1", "r1"),
              ev.ResponseDone("r1", output_item_ids=("fc_1",)))
    assert not any(f["type"] == "response.create" for f in fx.frames)
    assert conv.mode is RealtimeMode.THINKING
    outcome = type("Outcome", (), {"call_id": "call_1", "result": "done", "output": "done", "error": None})()
    fx = Effects()
    conv.tool_finished(outcome, fx)
    assert [f["type"] for f in fx.frames] == ["conversation.item.create", "response.create"]


def test_text_sent_during_a_response_waits_for_it(conv):
    """A user message during an active response defers response.create until that response is done."""
    feed(conv, ev.ResponseStarted("r1"))
    fx = Effects()
    conv.add_user_message(RealtimeMessage(id="msg_1", role="user", parts=(TextPart("hi"),)), fx)
    assert [f["type"] for f in fx.frames] == ["conversation.item.create"]
    fx = feed(conv, ev.ResponseDone("r1"))
    assert [f["type"] for f in fx.frames] == ["response.create"]


def test_interrupt_after_done_truncates_and_marks_the_message(conv):
    """Interrupting audio still playing after response.done truncates to what was heard, no cancel."""
    feed(conv, *audio_turn(ms=3000))
    conv.playback_started("item_a")
    fx = Effects()
    assert conv.interrupt(PlayedItem("item_a", 1234.5, 3000.0), cancel=True, fx=fx)
    assert [f["type"] for f in fx.frames] == ["conversation.item.truncate"]
    assert fx.frames[0]["audio_end_ms"] == 1234 and fx.frames[0]["item_id"] == "item_a"
    msg = conv.messages[-1]
    assert msg.interrupted and msg.duration_ms == pytest.approx(1234.5, abs=0.1)
    assert notified(fx, "on_interrupted") == [()]
    assert conv.mode is RealtimeMode.LISTENING


def test_interrupt_during_response_cancels_and_drops_late_audio(conv):
    """Interrupting an active response cancels it, truncates, and drops its later audio deltas."""
    feed(conv, *audio_turn(ms=500)[:3])
    fx = Effects()
    conv.interrupt(PlayedItem("item_a", 200.0, 500.0), cancel=True, fx=fx)
    assert [f["type"] for f in fx.frames] == ["response.cancel", "conversation.item.truncate"]
    late = feed(conv, ev.AudioDelta("item_a", b"\x00" * 480, "resp_1"))
    assert late.play == []
    fx = feed(conv, ev.ResponseDone("resp_1", "cancelled", "client_cancelled"))
    (msg,), = notified(fx, "on_message")
    assert msg.interrupted


def test_errors_answering_our_own_cancel_or_truncate_are_not_surfaced(conv):
    """A provider error that answers the client's own cancel/truncate never reaches on_error."""
    feed(conv, *audio_turn(ms=500)[:3])
    fx = Effects()
    conv.interrupt(PlayedItem("item_a", 200.0, 500.0), cancel=True, fx=fx)
    ids = [f["event_id"] for f in fx.frames]
    err = feed(conv, *[ev.ProviderErrorEvent("audio_end_ms too large", "invalid_value", event_id=i)
                       for i in ids])
    assert notified(err, "on_error") == []
    other = feed(conv, ev.ProviderErrorEvent("real problem", "server_error", event_id="evt_other"))
    assert len(notified(other, "on_error")) == 1


def test_interrupt_with_nothing_going_on_does_nothing(conv):
    """interrupt() with no response and nothing heard changes nothing and sends nothing."""
    fx = Effects()
    assert conv.interrupt(None, cancel=True, fx=fx) is False
    assert fx.frames == [] and fx.notifications == []


def test_user_voice_message_is_placed_at_commit_and_announced_at_transcript(conv):
    """A committed voice turn keeps its place in order; on_message fires when the transcript is final."""
    fx = feed(conv, ev.SpeechStarted("u1", 1000), ev.SpeechStopped("u1", 2500), ev.InputCommitted("u1"))
    assert [m.id for m in conv.messages] == ["u1"] and notified(fx, "on_message") == []
    feed(conv, *audio_turn())
    fx = feed(conv, ev.TranscriptDelta("user", "u1", "what "), ev.TranscriptDone("user", "u1", "what time"))
    (msg,), = notified(fx, "on_message")
    assert msg.parts == (AudioPart("what time", 1500),)
    assert [m.role for m in conv.messages] == ["user", "assistant"]


def test_failed_response_reports_a_provider_error(conv):
    """A failed response surfaces PROVIDER_ERROR with the provider's message."""
    fx = feed(conv, ev.ResponseStarted("r1"), ev.ResponseDone("r1", "failed", error_message="overloaded"))
    (err,), = notified(fx, "on_error")
    assert err.code == "PROVIDER_ERROR" and "overloaded" in str(err)


def test_messages_are_immutable_snapshots(conv):
    """snapshot() hands out tuples of frozen messages."""
    feed(conv, *audio_turn())
    snap = conv.snapshot()
    assert isinstance(snap.messages, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        snap.messages[0].interrupted = True  # type: ignore[misc]
