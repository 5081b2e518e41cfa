"""The conversation reducer on its own: events and actions in, state and intents out (no I/O)."""

from __future__ import annotations

import attrs
import pytest

from realtime_client import (
    AudioPart,
    RealtimeError,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    TextPart,
    ToolCallPart,
)
from realtime_client import _actions as act
from realtime_client import _events as ev
from realtime_client import _intents as it
from realtime_client._models import SessionConfig
from realtime_client._provider import ProviderInfo
from realtime_client._reducer import Conversation, Effects
from realtime_client._tools import ToolOutcome
from realtime_client.audio._engine import PlayedItem

OPENAI_LIKE = ProviderInfo("openai", can_truncate=True, commit_min_ms=100)


def connected(info: ProviderInfo = OPENAI_LIKE, playback: bool = True, **config) -> Conversation:
    c = Conversation(SessionConfig(**config))
    for item in (act.Connecting(manual=c.config.vad_mode == "manual"), act.SessionOpened(info),
                 ev.Ready(info.input_format, info.output_format),
                 act.Connected(mic_open=False, playback=playback)):
        c.reduce(item)
    return c


@pytest.fixture
def conv() -> Conversation:
    return connected()


def feed(conv: Conversation, *items) -> Effects:
    """Reduce ``items`` in order; return their effects merged."""
    total = Effects()
    for item in items:
        fx = conv.reduce(item)
        total.intents += fx.intents
        total.play += fx.play
        total.drop_items += fx.drop_items
        total.tool_calls += fx.tool_calls
        total.cancel_tools += fx.cancel_tools
        total.notifications += fx.notifications
        total.flush = total.flush or fx.flush
        total.fail = total.fail or fx.fail
    return total


def notified(fx: Effects, name: str) -> list:
    return [args for n, args in fx.notifications if n == name]


def kinds(fx: Effects) -> list:
    return [type(i).__name__ for i in fx.intents]


def audio_turn(turn: str = "resp_1", item: str = "item_a", ms: int = 1000, outcome: str = "completed",
               reason=None) -> list:
    pcm = b"\x00\x01" * (24 * ms)
    return [ev.TurnStarted(turn), ev.OutputStarted(turn, item), ev.AudioChunk(turn, item, pcm),
            ev.AssistantTranscript(turn, item, "Hello ", False),
            ev.AssistantTranscript(turn, item, "there", False),
            ev.AssistantTranscript(turn, item, "Hello there", True),
            ev.TurnEnded(turn, outcome, item_ids=(item,), reason=reason)]


def outcome(call_id: str, result: str = '{"ok": true}', output=None, error=None,
            name: str = "f") -> ToolOutcome:
    return ToolOutcome(call_id=call_id, name=name, input={}, output=output, result=result, error=error)


def test_assistant_message_is_announced_once_when_the_turn_ends(conv):
    """Streaming deltas update the pending transcript; the message appears and is announced at the end."""
    events = audio_turn()
    fx = feed(conv, *events[:-1])
    assert conv.log.pending_assistant == "Hello there" and conv.messages == []
    assert notified(fx, "on_message") == []
    fx = feed(conv, events[-1])
    (msg,), = notified(fx, "on_message")
    assert msg.id == "item_a" and msg.parts == (AudioPart("Hello there", 1000.0),)
    assert msg.stop_reason == "completed" and not msg.interrupted
    assert conv.log.pending_assistant == "" and conv.log.turns_completed == 1


def test_audio_goes_to_playback_only_when_enabled():
    """Audio chunks become play effects with playback, and mark speaking without it."""
    fx = feed(connected(), *audio_turn()[:3])
    assert fx.play and fx.play[0][0] == "item_a"
    quiet = connected(playback=False)
    fx = feed(quiet, *audio_turn()[:3])
    assert fx.play == [] and quiet.mode is RealtimeMode.SPEAKING


def test_audio_duration_follows_the_provider_output_format():
    """A G.711 provider's 8 kHz one-byte samples count 8 bytes a millisecond."""
    from realtime_client.audio._format import AudioFormat

    g711 = AudioFormat("g711_ulaw", 8000)
    c = connected(ProviderInfo("openai", input_format=g711, output_format=g711, can_truncate=True))
    feed(c, ev.TurnStarted("r"), ev.AudioChunk("r", "a", b"\xff" * 800), ev.TurnEnded("r", item_ids=("a",)))
    assert c.messages[-1].duration_ms == 100.0


def test_tool_result_before_the_turn_ends_requests_one_response(conv):
    """A tool that finishes before the turn ends waits for it, then exactly one response request."""
    fx = feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", '{"a": 1}', "fc_1"))
    assert [c.call_id for c in fx.tool_calls] == ["call_1"]
    fx = feed(conv, act.ToolFinished(outcome("call_1", output={"ok": True})))
    assert kinds(fx) == ["ToolResult"]
    fx = feed(conv, ev.TurnEnded("r1", item_ids=("fc_1",)))
    assert kinds(fx) == ["RequestResponse"]
    call = next(p for p in conv.messages[-1].parts if isinstance(p, ToolCallPart))
    assert call.output == {"ok": True} and conv.log.turns_completed == 0


def test_tool_result_after_the_turn_ends_requests_the_response_itself(conv):
    """A tool that finishes after the turn ended sends its result and then asks for the response."""
    fx = feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"),
              ev.TurnEnded("r1", item_ids=("fc_1",)))
    assert "RequestResponse" not in kinds(fx) and conv.mode is RealtimeMode.THINKING
    fx = feed(conv, act.ToolFinished(outcome("call_1", "done", "done")))
    assert kinds(fx) == ["ToolResult", "RequestResponse"]
    result = fx.intents[0]
    assert result == it.ToolResult("call_1", "f", "done", False)


def test_failed_tool_result_is_marked_as_an_error(conv):
    """A tool that raised or timed out sends its result with is_error (ElevenLabs needs the flag)."""
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"), ev.TurnEnded("r1"))
    fx = feed(conv, act.ToolFinished(outcome("call_1", '{"error": "boom"}', error="boom")))
    assert fx.intents[0] == it.ToolResult("call_1", "f", '{"error": "boom"}', True)


def test_a_user_message_while_a_tool_runs_gets_a_response(conv):
    """Asynchronous function calling: a new user message is answered without waiting for the tool."""
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "slow", "{}", "fc_1"), ev.TurnEnded("r1"))
    fx = feed(conv, act.SendUser(RealtimeMessage(id="m", role="user", parts=(TextPart("still there?"),))))
    assert kinds(fx) == ["UserMessage", "RequestResponse"]


def test_text_sent_during_a_turn_waits_for_it(conv):
    """A user message during an active turn defers the response request until that turn ends."""
    feed(conv, ev.TurnStarted("r1"))
    fx = feed(conv, act.SendUser(RealtimeMessage(id="msg_1", role="user", parts=(TextPart("hi"),))))
    assert kinds(fx) == ["UserMessage"]
    assert kinds(feed(conv, ev.TurnEnded("r1"))) == ["RequestResponse"]


