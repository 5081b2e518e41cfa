"""Planned moves and carried audio in the reducer (``_moves.py``), driven by ProviderInfo flags only.

No provider is named here: a provider that warns (``resume_on_go_away``), marks resumable
moments (``resumable_points``) or changes some settings only on a new connection
(``live_update_fields`` / ``update_by_reconnect``) gets these behaviours; one that sets none of
the flags behaves as before.
"""

from __future__ import annotations

from typing import Any

from realtime_client import RealtimeStatus
from realtime_client import _actions as act
from realtime_client import _events as ev
from realtime_client import _intents as it
from realtime_client._models import SessionConfig
from realtime_client._provider import ProviderInfo
from realtime_client._reducer import Conversation, Effects

PLAIN = ProviderInfo("plain")
RESUMING = ProviderInfo("resuming", speech_interrupts=False, live_session_update=False,
                        update_by_reconnect=True, resume_on_go_away=True, resumable_points=True)
PARTIAL = ProviderInfo("partial", live_session_update=True, live_update_fields=frozenset({"instructions"}),
                       update_by_reconnect=True)


def connected(info: ProviderInfo, **config: Any) -> Conversation:
    c = Conversation(SessionConfig(**config))
    for item in (act.Connecting(manual=False), act.SessionOpened(info), ev.Ready(),
                 act.Connected(mic_open=True, playback=False)):
        c.reduce(item)
    return c


def moves_after(c: Conversation, *items: Any) -> bool:
    """Whether any of ``items`` asked for a move."""
    return any(c.reduce(item).reconnect for item in items)


def answer(turn: str = "t1") -> list:
    return [ev.TurnStarted(turn), ev.AssistantTranscript(turn, "i1", "Hi", False, "text"), ev.TurnEnded(turn)]


def test_a_provider_without_the_flags_never_moves():
    """GoAway and an update are reported/sent as before: no move is asked for."""
    c = connected(PLAIN)
    fx = c.reduce(ev.GoAway(30.0))
    assert not fx.reconnect and fx.notifications == [("on_go_away", (30.0,))]
    fx = c.reduce(act.ChangeConfig("u1", SessionConfig(instructions="x"), ("instructions",)))
    assert not fx.reconnect and [type(i).__name__ for i in fx.intents] == ["UpdateSession"]


def test_go_away_moves_at_once_when_quiet_and_covered():
    """Nothing said since the last resumable point: GoAway moves immediately."""
    c = connected(RESUMING)
    assert moves_after(c, ev.GoAway(50.0))


def test_go_away_waits_for_the_turn_and_a_fresh_resumption_point():
    """During an answer the move waits; the end of the turn is not enough until the provider
    marks a resumable point that covers it."""
    c = connected(RESUMING)
    c.reduce(ev.TurnStarted("t1"))
    assert not moves_after(c, ev.GoAway(50.0))
    assert not moves_after(c, ev.AssistantTranscript("t1", "i1", "Hi", False, "text"), ev.TurnEnded("t1"))
    assert moves_after(c, ev.ResumptionUpdate("h2"))
    assert not moves_after(c, ev.ResumptionUpdate("h3")), "one GoAway, one move"


def test_go_away_waits_while_the_user_speaks():
    """A move never splits the user's utterance: it waits until the turn is placed."""
    c = connected(RESUMING)
    c.reduce(ev.SpeechStarted("u1"))
    assert not moves_after(c, ev.GoAway(50.0), ev.ResumptionUpdate("h1"))
    assert moves_after(c, ev.UserAudioCommitted("u1"), *answer(), ev.ResumptionUpdate("h2"))


def test_update_moves_only_for_fields_the_live_session_cannot_take():
    """live_update_fields decides: instructions go live; voice needs a move; a provider without
    update_by_reconnect keeps the change for the next connection."""
    c = connected(PARTIAL)
    fx = c.reduce(act.ChangeConfig("u1", SessionConfig(instructions="x"), ("instructions",)))
    assert not fx.reconnect and [type(i).__name__ for i in fx.intents] == ["UpdateSession"]
    fx = c.reduce(act.ChangeConfig("u2", SessionConfig(instructions="x", voice="v"), ("voice",)))
    assert fx.reconnect and fx.intents == []
    off = connected(ProviderInfo("offline", live_session_update=False))
    fx = off.reduce(act.ChangeConfig("u3", SessionConfig(voice="v"), ("voice",)))
    assert not fx.reconnect and fx.intents == []


def test_a_planned_move_holds_audio_and_sends_it_after_the_resume():
    """Audio captured while moving is held, then sent after the queued messages; on_go_away
    does not fire a second time for a planned move."""
    c = connected(RESUMING)
    c.reduce(act.CapturedAudio(b"\x01\x00" * 320, 20.0))
    c.reduce(ev.ResumptionUpdate("h1"))  # the audio above is covered
    fx = c.reduce(act.SessionLost(planned=True))
    assert c.status is RealtimeStatus.RECONNECTING and fx.notifications[:1] != [("on_go_away", (0.0,))]
    c.reduce(act.CapturedAudio(b"\x02\x00" * 320, 20.0))
    c.reduce(act.SessionOpened(RESUMING))
    c.reduce(ev.Ready())
    fx = c.reduce(act.Resumed(replay=False))
    audio = [i.audio for i in fx.intents if isinstance(i, it.AppendAudio)]
    assert audio == [b"\x02\x00" * 320]
    assert c.status is RealtimeStatus.CONNECTED


