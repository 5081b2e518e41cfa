"""The conversation reducer: normalized events and user intents in, state changes and effects out.

It performs no I/O, starts no threads and takes no locks: the client calls it while holding its
state lock, then carries out the returned :class:`Effects` (frames to send, audio to play, tool
calls to run, callbacks to schedule) after releasing the lock.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Set, Tuple

import attrs

from . import _events as ev
from ._errors import ProviderError, RealtimeError
from ._models import (
    AudioPart,
    ClientState,
    ImagePart,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from ._types import Adapter, Frame

__all__ = ["Conversation", "Effects"]

log = logging.getLogger("realtime_client")


@attrs.define
class Effects:
    """What the client must do after a reduction, outside the lock, in this order."""

    frames: List[Frame] = attrs.field(factory=list)
    play: List[Tuple[str, bytes]] = attrs.field(factory=list)
    drop_items: List[str] = attrs.field(factory=list)
    tool_calls: List[ev.ToolCall] = attrs.field(factory=list)
    flush_playback: bool = False
    notifications: List[Tuple[str, Tuple[Any, ...]]] = attrs.field(factory=list)

    def notify(self, name: str, *args: Any) -> None:
        self.notifications.append((name, args))


@attrs.define
class _Response:
    """Bookkeeping for one assistant response until its message is complete."""

    id: str
    message_id: Optional[str] = None
    text: str = ""
    kind: Optional[str] = None  # "audio" or "text"
    audio_ms: float = 0.0
    tool_calls: Dict[str, ToolCallPart] = attrs.field(factory=dict)
    results: Dict[str, str] = attrs.field(factory=dict)
    done: bool = False
    cancelled: bool = False
    message_index: Optional[int] = None


class Conversation:
    """All mutable conversation state; every method must be called under the client's lock."""

    def __init__(self, adapter: Adapter, transcribes_input: bool = True) -> None:
        self.adapter = adapter
        self.transcribes_input = transcribes_input
        self.status = RealtimeStatus.IDLE
        self.mode = RealtimeMode.IDLE
        self.messages: List[RealtimeMessage] = []
        self.pending_user = ""
        self.pending_assistant = ""
        self.error: Optional[Exception] = None
        self.version = 0  # bumped on every change a snapshot would show
        self.turns_completed = 0
        self.last_turn: Optional[RealtimeMessage] = None
        self.item_message: Dict[str, int] = {}
        self.reset_session()

    def reset_session(self) -> None:
        """Forget everything tied to one provider session (ids, active response)."""
        self.session_ready = False
        self.config_applied = False
        self.config_event_id: Optional[str] = None
        self.config_error: Optional[RealtimeError] = None
        self.active_response: Optional[str] = None
        self.response_requested = False
        self.want_response = False
        self.responses: Dict[str, _Response] = {}
        self.item_response: Dict[str, str] = {}
        self.cancelled: Set[str] = set()
        self.silenced_items: Set[str] = set()
        self.user_items: Dict[str, int] = {}
        self.speech_start_ms: Dict[str, int] = {}
        self.playing_item: Optional[str] = None
        self.audible = False
        self.mic_open = False
        self.manual = False
        self.unknown_types: Set[str] = set()
        self.housekeeping_ids: Set[str] = set()
        self.malformed_count = 0  # event ids of our own cancel/truncate frames

    def session_lost(self, fx: Effects) -> None:
        """The connection dropped: keep every message, close partial assistant output as
        interrupted, and forget the dead session's ids (the microphone state survives)."""
        for track in list(self.responses.values()):
            if track.message_index is None and (track.text or track.audio_ms or track.tool_calls):
                track.cancelled = True
                msg = self._build_message(track)
                track.message_index = self.append_message(msg)
                fx.notify("on_message", msg)
                self._turn_completed(msg)
        mic_open, manual = self.mic_open, self.manual
        self.reset_session()
        self.mic_open, self.manual = mic_open, manual
        self.pending_user = self.pending_assistant = ""
        self.version += 1

    # --- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> ClientState:
        return ClientState(status=self.status, mode=self.mode, messages=tuple(self.messages),
                           pending_user_transcript=self.pending_user,
                           pending_assistant_transcript=self.pending_assistant, error=self.error)

    def set_status(self, status: RealtimeStatus, error: Optional[Exception] = None) -> None:
        self.status = status
        if status is RealtimeStatus.ERROR:
            self.error = error
        elif status in (RealtimeStatus.CONNECTING, RealtimeStatus.CONNECTED):
            self.error = None
        if status is not RealtimeStatus.CONNECTED:
            self.mode = RealtimeMode.IDLE
            self.audible = False
            self.playing_item = None

    def settle_mode(self) -> None:
        """Pick the resting mode: nothing playing, nothing streaming."""
        if self.status is not RealtimeStatus.CONNECTED:
            self.mode = RealtimeMode.IDLE
        elif self.audible:
            self.mode = RealtimeMode.SPEAKING
        elif self.active_response or self.response_requested or self._tools_outstanding():
            self.mode = RealtimeMode.THINKING
        elif self.manual and not self.mic_open:
            self.mode = RealtimeMode.IDLE
        else:
            self.mode = RealtimeMode.LISTENING

    # --- user intents ------------------------------------------------------------------

    def add_user_message(self, message: RealtimeMessage, fx: Effects) -> None:
        self.append_message(message)
        fx.notify("on_message", message)
        parts = [p for p in message.parts if isinstance(p, (TextPart, ImagePart))]
        fx.frames.append(self.adapter.user_message(message.id, parts))
        self.request_response(fx)
        self.mode = RealtimeMode.THINKING

    def request_response(self, fx: Effects) -> None:
        """Ask for a response now, or as soon as the active one is done."""
        if self.active_response or self.response_requested or self._tools_outstanding():
            self.want_response = True
            return
        self.want_response = False
        self.response_requested = True
        fx.frames.append(self.adapter.create_response())

    def append_message(self, msg: RealtimeMessage) -> int:
        self.messages.append(msg)
        self.version += 1
        return len(self.messages) - 1

    def put_message(self, index: int, msg: RealtimeMessage) -> None:
        self.messages[index] = msg
        self.version += 1

    def interrupt(self, played: Any, cancel: bool, fx: Effects) -> bool:
        """Cut the assistant off. ``played`` is the audio engine's PlayedItem (or None).

        Returns whether anything was interrupted.
        """
        response_id = self.active_response
        heard_item = played.item_id if played is not None else None
        if response_id is None and heard_item is None and not self.audible:
            return False
        if response_id is not None and response_id not in self.cancelled:
            self.cancelled.add(response_id)
            if cancel:
                self._housekeeping(self.adapter.cancel_response(response_id), fx)
        if played is not None and self.adapter.supports_truncate:
            heard = int(min(played.heard_ms, played.received_ms))
            if heard > 0:
                self._housekeeping(self.adapter.truncate(played.item_id, heard), fx)
        if heard_item is not None:
            self.silenced_items.add(heard_item)
            self._mark_interrupted(self.item_response.get(heard_item), heard_item, played.heard_ms)
        if response_id is not None:
            self._mark_interrupted(response_id, None, None)
            fx.drop_items.extend(i for i, r in self.item_response.items() if r == response_id)
        self.audible = False
        self.playing_item = None
        fx.notify("on_interrupted")
        self.settle_mode()
        if self.mode is RealtimeMode.SPEAKING:
            self.mode = RealtimeMode.LISTENING
        return True

    def _housekeeping(self, frame: Frame, fx: Effects) -> None:
        """Send a frame whose errors (racing the server) must never reach the user."""
        event_id = frame.get("event_id")
        if isinstance(event_id, str):
            self.housekeeping_ids.add(event_id)
        fx.frames.append(frame)

    def _mark_interrupted(self, response_id: Optional[str], item_id: Optional[str],
                          heard_ms: Optional[float]) -> None:
        track = self.responses.get(response_id) if response_id else None
        index = track.message_index if track is not None else None
        if track is not None:
            track.cancelled = True
            if heard_ms is not None:
                track.audio_ms = min(track.audio_ms, heard_ms) if track.audio_ms else heard_ms
        if index is None and item_id is not None:
            index = self.item_message.get(item_id)
        if index is not None:
            msg = self.messages[index]
            duration = round(heard_ms, 1) if heard_ms is not None else msg.duration_ms
            parts = tuple(attrs.evolve(p, duration_ms=duration) if isinstance(p, AudioPart) else p
                          for p in msg.parts)
            self.put_message(index, attrs.evolve(msg, interrupted=True, duration_ms=duration, parts=parts))

    def tool_finished(self, outcome: Any, fx: Effects) -> None:
        """A tool call ended (``outcome`` is a ToolOutcome): send its result, maybe respond."""
        response_id = self._response_of_call(outcome.call_id)
        if response_id is None:  # the call belonged to a session that has since been lost
            log.info("dropping the result of tool call %s: its session ended", outcome.call_id)
            return
        fx.frames.append(self.adapter.tool_result(outcome.call_id, outcome.result))
        track = self.responses[response_id]
        track.results[outcome.call_id] = outcome.result
        call = track.tool_calls[outcome.call_id]
        track.tool_calls[outcome.call_id] = attrs.evolve(
            call, output=outcome.output if outcome.error is None else {"error": outcome.error})
        if track.message_index is not None:
            self._rebuild_message(track)
        if track.done and len(track.results) == len(track.tool_calls):
            del self.responses[response_id]
        self.request_response(fx)
        self.settle_mode()

    def _response_of_call(self, call_id: str) -> Optional[str]:
        for rid, track in self.responses.items():
            if call_id in track.tool_calls:
                return rid
        return None

    def _tools_outstanding(self) -> bool:
        return any(len(t.results) < len(t.tool_calls) for t in self.responses.values())

    # --- playback notifications -----------------------------------------------------------

    def playback_started(self, item_id: str) -> None:
        if item_id in self.silenced_items:
            return
        self.playing_item = item_id
        self.audible = True
        self.mode = RealtimeMode.SPEAKING

    def playback_idle(self) -> None:
        self.audible = False
        self.playing_item = None
        self.settle_mode()

    # --- provider events ---------------------------------------------------------------

    def handle(self, event: Any, fx: Effects, playback: bool) -> None:
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event, fx, playback)

    def _on_SessionReady(self, e: ev.SessionReady, fx: Effects, playback: bool) -> None:
        self.session_ready = True

    def _on_SessionUpdated(self, e: ev.SessionUpdated, fx: Effects, playback: bool) -> None:
        self.config_applied = True
        self.config_event_id = None

    def _on_SpeechStarted(self, e: ev.SpeechStarted, fx: Effects, playback: bool) -> None:
        if e.item_id and e.audio_start_ms is not None:
            self.speech_start_ms[e.item_id] = e.audio_start_ms
        # barge-in itself (flush + truncate) is driven by the client, which owns the audio engine
        self.mode = RealtimeMode.LISTENING

    def _on_SpeechStopped(self, e: ev.SpeechStopped, fx: Effects, playback: bool) -> None:
        self.mode = RealtimeMode.THINKING
        if e.item_id and e.audio_end_ms is not None and e.item_id in self.speech_start_ms:
            self.speech_start_ms[e.item_id] = e.audio_end_ms - self.speech_start_ms[e.item_id]

    def _on_InputCommitted(self, e: ev.InputCommitted, fx: Effects, playback: bool) -> None:
        if e.item_id in self.user_items:
            return
        duration = self.speech_start_ms.pop(e.item_id, None)
        msg = RealtimeMessage(id=e.item_id, role="user", parts=(AudioPart(None, duration),),
                              duration_ms=duration)
        self.user_items[e.item_id] = self.append_message(msg)
        if not self.transcribes_input:
            fx.notify("on_message", msg)

    def _on_TranscriptDelta(self, e: ev.TranscriptDelta, fx: Effects, playback: bool) -> None:
        if e.role == "user":
            self.pending_user += e.delta
            self.version += 1
            return
        track = self._track(e.response_id, e.item_id)
        if track is None:
            return
        track.kind = track.kind or e.kind
        track.text += e.delta
        self.pending_assistant = track.text
        self.version += 1
        if e.kind == "text" or not playback:
            self.mode = RealtimeMode.SPEAKING

    def _on_TranscriptDone(self, e: ev.TranscriptDone, fx: Effects, playback: bool) -> None:
        if e.role == "user":
            self.pending_user = ""
            index = self.user_items.pop(e.item_id, None)
            if index is None:  # transcript for audio we never saw committed
                index = self.append_message(RealtimeMessage(id=e.item_id, role="user",
                                                            parts=(AudioPart(None),)))
            msg = self.messages[index]
            audio = next((p for p in msg.parts if isinstance(p, AudioPart)), AudioPart())
            msg = attrs.evolve(msg, parts=(AudioPart(e.text, audio.duration_ms),))
            self.put_message(index, msg)
            fx.notify("on_message", msg)
            return
        track = self._track(e.response_id, e.item_id)
        if track is not None:
            track.kind = track.kind or e.kind
            track.text = e.text if e.text or not track.text else track.text
            self.pending_assistant = track.text
            self.version += 1

    def _on_UserTranscriptFailed(self, e: ev.UserTranscriptFailed, fx: Effects, playback: bool) -> None:
        self.pending_user = ""
        self.version += 1
        index = self.user_items.pop(e.item_id, None)
        if index is not None:
            fx.notify("on_message", self.messages[index])
        log.warning("input transcription failed for %s: %s", e.item_id, e.message or "no reason given")

    def _on_ResponseStarted(self, e: ev.ResponseStarted, fx: Effects, playback: bool) -> None:
        self.active_response = e.response_id
        self.response_requested = False
        self.responses.setdefault(e.response_id, _Response(e.response_id))
        if not self.audible:
            self.mode = RealtimeMode.THINKING

    def _on_AssistantItemStarted(self, e: ev.AssistantItemStarted, fx: Effects, playback: bool) -> None:
        self._track(e.response_id, e.item_id)

    def _on_AudioDelta(self, e: ev.AudioDelta, fx: Effects, playback: bool) -> None:
        track = self._track(e.response_id, e.item_id)
        if (track is not None and track.cancelled) or e.item_id in self.silenced_items:
            return  # late audio of a response the user cut off
        if track is not None:
            track.kind = "audio"
            track.audio_ms += len(e.pcm) / (self.adapter.output_sample_rate * 2 / 1000.0)
        if playback:
            fx.play.append((e.item_id, e.pcm))
        else:
            self.mode = RealtimeMode.SPEAKING

    def _on_ToolCall(self, e: ev.ToolCall, fx: Effects, playback: bool) -> None:
        track = self._track(e.response_id, e.item_id)
        try:
            parsed = json.loads(e.arguments) if e.arguments else {}
        except ValueError:
            parsed = None
        part = ToolCallPart(id=e.call_id, name=e.name, arguments=e.arguments, input=parsed)
        if track is None:
            track = self.responses.setdefault(e.call_id, _Response(e.call_id, message_id=e.item_id))
        if e.call_id in track.tool_calls:
            return  # duplicate announcement
        track.tool_calls[e.call_id] = part
        fx.tool_calls.append(e)

    def _on_ResponseDone(self, e: ev.ResponseDone, fx: Effects, playback: bool) -> None:
        if self.active_response == e.response_id:
            self.active_response = None
        self.response_requested = False
        track = self.responses.get(e.response_id)
        cancelled = e.status in ("cancelled", "failed", "incomplete") or e.response_id in self.cancelled
        if track is not None:
            track.done = True
            track.cancelled = track.cancelled or cancelled
            if track.message_id is None and e.output_item_ids:
                track.message_id = e.output_item_ids[0]
            if track.text or track.tool_calls or track.audio_ms:
                msg = self._build_message(track)
                track.message_index = self.append_message(msg)
                for item, rid in self.item_response.items():
                    if rid == e.response_id:
                        self.item_message[item] = track.message_index
                fx.notify("on_message", msg)
                if not track.tool_calls:
                    self._turn_completed(msg)
            if not track.tool_calls or len(track.results) == len(track.tool_calls):
                if track.tool_calls:
                    self._rebuild_message(track)
                self.responses.pop(e.response_id, None)
        self.pending_assistant = ""
        self.version += 1
        if e.usage is not None:
            fx.notify("on_usage", e.usage)
        if e.status == "failed":
            err = ProviderError(f"the response failed: {e.error_message or 'no reason given'}",
                                provider=self.adapter.provider)
            fx.notify("on_error", err)
        if self.want_response and not self._tools_outstanding():
            self.request_response(fx)
        self.settle_mode()

    def _on_ItemTruncated(self, e: ev.ItemTruncated, fx: Effects, playback: bool) -> None:
        pass

    def _on_ProviderErrorEvent(self, e: ev.ProviderErrorEvent, fx: Effects, playback: bool) -> None:
        if e.benign or (e.event_id is not None and e.event_id in self.housekeeping_ids):
            log.debug("ignoring a provider error caused by our own cancel/truncate: %s (%s)", e.code,
                      e.message)
            return
        err = ProviderError(e.message or "the provider reported an error", provider=self.adapter.provider,
                            details={"code": e.code, "type": e.error_type, "param": e.param,
                                     "event_id": e.event_id})
        if self.config_event_id is not None and e.event_id == self.config_event_id:
            self.config_error = err
            self.config_event_id = None
        if e.code == "conversation_already_has_active_response":
            self.want_response = True  # our create raced a server-started response: retry after it
            self.response_requested = False
        fx.notify("on_error", err)

    def _on_GoAway(self, e: ev.GoAway, fx: Effects, playback: bool) -> None:
        fx.notify("on_go_away", e.time_left)

    def _on_UnknownEvent(self, e: ev.UnknownEvent, fx: Effects, playback: bool) -> None:
        if e.type not in self.unknown_types:
            self.unknown_types.add(e.type)
            log.warning("ignoring unknown provider event type %r (logged once per type)", e.type[:100])

    def _on_Malformed(self, e: ev.Malformed, fx: Effects, playback: bool) -> None:
        self.malformed_count += 1
        n = self.malformed_count
        # a misbehaving server must not flood the log: the first few, then every hundredth
        level = logging.WARNING if n <= 10 or n % 100 == 0 else logging.DEBUG
        log.log(level, "ignoring a malformed frame from the provider (#%d this session): %s (starts %r)",
                n, e.reason, e.excerpt[:80])

    # --- helpers -----------------------------------------------------------------------

    def _track(self, response_id: Optional[str], item_id: Optional[str]) -> Optional[_Response]:
        if response_id is None and item_id is not None:
            response_id = self.item_response.get(item_id)
        if response_id is None:
            response_id = self.active_response
        if response_id is None:
            return None
        track = self.responses.get(response_id)
        if track is None:
            track = self.responses[response_id] = _Response(response_id)
        if item_id is not None:
            self.item_response.setdefault(item_id, response_id)
            if track.message_id is None:
                track.message_id = item_id
        return track

    def _build_message(self, track: _Response) -> RealtimeMessage:
        parts: List[Any] = []
        duration = round(track.audio_ms, 1) if track.audio_ms else None
        if track.kind == "audio" or track.audio_ms:
            parts.append(AudioPart(track.text, duration))
        elif track.text:
            parts.append(TextPart(track.text))
        for call in track.tool_calls.values():
            parts.append(call)
            if call.id in track.results:
                parts.append(ToolResultPart(call.id, track.results[call.id]))
        return RealtimeMessage(id=track.message_id or track.id, role="assistant", parts=tuple(parts),
                               interrupted=track.cancelled, duration_ms=duration)

    def _rebuild_message(self, track: _Response) -> None:
        if track.message_index is None:
            return
        old = self.messages[track.message_index]
        new = self._build_message(track)
        self.put_message(track.message_index, attrs.evolve(new, timestamp=old.timestamp,
                                                          interrupted=old.interrupted or new.interrupted,
                                                          duration_ms=old.duration_ms))

    def _turn_completed(self, msg: RealtimeMessage) -> None:
        self.turns_completed += 1
        self.last_turn = msg