def test_interrupt_after_the_turn_ended_truncates_and_marks_the_message(conv):
    """Interrupting audio still playing after the turn ended truncates to what was heard, no cancel."""
    feed(conv, *audio_turn(ms=3000), act.PlaybackStarted("item_a"))
    fx = feed(conv, act.RequestInterrupt())
    assert fx.flush and kinds(fx) == [] and notified(fx, "on_interrupted") == [()]
    fx = feed(conv, act.Flushed(PlayedItem("item_a", 1234.5, 3000.0), by_user_speech=False))
    assert fx.intents == [it.Interrupt(None, "item_a", 1234.5, False)]
    msg = conv.messages[-1]
    assert msg.interrupted and msg.stop_reason == "interrupted"
    assert msg.duration_ms == pytest.approx(1234.5, abs=0.1)
    assert conv.mode is RealtimeMode.LISTENING


def test_interrupt_during_a_turn_cancels_and_drops_late_audio(conv):
    """Interrupting an active turn cancels it, truncates, and drops its later audio."""
    feed(conv, *audio_turn(ms=500)[:3])
    fx = feed(conv, act.RequestInterrupt())
    assert fx.drop_items == ["item_a"]
    fx = feed(conv, act.Flushed(PlayedItem("item_a", 200.0, 500.0), by_user_speech=False))
    assert fx.intents == [it.Interrupt("resp_1", "item_a", 200.0, False)]
    assert feed(conv, ev.AudioChunk("resp_1", "item_a", b"\x00" * 480)).play == []
    fx = feed(conv, ev.TurnEnded("resp_1", "interrupted", reason="client_cancelled"))
    (msg,), = notified(fx, "on_message")
    assert msg.interrupted and msg.stop_reason == "interrupted"


def test_interrupt_between_real_time_chunks_still_truncates(conv):
    """With audio arriving at real-time pace the queue drains between chunks: the interrupt still
    cancels and truncates to the heard milliseconds (regression: no truncate was sent)."""
    feed(conv, *audio_turn(ms=200)[:3], act.PlaybackStarted("item_a"), act.PlaybackIdle())
    assert conv.mode is RealtimeMode.THINKING  # between chunks: nothing audible, turn still active
    fx = feed(conv, act.RequestInterrupt())
    assert fx.flush
    fx = feed(conv, act.Flushed(PlayedItem("item_a", 195.0, 200.0), by_user_speech=False))
    assert fx.intents == [it.Interrupt("resp_1", "item_a", 195.0, False)]


def test_server_barge_in_flushes_and_tells_the_provider(conv):
    """Speech from the provider's VAD during a turn flushes playback and interrupts it."""
    feed(conv, *audio_turn(ms=500)[:3], act.PlaybackStarted("item_a"))
    fx = feed(conv, ev.SpeechStarted("u1", 10))
    assert fx.flush and notified(fx, "on_interrupted") == [()] and conv.mode is RealtimeMode.LISTENING
    fx = feed(conv, act.Flushed(PlayedItem("item_a", 300.0, 500.0), by_user_speech=True))
    assert fx.intents == [it.Interrupt("resp_1", "item_a", 300.0, True)]


def test_provider_announced_interruption_flushes_playback():
    """An Interrupted event (Gemini, ElevenLabs) flushes even where speech does not interrupt."""
    c = connected(ProviderInfo("gemini", speech_interrupts=False))
    feed(c, *audio_turn(ms=500)[:3], act.PlaybackStarted("item_a"))
    assert not feed(c, ev.SpeechStarted()).flush
    assert feed(c, ev.Interrupted("resp_1")).flush


def test_interrupt_with_nothing_going_on_does_nothing(conv):
    """interrupt() with no turn and nothing audible changes nothing and sends nothing."""
    fx = feed(conv, act.RequestInterrupt())
    assert not fx.flush and fx.intents == [] and fx.notifications == []


def test_finished_and_fully_heard_audio_is_not_truncated(conv):
    """A flush that reports an item fully played after its turn ended sends no truncate."""
    feed(conv, *audio_turn(ms=300), act.PlaybackStarted("item_a"))
    feed(conv, act.RequestInterrupt())
    fx = feed(conv, act.Flushed(PlayedItem("item_a", 300.0, 300.0), by_user_speech=False))
    assert fx.intents == []


def test_user_voice_message_is_placed_at_commit_and_announced_at_transcript(conv):
    """A committed voice turn keeps its place in order; on_message fires when the transcript is final."""
    fx = feed(conv, ev.SpeechStarted("u1", 1000), ev.SpeechStopped("u1", 2500), ev.UserAudioCommitted("u1"))
    assert [m.id for m in conv.messages] == ["u1"] and notified(fx, "on_message") == []
    feed(conv, *audio_turn())
    fx = feed(conv, ev.UserTranscript("u1", "what ", False), ev.UserTranscript("u1", "what time", True))
    (msg,), = notified(fx, "on_message")
    assert msg.parts == (AudioPart("what time", 1500),)
    assert [m.role for m in conv.messages] == ["user", "assistant"]


def test_failed_turn_reports_a_provider_error_and_ends_the_wait(conv):
    """A failed turn surfaces PROVIDER_ERROR, keeps it as the current error and ends waiters with it."""
    seen = conv.log.turns_completed
    fx = feed(conv, ev.TurnStarted("r1"), ev.TurnEnded("r1", "failed", error="Rate limit reached",
                                                       code="rate_limit_exceeded"))
    (err,), = notified(fx, "on_error")
    assert err.code == "PROVIDER_ERROR" and "Rate limit" in str(err)
    assert conv.error is err and conv.snapshot().error is err
    assert conv.log.turns_completed == seen + 1 and conv.log.last_result is err
    assert conv.mode is RealtimeMode.LISTENING


def test_a_rejected_response_request_does_not_wedge_the_conversation(conv):
    """After our response request is refused, the next message requests a response again."""
    feed(conv, act.SendUser(RealtimeMessage(id="m1", role="user", parts=(TextPart("one"),))))
    fx = feed(conv, ev.ProviderErrorEvent("Rate limit reached", "rate_limit_exceeded", "response_rejected"))
    assert len(notified(fx, "on_error")) == 1 and isinstance(conv.log.last_result, Exception)
    assert conv.mode is RealtimeMode.LISTENING
    fx = feed(conv, act.SendUser(RealtimeMessage(id="m2", role="user", parts=(TextPart("two"),))))
    assert kinds(fx) == ["UserMessage", "RequestResponse"]


