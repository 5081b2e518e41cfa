"""The conversation reducer: the one writer of conversation state.

Provider events (``_events.py``) and client actions (``_actions.py``) go in through one entry
point, :meth:`Conversation.reduce`, which dispatches by type through an explicit table and
returns :class:`Effects`: intents for the provider, audio to play, tools to run, callbacks to
queue. It performs no I/O, starts no threads and takes no locks: the state owner
(``_state.py``) calls it under its lock and carries the effects out after releasing it.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import attrs

from . import _actions as act
from . import _events as ev
from . import _intents as it
from ._effects import Effects
from ._errors import ProviderError, RealtimeError
from ._messages import MessageLog, within_budget
from ._models import (
    AudioPart,
    ClientState,
    ImagePart,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    SessionConfig,
    TextPart,
    TurnMetrics,
)
from ._moves import Moves
from ._provider import ProviderInfo
from ._turns import Turn, TurnBook, build_message
from ._util import new_id

__all__ = ["Conversation", "Effects"]  # Effects is re-exported for the state owner

log = logging.getLogger("realtime_client")



class Conversation:
    """All conversation state. Call :meth:`reduce` only under the state owner's lock."""

    def __init__(self, config: SessionConfig, provider: str = "unknown",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self._clock = clock  # stamps TurnMetrics only; no decision depends on it
        self.info = ProviderInfo(provider)
        self.status = RealtimeStatus.IDLE
        self.mode = RealtimeMode.IDLE
        self.log = MessageLog()
        self.error: Optional[Exception] = None
        self.config = config  # what the user asked for (rejected changes reverted)
        self.applied = config  # what the provider accepted: reconnects start from it
        self.started = config  # what the current connection was started with
        self.manual = config.vad_mode == "manual"
        self.queued: Deque[it.Intent] = collections.deque()  # intents held while reconnecting
        self.replay_count = 0
        self.requests_made = 0  # response requests so far (never reset: ask() waits on them)
        self.answer_request: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.mic_open = False
        self.playback = True
        self.chunks_played = 0  # audio chunks handed to the speaker
        self.chunks_over = 0  # of those, the ones heard to the end, flushed or unplayable
        self._pending_updates: Dict[str, Tuple[str, ...]] = {}
        self.moves = Moves()
        self.can_move = True  # the live session can reconnect on purpose (reconnecting is on)
        # set when a connection drops: the request whose answer had not begun (its number), and
        # whether a request was still to be made after the turn the drop cut short
        self.lost_request: Optional[int] = None
        self.lost_want = False
        self._handlers: Dict[type, Callable[[Any, Effects], None]] = self._dispatch_table()
        self.reset_session()

    def reset_session(self) -> None:
        """Forget everything tied to one provider session (ids, active turn)."""
        self.ready = False
        self.history_lost = False  # a resume found the provider's copy of the conversation gone
        self.start_error: Optional[RealtimeError] = None
        self.active_turn: Optional[str] = None
        self.response_requested = False  # a request is out and its turn has not started
        self.requested = 0  # which request that is
        self.cancel_requested = False  # the user interrupted it before it started: cut it at once
        # interrupt() while a tool ran, on a provider that answers a tool result by itself: cut
        # the next turn, the answer to that result, unless the user began a turn since
        self.cut_tool_answer = False
        self.user_turns = 0  # user turns begun (text, speech, push-to-talk) in this session
        self.tool_cut_mark = -1  # user_turns when interrupt() last cut a tool's answer
        self.want_response = False
        self.book = TurnBook()
        self.log.reset_session()
        self.audible = False
        self.chunks_over = self.chunks_played  # what was queued died with the session
        self.playing: List[str] = []  # items handed to the speaker since it was last quiet, in order
        self.interrupt_turn: Optional[str] = None
        self.captured_ms = 0.0
        self._pending_updates = {}
        self.turn_end: Optional[Tuple[str, float]] = None  # (trigger, when) for the next turn

    # what the state owner and the facade read (under the lock)
    @property
    def messages(self) -> List[RealtimeMessage]:
        """The messages in conversation order."""
        return self.log.ordered()

    # --- the entry point -------------------------------------------------------------------

    def reduce(self, item: Any) -> Effects:
        """Apply one event or action; return what must happen next."""
        fx = Effects()
        handler = self._handlers.get(type(item))
        if handler is not None:
            handler(item, fx)
        return fx

    def _dispatch_table(self) -> Dict[type, Callable[[Any, Effects], None]]:
        return {
            # provider events
            ev.Ready: self._on_ready, ev.ConfigApplied: self._on_config_applied,
            ev.ConfigRejected: self._on_config_rejected, ev.SpeechStarted: self._on_speech_started,
            ev.SpeechStopped: self._on_speech_stopped, ev.UserAudioCommitted: self._on_user_audio,
            ev.UserTranscript: self._on_user_transcript,
            ev.UserTranscriptFailed: self._on_user_transcript_failed,
            ev.TurnStarted: self._on_turn_started, ev.OutputStarted: self._on_output_started,
            ev.AssistantTranscript: self._on_assistant_transcript, ev.AudioChunk: self._on_audio,
            ev.AssistantTranscriptCorrected: self._on_transcript_corrected,
            ev.ToolCall: self._on_tool_call, ev.ToolCallCancelled: self._on_tool_call_cancelled,
            ev.TurnEnded: self._on_turn_ended, ev.Interrupted: self._on_interrupted,
            ev.GoAway: self._on_go_away, ev.ProviderErrorEvent: self._on_provider_error,
            ev.ResumptionUpdate: self._on_resumption_update,
            ev.ProviderNotice: self._on_provider_notice,
            # client actions
            act.Connecting: self._on_connecting, act.SessionOpened: self._on_session_opened,
            act.Connected: self._on_connected, act.ConnectFailed: self._on_connect_failed,
            act.SessionLost: self._on_session_lost, act.Resumed: self._on_resumed,
            act.SessionEnded: self._on_session_ended, act.MicChanged: self._on_mic_changed,
            act.CapturedAudio: self._on_captured_audio, act.PushToTalkEnded: self._on_push_to_talk_ended,
            act.SendUser: self._on_send_user, act.RequestInterrupt: self._on_request_interrupt,
            act.SendIntent: self._on_send_intent,
            act.Flushed: self._on_flushed, act.PlaybackStarted: self._on_playback_started,
            act.PlaybackIdle: self._on_playback_idle, act.ToolFinished: self._on_tool_finished,
            act.ChangeConfig: self._on_change_config, act.ReportError: self._on_report_error,
        }

    # --- snapshots and small helpers -----------------------------------------------------------

    def snapshot(self) -> ClientState:
        return ClientState(status=self.status, mode=self.mode, messages=tuple(self.messages),
                           pending_user_transcript=self.log.pending_user,
                           pending_assistant_transcript=self.log.pending_assistant, error=self.error)

    def _set_status(self, status: RealtimeStatus) -> None:
        self.status = status
        if status is not RealtimeStatus.CONNECTED:
            self.mode = RealtimeMode.IDLE
            self.audible = False

    @property
    def unheard(self) -> bool:
        """Assistant audio is queued for the speaker and not yet heard to its end."""
        return self.chunks_over < self.chunks_played

    @property
    def quiet(self) -> bool:
        """Nothing is under way that a change of connection would cut: no response requested or
        streaming, nothing audible or queued for the speaker, no tool running, the user neither
        speaking nor awaiting a transcript (the session cap recycle waits for this)."""
        log = self.log
        return (self.ready and self.active_turn is None and not self.response_requested
                and not self.want_response and not self.book.tools_outstanding() and not self.audible
                and not self.unheard and not log.speech_began and not log.voice_items
                and not log.pending_user and not self.queued)

    def _answer_pending(self) -> bool:
        """A response is requested or streaming (one the user cut off does not count)."""
        active = self.active_turn is not None and self.active_turn not in self.book.cancelled
        return active or self.response_requested or self.book.tools_outstanding(awaiting_answer=True)

    def _settle_mode(self) -> None:
        """Pick the resting mode: what is audible or awaited."""
        if self.status is not RealtimeStatus.CONNECTED:
            self.mode = RealtimeMode.IDLE
        elif self.audible:
            self.mode = RealtimeMode.SPEAKING
        elif self._answer_pending() or self.unheard:  # thinking until the answer is heard
            self.mode = RealtimeMode.THINKING
        elif self.manual and not self.mic_open:
            self.mode = RealtimeMode.IDLE
        else:
            self.mode = RealtimeMode.LISTENING

    def _await_answer(self) -> None:
        """The user asked for an answer: thinking, unless the previous answer is still audible."""
        self.mode = RealtimeMode.SPEAKING if self.audible else RealtimeMode.THINKING

    def _emit(self, intent: it.Intent, fx: Effects, *, new_turn: bool = False) -> None:
        """Send ``intent`` now, or hold it until the session is back (reconnecting). A new user
        turn is also held while a move to a new connection is due, so the old one can go quiet."""
        held = new_turn and (self.moves.wanted == "go_away" or self.moves.moving)
        if self.status is RealtimeStatus.RECONNECTING or held:
            self.queued.append(intent)
            if held and isinstance(intent, it.RequestResponse):
                self.moves.held_request = True
        else:
            if new_turn:
                self.moves.activity()  # the connection hears something its resume point lacks
            fx.intents.append(intent)

    def _surface(self, error: Exception, fx: Effects) -> None:
        """Make ``error`` the current error and report it through ``on_error``."""
        self.error = error
        self.log.version += 1
        fx.notify("on_error", error)

    def _request_response(self, fx: Effects, *, new_turn: bool = False) -> int:
        """Ask for a response now, or as soon as the active one is done.

        Returns the number of the request that will answer what came before this call.
        """
        if self.active_turn or self.response_requested:
            self.want_response = True
            return self.requests_made + 1
        self.want_response = False
        self.response_requested = True
        self.requests_made += 1
        self.requested = self.requests_made
        self._emit(it.RequestResponse(), fx, new_turn=new_turn)
        return self.requested

    # --- connection lifecycle -----------------------------------------------------------------

    def _on_connecting(self, a: act.Connecting, fx: Effects) -> None:
        self.reset_session()
        self.lost_request, self.lost_want = None, False
        self.chunks_played = self.chunks_over = 0  # a new connect() plays through a new engine
        self.queued.clear()
        self.moves.end()
        self.manual = a.manual
        self._set_status(RealtimeStatus.CONNECTING)

    def _on_session_opened(self, a: act.SessionOpened, fx: Effects) -> None:
        self.info = a.info
        self.can_move = a.can_move
        self.provider = a.info.provider
        self.ready = False
        self.start_error = None
        self.started = self.config  # the connection starts from this (``_live`` reads it)

    def _on_ready(self, e: ev.Ready, fx: Effects) -> None:
        self.ready = True
        self.history_lost = e.history_lost
        # the formats the handshake settled on are the ones audio is encoded and timed with
        self.info = attrs.evolve(self.info, input_format=e.input_format, output_format=e.output_format)
        self.applied = self.started
        self.moves.new_connection()
        changed = tuple(f.name for f in attrs.fields(SessionConfig)
                        if getattr(self.config, f.name) != getattr(self.started, f.name))
        if changed:  # update_session() while connecting
            self._apply_change(new_id("cfg"), changed, self.started, fx)

    def _on_connected(self, a: act.Connected, fx: Effects) -> None:
        self._set_status(RealtimeStatus.CONNECTED)
        self.error = None  # cleared by the next successful connect
        self.mic_open = a.mic_open
        self.playback = a.playback
        self._settle_mode()
        fx.notify("on_connect")

    def _on_connect_failed(self, a: act.ConnectFailed, fx: Effects) -> None:
        self._set_status(RealtimeStatus.ERROR)
        self._surface(a.error, fx)

    def _on_session_lost(self, a: act.SessionLost, fx: Effects) -> None:
        """Keep every message, close partial assistant output, forget the dead session's ids."""
        for turn in self.book.unfinished():
            if turn.message_index is None and turn.has_content:
                turn.stop_reason = "disconnected"
                msg = build_message(turn)
                turn.message_index = self.log.append(msg, turn.began)
                fx.notify("on_message", msg)
                self.log.turn_result(msg, turn.request)
        if a.go_away and not a.planned:
            fx.notify("on_go_away", 0.0)
        self.moves.planned = a.planned
        self.moves.lost(resend_since_point=self.info.resumable_points)
        mic_open, requested = self.mic_open, self.requested
        if self.response_requested and not self.moves.held_request:
            self.lost_request = requested
        self.lost_want = self.lost_want or self.want_response
        self.reset_session()
        self.mic_open = mic_open
        if self.moves.held_request:  # a request held for the move: its answer is still awaited
            self.response_requested, self.requested = True, requested
        self.log.pending_user = ""
        self.log.set_pending_assistant("")
        self.replay_count = len(self.messages)
        self._set_status(RealtimeStatus.RECONNECTING)

    def _on_resumed(self, a: act.Resumed, fx: Effects) -> None:
        if a.replay or self.history_lost:
            history = within_budget(self.messages[: self.replay_count], a.history_chars)
            fx.intents.append(it.Replay(tuple(history)))
        fx.intents.extend(self.queued)
        self.queued.clear()
        self.moves.held_request = False
        fx.intents.extend(self.moves.take_held())
        self._set_status(RealtimeStatus.CONNECTED)
        self.error = None
        self._renew_lost_request(a.replay or self.history_lost, fx)
        self._settle_mode()

    def _renew_lost_request(self, fresh_session: bool, fx: Effects) -> None:
        """A response asked for on the dropped connection never began there. A fresh session
        (seeded with the history) of a provider that answers when asked is asked again, under
        the same request number, so a waiting ask() gets its answer. Otherwise the wait ends
        with an error instead of running out: a resumed session may hold the request already
        (asking again could answer twice), and a provider that answers user turns by itself
        cannot be asked."""
        lost, want = self.lost_request, self.lost_want
        self.lost_request, self.lost_want = None, False
        if self.response_requested:  # one made meanwhile (or held for a move) went out with the
            return  # queue: its answer ends the older wait too (ask() takes the first at or after)
        can_ask = self.info.answers_on_request
        if lost is not None and fresh_session and can_ask:
            self.response_requested, self.requested = True, lost
            fx.intents.append(it.RequestResponse())
            self.want_response = want  # a request still owed after it is made when it ends
            return
        error = RealtimeError("the connection dropped before the answer began", code="CONNECTION_FAILED")
        if lost is not None:
            self.log.turn_result(error, lost)
        if want and can_ask:  # never asked for on any connection: no answer can be doubled
            self._request_response(fx)
        elif want:  # the number a waiting ask() expects for it
            self.requests_made += 1
            self.log.turn_result(error, self.requests_made)

    def _on_session_ended(self, a: act.SessionEnded, fx: Effects) -> None:
        was = self.status
        if a.go_away:
            fx.notify("on_go_away", 0.0)
        self.reset_session()
        self.queued.clear()
        self.moves.end()
        self.log.pending_user = ""  # messages stay; what was half-said goes
        self.log.set_pending_assistant("")
        self._set_status(a.status)
        if a.error is not None:
            if a.notify_error:
                self._surface(a.error, fx)
            else:
                self.error = a.error
        if was in (RealtimeStatus.CONNECTED, RealtimeStatus.RECONNECTING):
            fx.notify("on_disconnect")

    def _on_report_error(self, a: act.ReportError, fx: Effects) -> None:
        self._surface(a.error, fx)

    # --- configuration -------------------------------------------------------------------------

    def _on_change_config(self, a: act.ChangeConfig, fx: Effects) -> None:
        previous, self.config = self.config, a.config
        self.manual = a.config.vad_mode == "manual"
        if self.status is RealtimeStatus.CONNECTED and self.ready:
            self._apply_change(a.update_id, a.changed, previous, fx)
        elif self.status in (RealtimeStatus.IDLE, RealtimeStatus.ERROR):
            self.applied = a.config  # applies with the next connection
        # while connecting or reconnecting, Ready sends whatever differs from the start
        self._settle_mode()

    def _apply_change(self, update_id: str, changed: Tuple[str, ...], previous: SessionConfig,
                      fx: Effects) -> None:
        """Change the live session: on the wire where the provider can, else by a planned move
        to a new connection started from the new configuration (where the provider does that);
        else the change waits for the next connection."""
        info = self.info
        live = info.live_session_update and (info.live_update_fields is None
                                             or set(changed) <= info.live_update_fields)
        if live:
            self._pending_updates[update_id] = changed
            fx.intents.append(it.UpdateSession(update_id, self.config, previous))
        elif info.update_by_reconnect and self.can_move:
            self.moves.want("update")
            self._maybe_move(fx)

    def _maybe_move(self, fx: Effects) -> None:
        """Start a wanted move now if nothing would be lost: no answer pending or playing, the
        user not mid-utterance, and (for resumable providers) a resumption point covering all."""
        moves = self.moves
        if moves.wanted is None or self.status is not RealtimeStatus.CONNECTED or not self.ready:
            return
        active = self.active_turn is not None and self.active_turn not in self.book.cancelled
        requested = self.response_requested and not moves.held_request  # held: goes with the move
        if active or requested or self.book.tools_outstanding() or self.audible or self.unheard \
                or self.log.speech_began:
            return
        if self.info.resumable_points and not moves.fresh:
            return
        log.info("moving to a new connection (%s)", moves.wanted)
        moves.wanted = None
        moves.moving = True  # until the connection is gone, new turns wait for the next one
        fx.reconnect = True

    def _on_config_applied(self, e: ev.ConfigApplied, fx: Effects) -> None:
        changed = self._pending_updates.pop(e.update_id, ())
        if changed:
            self.applied = attrs.evolve(self.applied, **{k: getattr(self.config, k) for k in changed})

    def _on_config_rejected(self, e: ev.ConfigRejected, fx: Effects) -> None:
        err = ProviderError(f"the provider rejected the session configuration: {e.message}",
                            provider=self.provider, details={"code": e.code})
        changed = self._pending_updates.pop(e.update_id, None)
        if changed is None:  # the configuration sent when the session started
            self.start_error = err
            return
        # Forget the refused change, so the next update neither re-sends nor replays it.
        self.config = attrs.evolve(self.config, **{k: getattr(self.applied, k) for k in changed})
        self.manual = self.config.vad_mode == "manual"
        self._surface(err, fx)

    # --- the user's side -----------------------------------------------------------------------

    def _user_turn_began(self) -> None:
        """The user said or sent something: the provider's next turn may answer it."""
        self.user_turns += 1
        self.cut_tool_answer = False

    def _on_send_user(self, a: act.SendUser, fx: Effects) -> None:
        if self.status not in (RealtimeStatus.CONNECTED, RealtimeStatus.RECONNECTING):
            return  # disconnected after the facade checked: it finds the message missing and raises
        self._user_turn_began()
        self.log.append(a.message)
        fx.notify("on_message", a.message)
        parts = tuple(p for p in a.message.parts if isinstance(p, (TextPart, ImagePart)))
        self._emit(it.UserMessage(a.message.id, parts), fx, new_turn=True)
        images_only = bool(parts) and all(isinstance(p, ImagePart) for p in parts)
        if a.respond and images_only and not self.info.images_answered:
            log.info("%s answers no image on its own: it is context for the next turn", self.provider)
        elif a.respond:
            # even while a tool runs: the model answers asynchronously
            self.answer_request[a.message.id] = self._request_response(fx, new_turn=True)
            self._user_turn_ended("text")
            while len(self.answer_request) > 64:  # only ask() reads these, right after sending
                self.answer_request.popitem(last=False)
            self._await_answer()

    def _on_send_intent(self, a: act.SendIntent, fx: Effects) -> None:
        if self.status in (RealtimeStatus.CONNECTED, RealtimeStatus.RECONNECTING):
            self._emit(a.intent, fx)

    def _on_mic_changed(self, a: act.MicChanged, fx: Effects) -> None:
        if a.open != self.mic_open:  # opening again while open (key auto-repeat) keeps the utterance
            self.captured_ms = 0.0
        self.mic_open = a.open
        self._settle_mode()

    def _on_captured_audio(self, a: act.CapturedAudio, fx: Effects) -> None:
        # capture starts at the end of connect(), once the session configuration is applied
        if self.ready and self.status in (RealtimeStatus.CONNECTING, RealtimeStatus.CONNECTED):
            self.captured_ms += a.ms
            intent = it.AppendAudio(a.audio)
            fx.intents.append(intent)
            if self.info.resumable_points:
                self.moves.sent(intent, a.ms)
        elif self.status is RealtimeStatus.RECONNECTING and (self.moves.planned
                                                             or self.info.resumable_points):
            self.moves.hold(it.AppendAudio(a.audio), a.ms)  # what the user says meanwhile is kept

    def _on_push_to_talk_ended(self, a: act.PushToTalkEnded, fx: Effects) -> None:
        was_open, self.mic_open = self.mic_open, False
        if was_open and self.manual and self.status is RealtimeStatus.CONNECTED:
            if self.captured_ms >= self.info.commit_min_ms and self.captured_ms > 0:
                fx.intents.append(it.CommitAudio(self.captured_ms))
                self._user_turn_began()
                self._request_response(fx)
                self._user_turn_ended("push_to_talk")
                self.captured_ms = 0.0
                self._await_answer()
                return
            fx.intents.append(it.ClearAudio())
        self.captured_ms = 0.0
        self._settle_mode()

    def _on_speech_started(self, e: ev.SpeechStarted, fx: Effects) -> None:
        self._user_turn_began()
        self.log.speech_started(e.item_id, e.audio_start_ms)
        self.moves.activity()
        if self.info.speech_interrupts:
            self._begin_interrupt(fx, by_user_speech=True)
        if self.manual:
            self._settle_mode()  # push-to-talk: the talk key, not the provider, says who speaks
        else:
            self.mode = RealtimeMode.LISTENING

    def _on_speech_stopped(self, e: ev.SpeechStopped, fx: Effects) -> None:
        self.log.speech_stopped(e.item_id, e.audio_end_ms)
        if self.manual:  # stop_listening() ended the turn (Gemini reports speech from transcripts, late)
            self._settle_mode()
            return
        self.mode = RealtimeMode.THINKING
        self._user_turn_ended("speech")

    def _on_user_audio(self, e: ev.UserAudioCommitted, fx: Effects) -> None:
        msg = self.log.voice_committed(e.item_id)
        if msg is not None and not self.info.transcribes_input:
            fx.notify("on_message", msg)

    def _on_user_transcript(self, e: ev.UserTranscript, fx: Effects) -> None:
        if e.final:
            msg = self.log.user_transcript(e.item_id, e.text)
            if msg is not None:
                fx.notify("on_message", msg)
        elif e.cumulative:
            self.log.user_partial(e.text)
        else:
            self.log.user_delta(e.text)

    def _on_user_transcript_failed(self, e: ev.UserTranscriptFailed, fx: Effects) -> None:
        msg = self.log.user_transcript_failed(e.item_id)
        if msg is not None:
            fx.notify("on_message", msg)
        log.warning("input transcription failed for %s: %s", e.item_id, e.message or "no reason given")

    # --- interrupts: phase one decides and flushes, phase two tells the provider ---------------

    def _on_request_interrupt(self, a: act.RequestInterrupt, fx: Effects) -> None:
        if self.status is RealtimeStatus.CONNECTED:
            self._begin_interrupt(fx, by_user_speech=False)

    def _on_interrupted(self, e: ev.Interrupted, fx: Effects) -> None:
        self._begin_interrupt(fx, by_user_speech=True)
        self.mode = RealtimeMode.LISTENING

    def _begin_interrupt(self, fx: Effects, *, by_user_speech: bool) -> None:
        turn = self.active_turn
        if turn is None and self.response_requested and not by_user_speech:
            # interrupt() before the answer began: cut it off as soon as it starts
            self.response_requested, self.cancel_requested = False, True
        # interrupt() while a tool runs: its result goes out when it is done, but asks for no
        # answer, and an ask() waiting for that answer ends now. (The user speaking meanwhile is
        # a new turn the provider answers itself, with the result: that answer stays.)
        tools_cut = [] if by_user_speech else self.book.cut_follow_ups()
        if tools_cut:
            self.tool_cut_mark = self.user_turns
        for cut_turn in tools_cut:
            if cut_turn.request is not None:
                self.log.turn_result(RealtimeError("the answer was interrupted while its tool ran"),
                                     cut_turn.request)
        if turn is None and not self.audible and not self.unheard:
            if tools_cut:
                fx.notify("on_interrupted")
            self._settle_mode()
            return  # nothing to cut off yet
        self.interrupt_turn = turn
        if turn is not None:
            fx.drop_items.extend(self.book.cut(turn))
        self.audible = False
        self.chunks_over = self.chunks_played  # flushed
        fx.flush = True
        fx.flush_by_speech = by_user_speech
        fx.notify("on_interrupted")
        self._settle_mode()
        if self.mode is RealtimeMode.SPEAKING:
            self.mode = RealtimeMode.LISTENING

    def _on_flushed(self, a: act.Flushed, fx: Effects) -> None:
        turn, self.interrupt_turn = self.interrupt_turn, None
        self.chunks_over = self.chunks_played
        still_active = turn is not None and turn == self.active_turn
        played = a.played
        item_id = heard = None
        # items queued behind the last audible one (or all, when none was audible) went unheard
        queued, self.playing = self.playing, []
        after = queued.index(played.item_id) + 1 if played is not None and played.item_id in queued else 0
        unheard = tuple(dict.fromkeys(i for i in queued[after:] if played is None or i != played.item_id))
        cut = played.item_id if played is not None else None
        cut_heard = min(played.heard_ms, played.received_ms) if played is not None else 0.0
        for unheard_item in unheard:
            self.book.silenced.add(unheard_item)
            self._mark_interrupted(unheard_item, self.book.heard_ms(unheard_item, cut, cut_heard, unheard))
        cut_audible = False  # the user heard part of an answer and the rest was discarded
        if played is not None:
            heard = cut_heard
            owner = self.book.owner(played.item_id)
            finished = owner is None or owner.done
            fully_heard = heard >= played.received_ms - 1.0
            cut_audible = heard > 0 and not (finished and fully_heard)
            if self.info.can_truncate and cut_audible:
                item_id = played.item_id
            self.book.silenced.add(played.item_id)
            self._mark_interrupted(played.item_id, self.book.heard_ms(played.item_id, cut, heard, unheard))
        # a turn the server finished can still be playing: the provider hears of the cut too
        # (ElevenLabs gets user_activity), even when it cannot be told how much was heard
        if (still_active or cut_audible or unheard) and self.status is RealtimeStatus.CONNECTED:
            fx.intents.append(it.Interrupt(turn if still_active else None, item_id, heard,
                                           a.by_user_speech, unheard))
        self._settle_mode()

    def _mark_interrupted(self, item_id: str, heard_ms: float) -> None:
        """The answer ``item_id`` belongs to was cut after ``heard_ms`` of it was heard."""
        turn = self.book.owner(item_id)
        if turn is not None and turn.message_index is None:
            turn.cancelled = True
            turn.audio_ms = min(turn.audio_ms, heard_ms) if turn.audio_ms else heard_ms
            return
        index = turn.message_index if turn is not None else self.book.item_message.get(item_id)
        if index is None:
            return
        self.log.mark_interrupted(index, heard_ms)

    # --- playback --------------------------------------------------------------------------------

    def _on_playback_started(self, a: act.PlaybackStarted, fx: Effects) -> None:
        if a.item_id in self.book.silenced or self.status is not RealtimeStatus.CONNECTED:
            return
        self.audible = True
        self.mode = RealtimeMode.SPEAKING
        self._first_heard(a.item_id, self._clock() if a.audible_at is None else a.audible_at)

    def _on_playback_idle(self, a: act.PlaybackIdle, fx: Effects) -> None:
        self.audible = False
        over = self.chunks_played if a.played_through is None else a.played_through
        self.chunks_over = min(self.chunks_played, max(self.chunks_over, over))
        if not self.unheard:
            self.playing = []
        self._settle_mode()
        self._maybe_move(fx)

    # --- the assistant's side ------------------------------------------------------------------

    def _on_turn_started(self, e: ev.TurnStarted, fx: Effects) -> None:
        self.moves.activity()
        self.active_turn = e.turn
        turn = self.book.start(e.turn)
        if turn.began is None:
            turn.began = self.log.tick()
            self._stamp_start(turn)
        if self.response_requested or self.cancel_requested:
            turn.request = self.requested
        self.response_requested = False
        if self.cancel_requested or self.cut_tool_answer:
            self.cancel_requested = self.cut_tool_answer = False
            self.book.cut(e.turn)
            fx.intents.append(it.Interrupt(e.turn, None, None, False))
            return
        if not self.audible:
            self.mode = RealtimeMode.THINKING

    def _track(self, turn_id: Optional[str], item_id: Optional[str]) -> Optional[Turn]:
        """The turn an output event belongs to; a turn begins with its first sign of life."""
        turn = self.book.track(turn_id, item_id, self.active_turn)
        if turn is not None and turn.began is None and not turn.cancelled:  # late frames of a cut
            turn.began = self.log.tick()  # turn do not take the next answer's latency stamp
            self._stamp_start(turn)
        return turn

    def _on_output_started(self, e: ev.OutputStarted, fx: Effects) -> None:
        self._track(e.turn, e.item_id)

    def _on_assistant_transcript(self, e: ev.AssistantTranscript, fx: Effects) -> None:
        turn = self._track(e.turn, e.item_id)
        if turn is None or turn.cancelled:
            return
        turn.kind = turn.kind or e.kind
        if e.final:
            turn.text = e.text if e.text or not turn.text else turn.text
        else:
            turn.text += e.text
            if e.kind == "text" or not self.playback:
                self.mode = RealtimeMode.SPEAKING
        self.log.set_pending_assistant(turn.text)

    def _on_transcript_corrected(self, e: ev.AssistantTranscriptCorrected, fx: Effects) -> None:
        turn = self.book.owner(e.item_id)
        if turn is not None and turn.message_index is None:  # still streaming (or cut, not ended)
            turn.text = e.text
            self.log.set_pending_assistant(e.text)
            return
        index = turn.message_index if turn is not None else self.book.item_message.get(e.item_id)
        if index is None:
            return
        msg = self.log.messages[index]
        parts = tuple(attrs.evolve(p, transcript=e.text) if isinstance(p, AudioPart)
                      else attrs.evolve(p, content=e.text) if isinstance(p, TextPart) else p
                      for p in msg.parts)
        self.log.put(index, attrs.evolve(msg, parts=parts))

    def _on_audio(self, e: ev.AudioChunk, fx: Effects) -> None:
        turn = self._track(e.turn, e.item_id)
        if (turn is not None and turn.cancelled) or e.item_id in self.book.silenced:
            return  # late audio of a turn the user cut off
        if turn is not None:
            turn.kind = "audio"
            ms = self.info.output_format.duration_ms(len(e.audio))
            turn.audio_ms += ms
            self.book.item_audio[e.item_id] = self.book.item_audio.get(e.item_id, 0.0) + ms
            if turn.metrics.first_audio is None:
                turn.metrics = attrs.evolve(turn.metrics, first_audio=self._clock())
        if self.playback:
            fx.play.append((e.item_id, e.audio))
            self.chunks_played += 1
            if not self.playing or self.playing[-1] != e.item_id:
                self.playing.append(e.item_id)
        else:
            self.mode = RealtimeMode.SPEAKING  # nothing plays it: speaking while it streams

    def _on_tool_call(self, e: ev.ToolCall, fx: Effects) -> None:
        self.moves.activity()
        owner = self.book.track(e.turn, e.item_id, self.active_turn)
        if owner is not None and owner.cancelled:  # asked for by an answer the user cut off
            log.info("not running tool %s: the user cut off the answer that called it", e.name)
            return
        if self.book.add_call(e, self.active_turn):
            fx.tool_calls.append(e)

    def _on_tool_call_cancelled(self, e: ev.ToolCallCancelled, fx: Effects) -> None:
        fx.cancel_tools.extend(self.book.cancel_calls(e.call_ids))
        self._settle_mode()

    def _on_tool_finished(self, a: act.ToolFinished, fx: Effects) -> None:
        outcome = a.outcome
        turn = self.book.finish_call(outcome) if self.status is RealtimeStatus.CONNECTED else None
        if turn is None:
            log.info("dropping the result of tool call %s: its session or call ended", outcome.call_id)
            return
        failed = outcome.error is not None
        self._emit(it.ToolResult(outcome.call_id, outcome.name, outcome.result, failed), fx)
        self._rebuild(turn)
        if turn.done:
            self.book.ended(turn, None)
        if not turn.tools_outstanding and not turn.follow_up_cut:
            self._request_response(fx)
            self._user_turn_ended("tool_result")
        elif not turn.tools_outstanding and not self.info.answers_on_request \
                and self.user_turns == self.tool_cut_mark:
            self.cut_tool_answer = True  # the result alone makes this provider answer: cut that
        self._settle_mode()

    def _on_turn_ended(self, e: ev.TurnEnded, fx: Effects) -> None:
        if self.active_turn == e.turn:
            self.active_turn = None
        self.response_requested = False
        turn = self.book.turns.get(e.turn)
        failure: Optional[ProviderError] = None
        if e.outcome == "failed":
            failure = ProviderError(f"the response failed: {e.error or 'no reason given'}",
                                    provider=self.provider, details={"code": e.code})
        if turn is not None:
            turn.done = True
            turn.cancelled = turn.cancelled or e.turn in self.book.cancelled
            turn.stop_reason = e.outcome if e.outcome != "interrupted" or turn.cancelled else "interrupted"
            if e.outcome == "interrupted":
                turn.cancelled = True
            if turn.message_id is None and e.item_ids:
                turn.message_id = e.item_ids[0]
            if turn.has_content:
                msg = build_message(turn)
                turn.message_index = self.log.append(msg, turn.began)
                fx.notify("on_message", msg)
                if not turn.tool_calls and failure is None:
                    self.log.turn_result(msg, turn.request)
            elif turn.cancelled and turn.request is not None:  # a waiting ask() gets no answer
                self.log.turn_result(RealtimeError("the response was interrupted before it said "
                                                   "anything"), turn.request)
            self.book.ended(turn, turn.message_index)
        self.log.set_pending_assistant("")
        if e.usage is not None:
            fx.notify("on_usage", e.usage)
        if failure is not None:
            self._surface(failure, fx)
            # a waiting ask() raises it at once
            self.log.turn_result(failure, turn.request if turn is not None else None)
        if self.want_response:  # asked for by a user message sent during the turn
            self.want_response = False
            self._request_response(fx, new_turn=True)
        self._settle_mode()
        self._maybe_move(fx)

    def _rebuild(self, turn: Turn) -> None:
        if turn.message_index is None:
            return
        old = self.log.messages[turn.message_index]
        new = build_message(turn)
        self.log.put(turn.message_index, attrs.evolve(
            new, timestamp=old.timestamp, interrupted=old.interrupted or new.interrupted,
            stop_reason=old.stop_reason, duration_ms=old.duration_ms, metrics=old.metrics or new.metrics))

    # --- latency stamps (TurnMetrics) ---------------------------------------------------------

    def _user_turn_ended(self, trigger: str) -> None:
        """The user's turn ended: the next assistant turn measures its latency from now."""
        self.turn_end = (trigger, self._clock())

    def _stamp_start(self, turn: Turn) -> None:
        """``turn`` showed its first sign of life: it answers the latest end of a user turn."""
        trigger, ended = self.turn_end if self.turn_end is not None else (None, None)
        self.turn_end = None
        turn.metrics = TurnMetrics(trigger=trigger, user_turn_end=ended, response_started=self._clock())

    def _first_heard(self, item_id: str, at: float) -> None:
        """The first audio of ``item_id`` became audible at ``at``: stamp its turn or message."""
        turn = self.book.owner(item_id)
        if turn is not None and turn.metrics.first_heard is None:
            turn.metrics = attrs.evolve(turn.metrics, first_heard=at)
        index = turn.message_index if turn is not None else self.book.item_message.get(item_id)
        if index is None:
            return  # still streaming: the message is built with the turn's metrics
        msg = self.log.messages[index]
        if msg.metrics is not None and msg.metrics.first_heard is None:
            self.log.put(index, attrs.evolve(msg, metrics=attrs.evolve(msg.metrics, first_heard=at)))

    # --- provider housekeeping -----------------------------------------------------------------

    def _on_go_away(self, e: ev.GoAway, fx: Effects) -> None:
        fx.notify("on_go_away", e.time_left)
        if self.info.resume_on_go_away and self.can_move:
            self.moves.want("go_away")
            self._maybe_move(fx)

    def _on_resumption_update(self, e: ev.ResumptionUpdate, fx: Effects) -> None:
        self.moves.resumable_point()
        self._maybe_move(fx)

    def _on_provider_notice(self, e: ev.ProviderNotice, fx: Effects) -> None:
        fx.notify("on_provider_event", e.name, dict(e.data))

    def _on_provider_error(self, e: ev.ProviderErrorEvent, fx: Effects) -> None:
        if e.kind == "benign":
            log.debug("ignoring a provider error caused by our own housekeeping: %s (%s)", e.code, e.message)
            return
        if e.kind == "retry":
            log.debug("our response request raced the server (%s): asking again after it", e.code)
            active = self.book.turns.get(self.active_turn) if self.active_turn else None
            if active is not None and active.request == self.requested:
                active.request = None  # that turn was the server's own, not our answer
            self.response_requested = False
            self.want_response = True
            return
        message = e.message or "the provider reported an error"
        if e.kind == "fatal":
            message = f"the provider ended the session: {message}"
        err = ProviderError(message, provider=self.provider,
                            details={"code": e.code, "type": e.error_type, "param": e.param,
                                     "event_id": e.event_id})
        self._surface(err, fx)
        if e.kind == "response_rejected":
            # No response will come for this request: end the wait instead of wedging, and
            # forget an interrupt() meant for it (it would cut the next, unrelated turn).
            self.response_requested = self.cancel_requested = False
            self.log.turn_result(err, self.requested)
            if self.want_response and not self.active_turn:
                self.want_response = False
                self._request_response(fx)  # a message sent since still wants its answer
            self._settle_mode()
        elif e.kind == "fatal":
            fx.fail = err  # the same object on_error got becomes client.error