def test_after_a_drop_audio_since_the_last_resumable_point_is_sent_again():
    """A resumed session starts at its handle: audio sent after it is sent again, oldest first,
    then what was captured during the outage."""
    c = connected(RESUMING)
    c.reduce(ev.ResumptionUpdate("h1"))
    first, second = b"\x01\x00" * 160, b"\x02\x00" * 160
    c.reduce(act.CapturedAudio(first, 10.0))
    c.reduce(act.SessionLost())
    c.reduce(act.CapturedAudio(second, 10.0))
    c.reduce(act.SessionOpened(RESUMING))
    c.reduce(ev.Ready())
    fx = c.reduce(act.Resumed(replay=False))
    assert [i.audio for i in fx.intents if isinstance(i, it.AppendAudio)] == [first, second]


def test_a_plain_provider_drops_audio_while_reconnecting():
    """Without resumable points nothing is held or re-sent (replayed sessions start fresh)."""
    c = connected(PLAIN)
    c.reduce(act.CapturedAudio(b"\x01\x00" * 160, 10.0))
    c.reduce(act.SessionLost())
    c.reduce(act.CapturedAudio(b"\x02\x00" * 160, 10.0))
    c.reduce(act.SessionOpened(PLAIN))
    c.reduce(ev.Ready())
    fx: Effects = c.reduce(act.Resumed(replay=False))
    assert not [i for i in fx.intents if isinstance(i, it.AppendAudio)]


def test_new_turns_wait_for_the_move_once_a_go_away_is_due():
    """After GoAway a new user message is held, so the old connection can go quiet; it goes out
    on the new connection with its response request, and its answer is still the one awaited."""
    from realtime_client import RealtimeMessage, TextPart

    c = connected(RESUMING)
    c.reduce(ev.TurnStarted("t1"))
    c.reduce(ev.GoAway(50.0))
    msg = RealtimeMessage(id="m2", role="user", parts=(TextPart("next question"),))
    fx = c.reduce(act.SendUser(msg))
    assert fx.intents == [] and [type(i).__name__ for i in c.queued] == ["UserMessage"]
    assert not moves_after(c, ev.AssistantTranscript("t1", "i1", "Hi", False, "text"), ev.TurnEnded("t1"))
    later = RealtimeMessage(id="m3", role="user", parts=(TextPart("and another"),))
    c.reduce(act.SendUser(later))  # held as well: the old connection never hears it
    assert moves_after(c, ev.ResumptionUpdate("h2")), "a held message must not keep the move waiting"
    assert [type(i).__name__ for i in c.queued] == ["UserMessage", "RequestResponse", "UserMessage"]
    c.reduce(act.SessionLost(planned=True))
    c.reduce(act.SessionOpened(RESUMING))
    c.reduce(ev.Ready())
    fx = c.reduce(act.Resumed(replay=False))
    assert [type(i).__name__ for i in fx.intents] == ["UserMessage", "RequestResponse", "UserMessage"]
    c.reduce(ev.TurnStarted("t2"))
    assert c.book.turns["t2"].request == c.answer_request["m2"]


def test_no_move_is_wanted_when_reconnecting_is_off():
    """Without a reconnector nothing can move: GoAway is only reported and nothing is held."""
    from realtime_client import RealtimeMessage, TextPart

    c = Conversation(SessionConfig())
    for item in (act.Connecting(manual=False), act.SessionOpened(RESUMING, can_move=False), ev.Ready(),
                 act.Connected(mic_open=True, playback=False)):
        c.reduce(item)
    assert not moves_after(c, ev.GoAway(50.0))
    fx = c.reduce(act.SendUser(RealtimeMessage(id="m", role="user", parts=(TextPart("hi"),))))
    assert [type(i).__name__ for i in fx.intents] == ["UserMessage", "RequestResponse"]


def test_a_message_held_while_playback_drains_does_not_stale_the_resume_point():
    """The resume point arrives while the answer still plays; the user's next message (held for
    the move) must not make it stale, so the move starts when playback goes idle."""
    from realtime_client import RealtimeMessage, TextPart

    c = Conversation(SessionConfig())
    for item in (act.Connecting(manual=False), act.SessionOpened(RESUMING), ev.Ready(),
                 act.Connected(mic_open=True, playback=True)):
        c.reduce(item)
    c.reduce(ev.TurnStarted("t1"))
    c.reduce(ev.GoAway(50.0))
    c.reduce(ev.AudioChunk("t1", "i1", b"\x00\x00" * 2400))
    assert not moves_after(c, ev.TurnEnded("t1"), ev.ResumptionUpdate("h1")), "audio is still playing"
    c.reduce(act.SendUser(RealtimeMessage(id="m", role="user", parts=(TextPart("next"),))))
    assert moves_after(c, act.PlaybackIdle()), "the held message kept the move waiting"


def test_a_message_sent_between_the_move_and_the_disconnect_waits_for_the_new_connection():
    """Once the reducer asked for the move, a message sent before the old connection is detached
    is held: on the old one it would start a turn the resumed session never sees."""
    from realtime_client import RealtimeMessage, TextPart

    c = connected(RESUMING)
    assert moves_after(c, ev.GoAway(50.0))
    fx = c.reduce(act.SendUser(RealtimeMessage(id="m", role="user", parts=(TextPart("in between"),))))
    assert fx.intents == [] and [type(i).__name__ for i in c.queued] == ["UserMessage", "RequestResponse"]
    c.reduce(act.SessionLost(planned=True))
    c.reduce(act.SessionOpened(RESUMING))
    c.reduce(ev.Ready())
    fx = c.reduce(act.Resumed(replay=False))
    assert [type(i).__name__ for i in fx.intents] == ["UserMessage", "RequestResponse"]