def test_a_raced_response_request_is_retried_quietly(conv):
    """A 'retry' error (our request raced the server's own response) asks again after it, unreported."""
    feed(conv, act.SendUser(RealtimeMessage(id="m1", role="user", parts=(TextPart("one"),))))
    raced = ev.ProviderErrorEvent("already active", "conversation_already_has_active_response", "retry")
    fx = feed(conv, raced, ev.TurnStarted("r_server"))
    assert notified(fx, "on_error") == []
    assert kinds(feed(conv, ev.TurnEnded("r_server"))) == ["RequestResponse"]


def test_benign_errors_are_not_surfaced_and_fatal_ones_end_the_session(conv):
    """Benign provider errors stay quiet; fatal ones are reported and end the session."""
    assert notified(feed(conv, ev.ProviderErrorEvent("no active response", kind="benign")), "on_error") == []
    fx = feed(conv, ev.ProviderErrorEvent("quota", "insufficient_quota", "fatal"))
    assert len(notified(fx, "on_error")) == 1 and fx.fail is not None


def test_a_cut_off_turn_is_not_marked_interrupted(conv):
    """A turn cut by max_output_tokens ends with stop_reason cut_off and interrupted False."""
    fx = feed(conv, *audio_turn(outcome="cut_off", reason="max_output_tokens"))
    (msg,), = notified(fx, "on_message")
    assert msg.stop_reason == "cut_off" and not msg.interrupted


def test_the_current_error_stays_until_the_next_connect(conv):
    """A provider error is the current error until a successful connect clears it."""
    feed(conv, ev.ProviderErrorEvent("boom", "server_error"))
    assert conv.error is not None
    feed(conv, act.SessionEnded(RealtimeStatus.IDLE), act.Connecting(manual=False))
    assert conv.error is not None
    feed(conv, act.SessionOpened(OPENAI_LIKE), ev.Ready(), act.Connected(mic_open=False))
    assert conv.error is None


def test_a_rejected_update_is_forgotten_and_does_not_poison_the_next(conv):
    """A refused change is reverted; the next update starts from what the provider accepted."""
    fx = feed(conv, act.ChangeConfig("u1", conv.config.merged(voice="cedar"), ("voice",)))
    (update,) = fx.intents
    assert update == it.UpdateSession("u1", SessionConfig(voice="cedar"), SessionConfig())
    fx = feed(conv, ev.ConfigRejected("u1", "Cannot update a conversation's voice", "cannot_update_voice"))
    assert len(notified(fx, "on_error")) == 1 and conv.config.voice is None
    fx = feed(conv, act.ChangeConfig("u2", conv.config.merged(instructions="Be brief."), ("instructions",)))
    assert fx.intents[0].previous.voice is None and fx.intents[0].config.voice is None
    feed(conv, ev.ConfigApplied("u2"))
    assert conv.applied.instructions == "Be brief." and conv.applied.voice is None


def test_push_to_talk_commits_enough_audio_and_clears_too_little():
    """In manual mode closing the mic commits >= the provider's minimum and asks; less is cleared."""
    c = connected(vad_mode="manual")
    feed(c, act.MicChanged(True), act.CapturedAudio(b"\x00" * 4800, 100.0))
    fx = feed(c, act.PushToTalkEnded())
    assert kinds(fx) == ["CommitAudio", "RequestResponse"] and c.mode is RealtimeMode.THINKING
    c = connected(vad_mode="manual")
    feed(c, act.MicChanged(True), act.CapturedAudio(b"\x00" * 480, 10.0))
    assert kinds(feed(c, act.PushToTalkEnded())) == ["ClearAudio"]


def test_messages_sent_while_reconnecting_are_queued_then_replayed_in_order(conv):
    """While reconnecting, intents wait; on resume the history replays first, then the queue."""
    feed(conv, *audio_turn())
    feed(conv, act.SessionLost())
    assert conv.status is RealtimeStatus.RECONNECTING
    fx = feed(conv, act.SendUser(RealtimeMessage(id="m", role="user", parts=(TextPart("during"),))))
    assert fx.intents == [] and len(conv.queued) == 2
    feed(conv, act.SessionOpened(OPENAI_LIKE), ev.Ready())
    fx = feed(conv, act.Resumed(replay=True))
    assert kinds(fx) == ["Replay", "UserMessage", "RequestResponse"]
    assert [m.text for m in fx.intents[0].messages] == ["Hello there"]


def test_partial_output_at_a_drop_is_kept(conv):
    """Output streaming when the connection drops becomes a message ended by 'disconnected'."""
    feed(conv, *audio_turn()[:4])
    fx = feed(conv, act.SessionLost())
    (msg,), = notified(fx, "on_message")
    assert msg.stop_reason == "disconnected" and msg.interrupted and msg.text == "Hello "


def test_provider_cancelled_tool_calls_send_no_result(conv):
    """ToolCallCancelled drops the call: its later result is not sent."""
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "c1", "f", "{}"), ev.ToolCallCancelled(("c1",)))
    assert feed(conv, act.ToolFinished(outcome("c1"))).intents == []


def test_messages_are_immutable_snapshots(conv):
    """snapshot() hands out tuples of frozen messages."""
    feed(conv, *audio_turn())
    snap = conv.snapshot()
    assert isinstance(snap.messages, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        snap.messages[0].interrupted = True  # type: ignore[misc]


def test_every_event_and_action_has_a_handler():
    """The dispatch table covers every normalized event but the ones that carry no conversation
    state (Ignored, ResumptionUpdate; Unknown and Malformed frames are logged by the connection)."""
    table = Conversation(SessionConfig())._handlers
    events = [getattr(ev, n) for n in ev.__all__ if n not in ("Event", "OUTCOMES")]
    skipped = (ev.Ignored, ev.ResumptionUpdate, ev.UnknownEvent, ev.Malformed)
    missing = [e.__name__ for e in events if e not in table and e not in skipped]
    actions = [getattr(act, n) for n in act.__all__ if n != "Action"]
    missing += [a.__name__ for a in actions if a not in table]
    assert missing == []


def _text_turn(turn: str, text: str) -> list:
    return [ev.TurnStarted(turn), ev.AssistantTranscript(turn, f"{turn}_item", text, True, "text"),
            ev.TurnEnded(turn, "completed", item_ids=(f"{turn}_item",))]


def _user(msg_id: str) -> act.SendUser:
    return act.SendUser(RealtimeMessage(id=msg_id, role="user", parts=(TextPart(msg_id),)))


def test_each_user_message_knows_which_response_request_answers_it(conv):
    """A message sent while a request is out waits for the next request, not the one in flight."""
    feed(conv, _user("q1"))
    feed(conv, _user("q2"))  # q1's response has not even started yet
    first, second = conv.answer_request["q1"], conv.answer_request["q2"]
    assert second == first + 1
    feed(conv, *_text_turn("r1", "A1"))
    assert conv.log.answer_to(first).text == "A1" and conv.log.answer_to(second) is None
    fx = feed(conv, *_text_turn("r2", "A2"))
    assert conv.log.answer_to(second).text == "A2"
    assert "RequestResponse" not in kinds(fx)  # both questions answered; nothing more requested


def test_a_turn_the_server_started_on_its_own_answers_no_request(conv):
    """A server-VAD response (no request out) is no ask() answer; a raced request is re-made."""
    feed(conv, *_text_turn("vad", "unprompted"))
    feed(conv, _user("q1"))
    wanted = conv.answer_request["q1"]
    assert conv.log.answer_to(wanted) is None
    # our request raced a response the server had just started: that one is not ours
    feed(conv, ev.TurnStarted("vad2"))
    fx = feed(conv, ev.ProviderErrorEvent("busy", "conversation_already_has_active_response", "retry"))
    assert conv.log.answer_to(wanted) is None
    fx = feed(conv, ev.AssistantTranscript("vad2", "vad2_item", "not it", True, "text"),
              ev.TurnEnded("vad2", "completed", item_ids=("vad2_item",)))
    assert conv.log.answer_to(wanted) is None and kinds(fx) == ["RequestResponse"]
    feed(conv, *_text_turn("r1", "ours"))
    assert conv.log.answer_to(wanted).text == "ours"


def test_a_rejected_request_still_answers_a_message_queued_behind_it(conv):
    """q2 waits behind q1's request; q1's request is refused: q1 gets the error, q2 a new request."""
    feed(conv, _user("q1"), _user("q2"))
    fx = feed(conv, ev.ProviderErrorEvent("bad", "invalid_value", "response_rejected"))
    assert isinstance(conv.log.answer_to(conv.answer_request["q1"]), Exception)
    assert kinds(fx) == ["RequestResponse"]
    feed(conv, *_text_turn("r1", "A2"))
    assert conv.log.answer_to(conv.answer_request["q2"]).text == "A2"


def test_queued_audio_keeps_the_mode_thinking_until_heard_then_speaking(conv):
    """Between the turn's end and the first audible sample the mode is thinking, not listening."""
    fx = feed(conv, *audio_turn())
    assert len(fx.play) == 1 and conv.unheard
    assert conv.mode is RealtimeMode.THINKING
    feed(conv, act.PlaybackStarted("item_a"))
    assert conv.mode is RealtimeMode.SPEAKING
    feed(conv, act.PlaybackIdle(played_through=1))
    assert conv.mode is RealtimeMode.LISTENING and not conv.unheard


def test_an_idle_report_that_predates_new_audio_keeps_it_unheard(conv):
    """The speaker went idle after chunk 1 while chunk 2 was on its way: still waiting for it."""
    feed(conv, *audio_turn("r1", "a1")[:3])
    feed(conv, act.PlaybackStarted("a1"), ev.AudioChunk("r1", "a1", b"\x00\x01" * 240))
    feed(conv, act.PlaybackIdle(played_through=1), *audio_turn("r1", "a1")[3:])
    assert conv.unheard and conv.mode is RealtimeMode.THINKING
    feed(conv, act.PlaybackIdle(played_through=2))
    assert conv.mode is RealtimeMode.LISTENING


def test_interrupt_before_the_answer_starts_cancels_it_when_it_does(conv):
    feed(conv, _user("q1"))
    wanted = conv.answer_request["q1"]
    fx = feed(conv, act.RequestInterrupt())
    assert conv.mode is RealtimeMode.LISTENING and kinds(fx) == []
    fx = feed(conv, ev.TurnStarted("r1"))
    assert kinds(fx) == ["Interrupt"] and fx.intents[0].turn == "r1"
    assert conv.mode is RealtimeMode.LISTENING
    fx = feed(conv, ev.AudioChunk("r1", "a1", b"\x00\x01" * 240), ev.TurnEnded("r1", "interrupted"))
    assert fx.play == [] and conv.mode is RealtimeMode.LISTENING
    assert isinstance(conv.log.answer_to(wanted), Exception)  # ask() ends instead of timing out


def test_messages_are_ordered_by_when_each_began(conv):
    """Q2 typed while A1 streams: the conversation reads Q1, A1, Q2, A2 (not Q1, Q2, A1, A2)."""
    feed(conv, _user("q1"), ev.TurnStarted("r1"), ev.AudioChunk("r1", "a1", b"\x00\x01" * 240))
    feed(conv, _user("q2"))
    assert [m.id for m in conv.messages] == ["q1", "q2"]  # A1 is not complete yet
    feed(conv, ev.TurnEnded("r1", "completed", item_ids=("a1",)), *_text_turn("r2", "A2"))
    assert [m.id for m in conv.messages] == ["q1", "a1", "q2", "r2_item"]
    assert [m.id for m in conv.snapshot().messages] == ["q1", "a1", "q2", "r2_item"]


def test_a_voice_message_is_placed_where_the_user_began_speaking(conv):
    """The user barges in on A1: their voice message comes after A1, which began first."""
    feed(conv, ev.TurnStarted("r1"), ev.AudioChunk("r1", "a1", b"\x00\x01" * 240),
         ev.AssistantTranscript("r1", "a1", "Well, ", False), act.PlaybackStarted("a1"))
    feed(conv, ev.SpeechStarted("u1", 100), act.Flushed(PlayedItem("a1", 10.0, 10.0), True),
         ev.TurnEnded("r1", "interrupted"))
    feed(conv, ev.SpeechStopped("u1", 900), ev.UserAudioCommitted("u1"),
         ev.UserTranscript("u1", "stop", True))
    assert [m.id for m in conv.messages] == ["a1", "u1"]


def test_cumulative_interim_user_transcripts_replace_instead_of_append(conv):
    """A non-final transcript with ``cumulative`` becomes the pending text; deltas still append."""
    feed(conv, ev.UserTranscript(None, "hel", False), ev.UserTranscript(None, "lo", False))
    assert conv.snapshot().pending_user_transcript == "hello"
    feed(conv, ev.UserTranscript(None, "hello wor", False, cumulative=True),
         ev.UserTranscript(None, "hello world", False, cumulative=True))
    assert conv.snapshot().pending_user_transcript == "hello world"


def test_provider_notices_reach_on_provider_event_and_change_nothing(conv):
    """A ProviderNotice is handed to on_provider_event as name and a dict copy; state stays."""
    before = conv.snapshot()
    fx = feed(conv, ev.ProviderNotice("vad_score", {"vad_score": 0.5}))
    assert notified(fx, "on_provider_event") == [("vad_score", {"vad_score": 0.5})]
    assert conv.snapshot() == before and fx.intents == []


def test_optional_intents_go_out_when_connected_and_wait_while_reconnecting(conv):
    """send_context/signal_activity intents are sent when connected, queued when reconnecting."""
    fx = feed(conv, act.SendIntent(it.ContextUpdate("on the pricing page", "page")))
    assert fx.intents == [it.ContextUpdate("on the pricing page", "page")]
    feed(conv, act.SessionLost())
    fx = feed(conv, act.SendIntent(it.UserActivity()))
    assert fx.intents == [] and list(conv.queued) == [it.UserActivity()]


def test_ready_formats_replace_the_ones_the_session_opened_with():
    """Audio is timed in the formats the handshake reported (negotiated by the provider)."""
    from realtime_client.audio._format import AudioFormat

    c = Conversation(SessionConfig())
    pcm16k = AudioFormat("pcm16", 16000)
    feed(c, act.Connecting(manual=False), act.SessionOpened(OPENAI_LIKE), ev.Ready(pcm16k, pcm16k),
         act.Connected(mic_open=False))
    assert c.info.output_format == pcm16k and c.info.input_format == pcm16k
    feed(c, ev.TurnStarted("r"), ev.AudioChunk("r", "a", b"\0\0" * 1600), ev.TurnEnded("r", item_ids=("a",)))
    assert c.messages[-1].duration_ms == 100.0


def test_a_correction_replaces_the_text_of_an_ended_or_streaming_message(conv):
    """AssistantTranscriptCorrected rewrites a finished message's transcript, or the live turn's."""
    feed(conv, ev.TurnStarted("t1"), ev.OutputStarted("t1", "a1"),
         ev.AssistantTranscript("t1", "a1", "Hello there, how are you today?", True),
         ev.AudioChunk("t1", "a1", b"\0\0" * 2400), ev.TurnEnded("t1", item_ids=("a1",)))
    feed(conv, ev.AssistantTranscriptCorrected("a1", "Hello there"))
    assert conv.messages[-1].text == "Hello there" and conv.messages[-1].duration_ms == 100.0
    feed(conv, ev.TurnStarted("t2"), ev.OutputStarted("t2", "a2"),
         ev.AssistantTranscript("t2", "a2", "A long answer", True),
         ev.AssistantTranscriptCorrected("a2", "A long"), ev.TurnEnded("t2", item_ids=("a2",)))
    assert conv.messages[-1].text == "A long"


def test_a_flush_forgets_the_items_queued_behind_the_last_audible_one(conv):
    feed(conv, *audio_turn("r1", "a1"), *audio_turn("r2", "a2"), act.PlaybackStarted("a1"))
    fx = feed(conv, act.RequestInterrupt())
    assert fx.flush
    fx = feed(conv, act.Flushed(PlayedItem("a1", heard_ms=300.0, received_ms=1000.0), False))
    (interrupt,) = fx.intents
    assert (interrupt.item_id, interrupt.unheard) == ("a1", ("a2",))
    a1, a2 = conv.messages
    assert a1.interrupted and a1.duration_ms == 300.0
    assert a2.interrupted and a2.duration_ms == 0.0


def test_nothing_is_forgotten_once_the_speaker_went_quiet(conv):
    feed(conv, *audio_turn("r1", "a1"), act.PlaybackStarted("a1"), act.PlaybackIdle())
    assert conv.playing == []
    fx = feed(conv, act.RequestInterrupt())
    assert not fx.flush and fx.intents == []


# --- TurnMetrics: the latency stamps of each assistant turn ----------------------------------------


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def clocked() -> tuple[Conversation, FakeClock]:
    clock = FakeClock()
    c = Conversation(SessionConfig(), clock=clock)
    for item in (act.Connecting(manual=False), act.SessionOpened(OPENAI_LIKE),
                 ev.Ready(OPENAI_LIKE.input_format, OPENAI_LIKE.output_format),
                 act.Connected(mic_open=True, playback=True)):
        c.reduce(item)
    return c, clock


def test_metrics_stamp_text_sent_response_started_first_audio_and_first_heard():
    """A text turn's message carries each stamp, and latencies measured from the text being sent."""
    conv, clock = clocked()
    feed(conv, act.SendUser(RealtimeMessage(id="m1", role="user", parts=(TextPart("hi"),))))
    clock.advance(0.010)
    feed(conv, ev.TurnStarted("r1"))
    clock.advance(0.020)
    feed(conv, ev.OutputStarted("r1", "item_a"), ev.AudioChunk("r1", "item_a", b"\0\1" * 2400))
    clock.advance(0.005)
    feed(conv, act.PlaybackStarted("item_a", audible_at=clock.now + 0.040))
    feed(conv, ev.TurnEnded("r1", item_ids=("item_a",)))
    metrics = conv.messages[-1].metrics
    assert metrics.trigger == "text" and metrics.user_turn_end == 100.0
    assert metrics.response_latency_ms == pytest.approx(10.0)
    assert metrics.first_audio_latency_ms == pytest.approx(30.0)
    assert metrics.first_heard_latency_ms == pytest.approx(75.0)


def test_first_heard_after_the_message_completed_updates_the_message_not_on_message():
    """Audio heard after the turn ended stamps the finished message (a new snapshot, no second on_message)."""
    conv, clock = clocked()
    feed(conv, ev.SpeechStarted("u1", 0))
    clock.advance(1.0)
    feed(conv, ev.SpeechStopped("u1", 1000))
    clock.advance(0.2)
    fx = feed(conv, *audio_turn("r1", "item_a", ms=200))
    assert len(notified(fx, "on_message")) == 1
    announced = notified(fx, "on_message")[0][0]
    assert announced.metrics.trigger == "speech" and announced.metrics.first_heard is None
    version = conv.log.version
    clock.advance(0.05)
    fx = feed(conv, act.PlaybackStarted("item_a"))
    assert notified(fx, "on_message") == [] and conv.log.version > version
    assert conv.messages[-1].metrics.first_heard_latency_ms == pytest.approx(250.0)
    assert conv.messages[-1].metrics.response_latency_ms == pytest.approx(200.0)


def test_an_unprompted_turn_has_no_trigger_and_no_latencies():
    """A greeting the assistant starts on its own has stamps but no user turn to measure from."""
    conv, _clock = clocked()
    feed(conv, *audio_turn("r1", "item_a", ms=100))
    metrics = conv.messages[-1].metrics
    assert metrics.trigger is None and metrics.response_started is not None
    assert metrics.response_latency_ms is None and metrics.first_heard_latency_ms is None


def test_push_to_talk_and_tool_results_are_triggers_too():
    """stop_listening() in manual mode, and a tool's result, each start the next turn's clock."""
    clock = FakeClock()
    conv = Conversation(SessionConfig(vad_mode="manual"), clock=clock)
    for item in (act.Connecting(manual=True), act.SessionOpened(OPENAI_LIKE),
                 ev.Ready(OPENAI_LIKE.input_format, OPENAI_LIKE.output_format),
                 act.Connected(mic_open=True, playback=True)):
        conv.reduce(item)
    feed(conv, act.MicChanged(True), act.CapturedAudio(b"\0\0" * 4800, 200.0), act.PushToTalkEnded())
    clock.advance(0.1)
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"), ev.TurnEnded("r1"))
    assert conv.messages[-1].metrics.trigger == "push_to_talk"
    assert conv.messages[-1].metrics.response_latency_ms == pytest.approx(100.0)
    clock.advance(1.0)
    feed(conv, act.ToolFinished(outcome("call_1")))
    clock.advance(0.03)
    feed(conv, *audio_turn("r2", "item_b", ms=100))
    metrics = conv.messages[-1].metrics
    assert metrics.trigger == "tool_result" and metrics.response_latency_ms == pytest.approx(30.0)


def _text(msg_id: str, text: str) -> act.SendUser:
    return act.SendUser(RealtimeMessage(id=msg_id, role="user", parts=(TextPart(text),)))


def test_an_interrupt_meant_for_a_refused_request_does_not_cut_the_next_answer(conv):
    """interrupt() before the answer began, then the request is refused: the flag that would cut
    the answer when it starts goes with the request, and the next message's answer plays."""
    feed(conv, _text("m1", "one"), act.RequestInterrupt())
    feed(conv, ev.ProviderErrorEvent("Rate limit reached", "rate_limit_exceeded", "response_rejected"))
    fx = feed(conv, _text("m2", "two"), *audio_turn())
    assert "Interrupt" not in kinds(fx)
    (msg,) = [m for (m,) in notified(fx, "on_message") if m.role == "assistant"]
    assert not msg.interrupted and msg.text == "Hello there"
    assert conv.log.answer_to(conv.answer_request["m2"]) is msg


def test_opening_the_mic_again_while_open_keeps_the_push_to_talk_utterance():
    """start_listening() twice (a key's auto-repeat) must not throw away what was captured."""
    c = connected(vad_mode="manual")
    feed(c, act.MicChanged(True), act.CapturedAudio(b"\x00" * 9600, 200.0))
    feed(c, act.MicChanged(True), act.CapturedAudio(b"\x00" * 960, 20.0))
    fx = feed(c, act.PushToTalkEnded())
    assert fx.intents[0] == it.CommitAudio(220.0) and kinds(fx) == ["CommitAudio", "RequestResponse"]
    feed(c, act.MicChanged(True))  # a new utterance starts from nothing
    assert kinds(feed(c, act.PushToTalkEnded())) == ["ClearAudio"]


def test_asking_while_the_previous_answer_is_audible_stays_speaking_until_it_is_heard(conv):
    """send_text() or a push-to-talk commit while the last answer still plays: speaking while it
    is audible, thinking once it went quiet and the new answer is awaited."""
    feed(conv, *audio_turn(ms=3000), act.PlaybackStarted("item_a"))
    feed(conv, _text("m2", "by the way"))
    assert conv.mode is RealtimeMode.SPEAKING
    feed(conv, act.PlaybackIdle())
    assert conv.mode is RealtimeMode.THINKING
    c = connected(vad_mode="manual")
    feed(c, *audio_turn(ms=3000), act.PlaybackStarted("item_a"),
         act.MicChanged(True), act.CapturedAudio(b"\x00" * 4800, 100.0), act.PushToTalkEnded())
    assert c.mode is RealtimeMode.SPEAKING
    feed(c, act.PlaybackIdle())
    assert c.mode is RealtimeMode.THINKING


def _two_item_turn(first_ms: int, second_ms: int, end: bool) -> list:
    events = [ev.TurnStarted("resp_1"), ev.OutputStarted("resp_1", "item_a"),
              ev.AudioChunk("resp_1", "item_a", b"\x00\x01" * (24 * first_ms)),
              ev.OutputStarted("resp_1", "item_b"),
              ev.AudioChunk("resp_1", "item_b", b"\x00\x01" * (24 * second_ms))]
    return events + ([ev.TurnEnded("resp_1", item_ids=("item_a", "item_b"))] if end else [])


@pytest.mark.parametrize("ended", [False, True], ids=["while streaming", "after the turn ended"])
def test_an_answer_of_two_items_cut_in_the_second_lasted_the_first_plus_what_was_heard(ended):
    """The message's duration is what the user heard of the whole answer: the first item in full,
    then the part of the second; the truncate still names the second item and its own ms."""
    conv = connected()
    feed(conv, *_two_item_turn(500, 2000, ended), act.PlaybackStarted("item_a"), act.RequestInterrupt())
    fx = feed(conv, act.Flushed(PlayedItem("item_b", 360.0, 2000.0), by_user_speech=False))
    (interrupt,) = [i for i in fx.intents if isinstance(i, it.Interrupt)]
    assert (interrupt.item_id, interrupt.heard_ms) == ("item_b", 360.0)
    if not ended:
        feed(conv, ev.TurnEnded("resp_1", "interrupted", item_ids=("item_a", "item_b")))
    (msg,) = [m for m in conv.messages if m.role == "assistant"]
    assert msg.interrupted and msg.duration_ms == 860.0
    assert msg.parts[0].duration_ms == 860.0


def test_a_request_whose_answer_never_began_is_made_again_on_a_fresh_session(conv):
    """The connection drops after response.create and before the turn: the history is replayed
    to the new session and the answer asked for again, under the same request number."""
    feed(conv, _text("m1", "question"))
    request = conv.answer_request["m1"]
    feed(conv, act.SessionLost(), act.SessionOpened(OPENAI_LIKE), ev.Ready())
    fx = feed(conv, act.Resumed(replay=True))
    assert kinds(fx) == ["Replay", "RequestResponse"] and conv.mode is RealtimeMode.THINKING
    fx = feed(conv, *audio_turn())
    (msg,) = [m for (m,) in notified(fx, "on_message")]
    assert conv.log.answer_to(request) is msg


def test_a_resumed_session_ends_the_wait_for_an_answer_that_never_began(conv):
    """A resumed session may already hold the request (asking again could answer twice): the
    waiting ask() gets an error at once instead of running out its timeout."""
    feed(conv, _text("m1", "question"))
    request = conv.answer_request["m1"]
    feed(conv, act.SessionLost(), act.SessionOpened(OPENAI_LIKE), ev.Ready())
    fx = feed(conv, act.Resumed(replay=False))
    assert "RequestResponse" not in kinds(fx)
    result = conv.log.answer_to(request)
    assert isinstance(result, RealtimeError) and "dropped before the answer began" in str(result)
    assert result.code == "CONNECTION_FAILED"


def test_a_message_sent_during_an_answer_the_drop_cut_is_answered_after_the_reconnect(conv):
    """A message sent while a turn streamed waits for that turn to end; the drop ends it instead,
    and the new session is asked for the answer the message still awaits."""
    feed(conv, *audio_turn()[:3], _text("m2", "and another thing"))
    request = conv.answer_request["m2"]
    feed(conv, act.SessionLost(), act.SessionOpened(OPENAI_LIKE), ev.Ready())
    fx = feed(conv, act.Resumed(replay=True))
    assert kinds(fx) == ["Replay", "RequestResponse"]
    fx = feed(conv, *audio_turn(turn="resp_2", item="item_b"))
    (msg,) = [m for (m,) in notified(fx, "on_message")]
    assert conv.log.answer_to(request) is msg


def test_a_message_that_arrives_after_the_session_ended_is_not_added_nor_sent(conv):
    """send_text() checked the status, then disconnect() won the race to the reducer: the message
    is neither added, announced nor sent (the facade sees it missing and raises)."""
    feed(conv, act.SessionEnded(RealtimeStatus.IDLE))
    fx = feed(conv, _text("late", "anyone?"))
    assert fx.intents == [] and notified(fx, "on_message") == []
    assert not conv.log.has("late") and conv.messages == []
    feed(conv, act.Connecting(manual=False), act.SessionOpened(OPENAI_LIKE), ev.Ready(), act.Connected(False))
    feed(conv, _text("m", "now"))
    assert conv.log.has("m")


def test_a_repeated_final_user_transcript_updates_the_message_and_is_not_announced_again():
    """A provider that sends the final transcript of one item twice: one message, announced once,
    holding the latest text (later changes reach subscribers as state changes)."""
    conv = connected(ProviderInfo("openai", can_truncate=True, commit_min_ms=100, transcribes_input=True))
    feed(conv, ev.SpeechStarted("u1", 0), ev.SpeechStopped("u1", 900), ev.UserAudioCommitted("u1"))
    fx = feed(conv, ev.UserTranscript("u1", "what time", True),
              ev.UserTranscript("u1", "what time is it", True))
    assert [m.text for (m,) in notified(fx, "on_message")] == ["what time"]
    assert [(m.id, m.text) for m in conv.messages] == [("u1", "what time is it")]


@pytest.mark.parametrize("provider", ["gemini", "elevenlabs"])
def test_a_provider_that_answers_turns_by_itself_ends_the_wait_for_a_lost_answer(provider):
    """Gemini and ElevenLabs answer a user turn on their own (RequestResponse sends nothing), so a
    fresh session cannot be asked again: the waiting ask() gets an error at once, and the
    conversation is not left awaiting a request that never went out."""
    info = ProviderInfo(provider, answers_on_request=False)
    conv = connected(info)
    feed(conv, _text("m1", "question"))
    request = conv.answer_request["m1"]
    feed(conv, act.SessionLost(), act.SessionOpened(info), ev.Ready())
    fx = feed(conv, act.Resumed(replay=True))
    assert "RequestResponse" not in kinds(fx)
    assert isinstance(conv.log.answer_to(request), Exception)
    assert not conv.response_requested and conv.mode is RealtimeMode.LISTENING
    feed(conv, _text("m2", "again"), *audio_turn())
    assert conv.log.answer_to(conv.answer_request["m2"]).text == "Hello there"


def test_push_to_talk_ignores_speech_reported_after_the_talk_key_was_released():
    """Gemini reports the user's speech from transcripts that come after activityEnd: in manual
    mode the talk key rules, so the mode stays thinking (never listening with the mic closed) and
    the answer's latency is measured from the release, as push_to_talk."""
    gemini = ProviderInfo("gemini", speech_interrupts=False, answers_on_request=False)
    c = connected(gemini, vad_mode="manual")
    feed(c, act.MicChanged(True), act.CapturedAudio(b"\x00" * 9600, 200.0), act.PushToTalkEnded())
    released = c.turn_end
    modes = []
    for event in (ev.SpeechStarted("u1"), ev.UserTranscript("u1", "hi", False), ev.SpeechStopped("u1")):
        feed(c, event)
        modes.append(c.mode)
    assert modes == [RealtimeMode.THINKING] * 3 and c.turn_end == released
    fx = feed(c, *audio_turn())
    (msg,) = [m for (m,) in notified(fx, "on_message") if m.role == "assistant"]
    assert msg.metrics.trigger == "push_to_talk" and msg.metrics.user_turn_end == released[1]


def test_interrupt_while_a_tool_runs_cuts_the_answer_its_result_would_ask_for(conv):
    """interrupt() while a tool handler runs (the model's turn is over): listening at once,
    on_interrupted, and when the tool is done its result goes out without asking for an answer."""
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"),
         ev.TurnEnded("r1", item_ids=("fc_1",)))
    assert conv.mode is RealtimeMode.THINKING
    fx = feed(conv, act.RequestInterrupt())
    assert notified(fx, "on_interrupted") == [()] and conv.mode is RealtimeMode.LISTENING
    assert kinds(feed(conv, act.ToolFinished(outcome("call_1", "done", "done")))) == ["ToolResult"]
    assert conv.mode is RealtimeMode.LISTENING
    assert notified(feed(conv, act.RequestInterrupt()), "on_interrupted") == []  # nothing left to cut
    assert kinds(feed(conv, _text("m2", "next"))) == ["UserMessage", "RequestResponse"]


def test_interrupt_of_a_turn_whose_tool_still_runs_asks_for_no_answer_after_it(conv):
    """The turn that called the tool is still streaming when interrupt() cuts it: neither its end
    nor the tool's result asks for the follow-up answer."""
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"), act.RequestInterrupt())
    fx = feed(conv, act.ToolFinished(outcome("call_1", "done", "done")), ev.TurnEnded("r1", "interrupted"))
    assert "RequestResponse" not in kinds(fx) and conv.mode is RealtimeMode.LISTENING


def test_a_turn_cut_before_it_began_stays_cut_when_its_frames_follow():
    """ElevenLabs ends a turn cut before it began at once (take_events), while the frame that
    started it still carries its output: that output neither plays nor shows, and no message of
    it appears later (a fresh, uncut turn was built for it)."""
    info = ProviderInfo("elevenlabs", speech_interrupts=False, answers_on_request=False)
    conv = connected(info)
    feed(conv, _text("m1", "tell me a story"), act.RequestInterrupt())
    pcm = b"\x00\x01" * 2400
    fx = feed(conv, ev.TurnStarted("6"), ev.TurnEnded("6", "interrupted"), ev.OutputStarted("6", "6"),
              ev.AudioChunk("6", "6", pcm), ev.AssistantTranscript("6", "6", "The cut answer.", False))
    assert fx.play == [] and conv.log.pending_assistant == ""
    feed(conv, act.SessionLost())
    assert [m.role for m in conv.messages] == ["user"]


def test_interrupt_while_a_tool_runs_ends_the_wait_of_the_ask_that_needed_it(conv):
    """ask() whose answer needs a tool, interrupted while the tool runs: the wait ends at once
    with an error (no answer will be asked for), not when its timeout runs out."""
    feed(conv, _text("m1", "weather?"), ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"),
         ev.TurnEnded("r1", item_ids=("fc_1",)))
    request = conv.answer_request["m1"]
    assert conv.log.answer_to(request) is None
    feed(conv, act.RequestInterrupt())
    result = conv.log.answer_to(request)
    assert isinstance(result, RealtimeError) and "interrupted while its tool ran" in str(result)


def test_speech_while_a_tool_runs_leaves_its_answer_to_come():
    """Server VAD: the user saying something while the tool runs is a new turn, not interrupt():
    the result still asks for its answer."""
    conv = connected()
    feed(conv, ev.TurnStarted("r1"), ev.ToolCall("r1", "call_1", "f", "{}", "fc_1"),
         ev.TurnEnded("r1", item_ids=("fc_1",)), ev.SpeechStarted("u1", 0))
    assert kinds(feed(conv, act.ToolFinished(outcome("call_1", "done", "done")))) == ["ToolResult",
                                                                                      "RequestResponse"]


def test_interrupt_while_a_tool_runs_cuts_the_answer_a_self_answering_provider_gives_its_result():
    """Gemini and ElevenLabs answer a tool result by themselves: that answer is cut as it starts."""
    conv = connected(ProviderInfo("gemini", speech_interrupts=False, answers_on_request=False))
    feed(conv, ev.TurnStarted("t1"), ev.ToolCall("t1", "call_1", "f", "{}", "fc_1"),
         ev.TurnEnded("t1", item_ids=("fc_1",)), act.RequestInterrupt())
    assert kinds(feed(conv, act.ToolFinished(outcome("call_1", "done", "done")))) == ["ToolResult"]
    fx = feed(conv, *audio_turn(turn="t2", item="t2_a"))
    assert fx.play == [] and "Interrupt" in kinds(fx) and conv.mode is RealtimeMode.LISTENING


def test_an_answer_of_two_items_none_of_it_heard_lasted_nothing():
    """Both items of an ended answer were queued and none was audible when it was cut: 0 ms."""
    conv = connected()
    feed(conv, *_two_item_turn(1000, 1000, True), act.RequestInterrupt())
    feed(conv, act.Flushed(None, by_user_speech=False))
    (msg,) = [m for m in conv.messages if m.role == "assistant"]
    assert msg.interrupted and msg.duration_ms == 0.0


def test_two_requests_lost_in_a_drop_are_both_made_again(conv):
    """q1's answer had not begun and q2 waited behind it when the socket dropped: the fresh
    session is asked for q1's answer, then for q2's once that one ends."""
    feed(conv, _text("m1", "q1"), _text("m2", "q2"))
    first, second = conv.answer_request["m1"], conv.answer_request["m2"]
    feed(conv, act.SessionLost(), act.SessionOpened(OPENAI_LIKE), ev.Ready())
    assert kinds(feed(conv, act.Resumed(replay=True))) == ["Replay", "RequestResponse"]
    fx = feed(conv, *audio_turn())
    assert kinds(fx)[-1:] == ["RequestResponse"] and conv.log.answer_to(first).text == "Hello there"
    feed(conv, *audio_turn(turn="resp_2", item="item_b"))
    assert conv.log.answer_to(second) is not conv.log.answer_to(first)


@pytest.mark.parametrize("provider", ["gemini", "elevenlabs"])
def test_a_message_sent_after_the_interrupt_is_answered_though_the_cut_tool_finishes_first(provider):
    """On a provider that answers a tool result by itself, the cut is meant for that answer only:
    once the user sends something new, the next turn may be its answer, and it plays."""
    conv = connected(ProviderInfo(provider, speech_interrupts=False, answers_on_request=False))
    feed(conv, _text("m1", "weather?"), ev.TurnStarted("t1"), ev.ToolCall("t1", "call_1", "f", "{}", "fc_1"),
         ev.TurnEnded("t1", item_ids=("fc_1",)), act.RequestInterrupt(), _text("m2", "never mind, a joke?"))
    feed(conv, act.ToolFinished(outcome("call_1", "done", "done")))
    fx = feed(conv, *audio_turn(turn="t2", item="t2_a"))
    assert fx.play and conv.log.answer_to(conv.answer_request["m2"]).text == "Hello there"
    assert not conv.cut_tool_answer


def test_a_tool_called_by_an_answer_the_user_cut_off_does_not_run(conv):
    """The function call of a response the user already cut (a cancel is asynchronous) is not
    run: the user said stop, and its side effects should not happen after that."""
    feed(conv, _text("m1", "book it"), ev.TurnStarted("r1"), ev.OutputStarted("r1", "i1"),
         ev.AudioChunk("r1", "i1", b"\x00\x01" * 2400), act.RequestInterrupt(), act.Flushed(None, False))
    fx = feed(conv, ev.ToolCall("r1", "call_1", "book", "{}", "fc_1"),
              ev.TurnEnded("r1", "interrupted", item_ids=("i1", "fc_1")))
    assert fx.tool_calls == [] and conv.mode is RealtimeMode.LISTENING
    assert not conv.book.tools_outstanding()


def test_late_frames_of_a_cut_turn_leave_the_next_answer_its_latency_stamp(conv):
    """Frames of a turn the user cut, arriving after it ended, do not take the stamp of the
    user's next message: its answer measures its latency from that message."""
    feed(conv, _text("m1", "one"), *audio_turn(ms=300)[:3], act.PlaybackStarted("item_a"),
         act.RequestInterrupt(), act.Flushed(PlayedItem("item_a", 100.0, 300.0), by_user_speech=False),
         ev.TurnEnded("resp_1", "interrupted"))
    feed(conv, _text("m2", "two"))
    sent = conv.turn_end
    late = b"\x00\x01" * 240
    feed(conv, ev.OutputStarted("resp_1", "item_late"), ev.AudioChunk("resp_1", "item_late", late))
    assert conv.turn_end == sent
    fx = feed(conv, *audio_turn(turn="resp_2", item="item_b"))
    (msg,) = [m for (m,) in notified(fx, "on_message") if m.role == "assistant"]
    assert msg.metrics.trigger == "text" and msg.metrics.user_turn_end == sent[1]


def test_an_image_on_a_provider_that_answers_no_image_asks_for_nothing():
    """Gemini takes an image as context for the next turn: send_image(respond=True) must not
    leave the client awaiting an answer (the mode stuck on thinking, and the next ask() given
    that phantom request's number)."""
    from realtime_client import ImagePart

    conv = connected(ProviderInfo("gemini", speech_interrupts=False, answers_on_request=False,
                                  images_answered=False))
    jpeg = ImagePart(b"\xff\xd8\xff", "image/jpeg")
    image = act.SendUser(RealtimeMessage(id="img", role="user", parts=(jpeg,)))
    fx = feed(conv, image)
    assert kinds(fx) == ["UserMessage"] and conv.mode is RealtimeMode.LISTENING
    assert not conv.response_requested and "img" not in conv.answer_request
    feed(conv, _text("m1", "what is in it?"), *audio_turn())
    assert conv.log.answer_to(conv.answer_request["m1"]).text == "Hello there"
