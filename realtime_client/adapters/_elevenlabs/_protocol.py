"""The ElevenLabs Agents protocol session (sans-I/O), one per connection (one conversation).

The adapter (``_adapter.py``) builds one :class:`ElevenLabsSession` per connection. The client
speaks first (``conversation_initiation_client_data``); the server's
``conversation_initiation_metadata`` names the audio formats and yields ``Ready``. Every
``ping`` is answered with a ``pong`` through ``Received.replies``. Turns are the agent's
``event_id``s. No frame says that the agent finished a turn (UNCONFIRMED, protocols.md §4),
so a turn ends at the first of: a frame of a later exchange (a user transcript, a higher
agent event id), an interruption, a text-only reply's ``stop``, or ``turn_end_pings`` pings
in a row with no audio of the turn (the ping is the only clock a sans-I/O session has).
Wire facts: ``_wire.py``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from ... import _events as ev
from ... import _intents as it
from ..._errors import PermissionDeniedError, ProviderError, RealtimeError
from ..._models import ImagePart, RealtimeToken, SessionConfig, TextPart
from ..._provider import CloseAction, ProviderInfo, Received, ResumeState
from ..._types import ConnectionRequest, Frame
from ...audio._format import AudioFormat
from .._common import (
    FrameError,
    as_text,
    b64decode_strict,
    b64encode,
    decode_frame,
    excerpt,
    opt_int,
    req_obj,
    req_str,
    type_name,
)
from . import _wire as wire
from ._initiation import history_context, initiation_frame

if TYPE_CHECKING:
    from ._adapter import ElevenLabsRealtimeAdapter

__all__ = ["ElevenLabsSession"]

logger = logging.getLogger("realtime_client")

_IGNORED = ("internal_tentative_agent_response", "internal_turn_probability", "agent_reasoning_response_part",
            "asr_initiation_metadata", "agent_typing", "rich_content", "mcp_tool_call",
            "mcp_connection_status", "external_agent_connected", "external_agent_disconnected")
#: informational frames handed to ``on_provider_event`` as they are (their payload key)
_NOTICES = {"agent_tool_request": "agent_tool_request", "agent_tool_response": "agent_tool_response",
            "agent_tool_response_full_payload": "agent_tool_response_full_payload",
            "context_usage": "context_usage_event", "guardrail_triggered": None}

Handler = Callable[[Dict[str, Any]], List[ev.Event]]


def _event_id(obj: Dict[str, Any], where: str) -> int:
    value = obj.get("event_id")
    if type(value) is int:
        return value
    raise FrameError(f"{where}event_id must be an integer, got {type_name(value)}")


def turn_id(event_id: int) -> str:
    """The client's turn id for agent event ``event_id``."""
    return str(event_id)


def item_id(event_id: int) -> str:
    """The assistant message id for agent turn ``event_id``."""
    return f"el_agent_{event_id}"


def user_item(event_id: int) -> str:
    """The user voice message id for user transcript ``event_id``."""
    return f"el_user_{event_id}"


class ElevenLabsSession:
    """One conversation's ElevenLabs protocol state (sans-I/O; see ``realtime_client._provider``).

    Threads: used under the client's state lock only.
    """

    def __init__(self, adapter: ElevenLabsRealtimeAdapter) -> None:
        self._adapter = adapter
        fmt = AudioFormat(*wire.parse_format(wire.DEFAULT_FORMAT))
        self.info = ProviderInfo(
            provider="elevenlabs", input_format=fmt, output_format=fmt, can_truncate=False,
            speech_interrupts=False, live_session_update=False, transcribes_input=True,
            commit_min_ms=0.0, answers_on_request=False, input_chunk_ms=wire.INPUT_CHUNK_MS,
            audio_fields=dict(wire.AUDIO_FIELDS),
            optional_intents=frozenset({"ContextUpdate", "UserActivity"}))
        self.conversation_id: Optional[str] = None
        self._text_only = False
        self._ready = False
        self._turn: Optional[int] = None       # the agent turn being received
        self._turn_audio = False               # it has had audio
        self._turn_quiet_pings = 0             # ping intervals without its audio, in a row
        self._audio_since_ping = False
        self._chat_open = False                # an agent_chat_response_part stream is open
        self._text_done = False                # the turn's text stream has stopped
        self._ended = -1                       # highest agent turn id that has ended
        self._drop_at: Optional[int] = None    # audio with event_id <= this is dropped
        self._caused: List[ev.Event] = []      # events a sent intent caused (take_events)
        self._speaking: Optional[str] = None   # the user voice item being transcribed
        self._typed: List[str] = []            # texts we sent, in case the server echoes them
        self._close_error: Optional[Tuple[str, int, str]] = None  # (error_type, code, message)
        self._handlers: Dict[str, Handler] = self._build_handlers()

    # --- connection -------------------------------------------------------------------------

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest:
        """The signed URL in ``token.token`` as it is, else the adapter's URL with ``?agent_id=``.

        Raises:
            ValueError: no signed URL and no ``agent_id``, or a signed URL that is not a
                ``wss://`` (or loopback ``ws://``) URL; the message never contains the URL.
        """
        return ConnectionRequest(url=self._adapter.conversation_url(token.token))

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]:
        """``conversation_initiation_client_data``: the client speaks first."""
        frame, self._text_only = initiation_frame(self._adapter, config, resume)
        return [frame]

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction:
        """What a close means, using the ``error`` frame that came before it (if any).

        1000: clean (a ``max_duration_exceeded`` error before it yielded ``GoAway(0)``);
        1002: ``transport_receive_timeout`` (60 s without user input) clean, a safety
        violation an error, others (LLM/TTS/ASR failures) a new conversation; 1008: an error
        (a refused override or message; at the handshake, the credentials); 1011 and drops
        (1001, 1005, 1006, 1012-1014): a new conversation.
        """
        kind, _, message = self._close_error or (None, code, reason)
        if code == wire.CLOSE_NORMAL:  # max_duration_exceeded was announced as GoAway(0)
            return CloseAction("clean")
        if code == wire.CLOSE_OPERATIONAL and kind in wire.CLEAN_END_ERROR_TYPES:
            return CloseAction("clean")
        if code == wire.CLOSE_BAD_INPUT or (code == wire.CLOSE_OPERATIONAL and kind == "safety_violation"):
            return CloseAction("error", error=self._error(kind, code, message or reason))
        if code in (wire.CLOSE_OPERATIONAL, wire.CLOSE_INTERNAL, 1001, 1005, 1006, 1012, 1013, 1014):
            return CloseAction("reconnect", error=error)
        return CloseAction("error", error=error or self._error(kind, code, message or reason))

    def _error(self, kind: Optional[str], code: int, message: str) -> RealtimeError:
        details = {"code": code, "type": kind, "conversation_id": self.conversation_id}
        if kind == "override_error":
            return ProviderError(
                f"the agent refused the conversation overrides ({message or 'no reason given'}); "
                "enable each override you send in the agent's security settings, or stop sending it",
                provider="elevenlabs", details=details)
        if code == wire.CLOSE_BAD_INPUT and not self._ready and kind is None:
            return PermissionDeniedError(f"the agent refused the conversation (close {code}: "
                                         f"{message or 'no reason given'}); a private agent needs a "
                                         "signed URL from get_token", provider="elevenlabs", details=details)
        what = f" ({kind})" if kind else ""
        return ProviderError(f"ElevenLabs ended the conversation{what}: {message or 'no reason given'}",
                             provider="elevenlabs", details=details)

    def resume_state(self) -> ResumeState:
        """ElevenLabs cannot resume: the next connection is a new conversation, and the history
        goes into it as a ``contextual_update`` (``Replay``)."""
        return ResumeState(replay=True)

    # --- intents -> frames ------------------------------------------------------------------

    def send(self, intent: it.Intent) -> List[Frame]:
        """The frames for ``intent``; ``[]`` for what ElevenLabs has no message for
        (``RequestResponse``, ``CommitAudio``, ``ClearAudio``, ``UpdateSession``)."""
        if isinstance(intent, it.AppendAudio):
            return [{"user_audio_chunk": b64encode(intent.audio)}]
        if isinstance(intent, it.UserMessage):
            return [self._user_message(intent)]
        if isinstance(intent, it.ToolResult):
            return [{"type": "client_tool_result", "tool_call_id": intent.call_id,
                     "result": as_text(intent.output), "is_error": bool(intent.is_error)}]
        if isinstance(intent, it.Interrupt):
            return self._interrupt(intent)
        if isinstance(intent, it.ContextUpdate):
            frame: Frame = {"type": "contextual_update", "text": intent.text}
            if intent.context_id is not None:
                frame["context_id"] = intent.context_id
            return [frame]
        if isinstance(intent, it.UserActivity):
            return [{"type": "user_activity"}]
        if isinstance(intent, it.Replay):
            text = history_context(intent.messages)
            return [{"type": "contextual_update", "text": text}] if text else []
        if isinstance(intent, (it.RequestResponse, it.CommitAudio, it.ClearAudio, it.UpdateSession)):
            return []
        raise TypeError(f"unknown intent {type(intent).__name__}")

    def _user_message(self, intent: it.UserMessage) -> Frame:
        if any(isinstance(p, ImagePart) for p in intent.parts):
            raise ValueError("ElevenLabs agents take no inline images (multimodal_message needs an "
                             "uploaded file_id)")
        text = "\n".join(p.content for p in intent.parts if isinstance(p, TextPart))
        if not text:
            raise ValueError("a user message needs text")
        self._typed = ([*self._typed, text.strip()])[-8:]
        return {"type": "user_message", "text": text}

    def _interrupt(self, intent: it.Interrupt) -> List[Frame]:
        if intent.turn is not None and intent.turn.isdigit():
            cut = int(intent.turn)
            self._drop_at = cut if self._drop_at is None else max(self._drop_at, cut)
            if self._turn == cut:  # no frame will end it for us: it ended with the cut
                self._caused += self._end("interrupted")
        if intent.by_user_speech:
            return []  # the server's own interruption: it knows
        # There is no cancel message; user_activity tells the agent the user is taking over.
        return [{"type": "user_activity"}]

    def take_events(self) -> List[ev.Event]:
        """Events the intents sent since the last call caused on their own (the end of a turn
        the client cut off: the agent confirms a cut with no message)."""
        events, self._caused = self._caused, []
        return events

    # --- frames -> events ---------------------------------------------------------------------

    def receive(self, frame: Union[str, bytes]) -> Received:
        """Normalized events (and the pong) for one received frame; never raises."""
        decoded = decode_frame(frame)
        if isinstance(decoded, ev.Malformed):
            return Received((decoded,))
        msg, kind, text = decoded
        events: List[ev.Event] = []
        if kind == "ping":
            return self._on_ping(msg, text, events)
        handler = self._handlers.get(kind)
        if handler is None:
            return Received([*events, ev.UnknownEvent(kind[:100])])
        try:
            events += handler(msg)
        except FrameError as exc:
            events.append(ev.Malformed(f"{kind}: {exc}", excerpt(text)))
        except Exception as exc:  # a bug here must not kill the reader thread
            logger.warning("elevenlabs_realtime: internal error parsing %s", kind[:100], exc_info=True)
            events.append(ev.Malformed(f"{kind}: internal adapter error ({type(exc).__name__})",
                                       excerpt(text)))
        return Received(events)

    def _build_handlers(self) -> Dict[str, Handler]:
        handlers: Dict[str, Handler] = {t: _ignored(t) for t in _IGNORED}
        for kind, key in _NOTICES.items():
            handlers[kind] = _notice(kind, key)
        handlers.update({
            "conversation_initiation_metadata": self._on_metadata,
            "audio": self._on_audio,
            "agent_response": self._on_agent_response,
            "agent_chat_response_part": self._on_chat_part,
            "agent_response_correction": self._on_correction,
            "user_transcript": self._on_user_transcript,
            "tentative_user_transcript": self._on_tentative,
            "interruption": self._on_interruption,
            "client_tool_call": self._on_tool_call,
            "vad_score": self._on_vad_score,
            "error": self._on_error,
        })
        return handlers

    def _on_ping(self, msg: Dict[str, Any], text: str, events: List[ev.Event]) -> Received:
        try:
            ping = req_obj(msg, "ping_event")
            event_id = _event_id(ping, "ping_event.")
            ping_ms = opt_int(ping, "ping_ms", "ping_event.")
        except FrameError as exc:
            return Received([*events, ev.Malformed(f"ping: {exc}", excerpt(text))])
        if self._turn is not None:
            if self._audio_since_ping:
                self._audio_since_ping, self._turn_quiet_pings = False, 0
            else:
                self._turn_quiet_pings += 1  # a whole ping interval without the turn's audio
            quiet: Optional[int] = self._adapter.turn_end_pings
            if not self._turn_audio:
                # a streamed text reply with no audio (yet): speech may still follow, so wait
                # one ping more, and only once the text is complete
                quiet = self._adapter.turn_end_pings + 1 if self._text_done else None
            if quiet is not None and self._turn_quiet_pings >= quiet:
                events += self._end("completed")
        if ping_ms is not None:
            events.append(ev.ProviderNotice("latency", {"ping_ms": ping_ms}))
        return Received(events or [ev.Ignored("ping")], [{"type": "pong", "event_id": event_id}])

    def _on_metadata(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "conversation_initiation_metadata_event")
        conversation = req_str(data, "conversation_id", "metadata.")
        formats = []
        for key in ("user_input_audio_format", "agent_output_audio_format"):
            name = req_str(data, key, "metadata.")
            try:
                formats.append(AudioFormat(*wire.parse_format(name)))
            except ValueError as exc:
                raise FrameError(str(exc)) from None
        if self._ready:
            return [ev.Ignored("conversation_initiation_metadata")]
        self._ready = True
        self.conversation_id = conversation
        self.info = _evolve_formats(self.info, formats[0], formats[1])
        notice = ev.ProviderNotice("conversation", {
            "conversation_id": conversation, "user_input_audio_format": data["user_input_audio_format"],
            "agent_output_audio_format": data["agent_output_audio_format"]})
        return [notice, ev.Ready(formats[0], formats[1], session_id=conversation)]

    # --- the agent's turns ------------------------------------------------------------------------

    def _begin(self, event_id: int, events: List[ev.Event]) -> bool:
        """Make ``event_id`` the current agent turn (ending an older one); False if it is over."""
        if self._turn == event_id:
            return True
        if event_id <= self._ended or (self._turn is not None and event_id < self._turn):
            return False  # a late frame of a turn that has ended
        if self._turn is not None:
            events += self._end("completed")
        self._turn, self._turn_audio, self._turn_quiet_pings = event_id, False, 0
        self._audio_since_ping = False
        self._chat_open = self._text_done = False
        events += [ev.TurnStarted(turn_id(event_id)), ev.OutputStarted(turn_id(event_id), item_id(event_id))]
        return True

    def _end(self, outcome: str) -> List[ev.Event]:
        turn = self._turn
        if turn is None:
            return []
        self._turn, self._chat_open = None, False
        self._ended = max(self._ended, turn)
        return [ev.TurnEnded(turn_id(turn), outcome, item_ids=(item_id(turn),))]

    def _dropped(self, event_id: int) -> bool:
        return self._drop_at is not None and (event_id <= self._drop_at if wire.DROP_AT_OR_BELOW
                                              else event_id < self._drop_at)

    def _on_audio(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "audio_event")
        event_id = _event_id(data, "audio_event.")
        b64 = req_str(data, "audio_base_64", "audio_event.")
        if self._dropped(event_id):
            return [ev.Ignored("audio")]  # late audio of an interrupted turn
        try:
            pcm = b64decode_strict(b64)
        except ValueError:
            raise FrameError("audio_event.audio_base_64 is not valid base64") from None
        events: List[ev.Event] = []
        if not self._begin(event_id, events):
            return [ev.Ignored("audio")]
        self._turn_audio = self._audio_since_ping = True
        events.append(ev.AudioChunk(turn_id(event_id), item_id(event_id), pcm))
        return events

    def _kind(self) -> str:
        return "text" if self._text_only else "audio"

    def _on_agent_response(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "agent_response_event")
        event_id = _event_id(data, "agent_response_event.")
        text = req_str(data, "agent_response", "agent_response_event.").strip()
        events: List[ev.Event] = []
        if self._dropped(event_id) or not self._begin(event_id, events):
            return [ev.Ignored("agent_response")]
        events.append(ev.AssistantTranscript(turn_id(event_id), item_id(event_id), text, True, self._kind()))
        if self._text_only and not self._chat_open:
            events += self._end("completed")  # the whole text reply, and nothing else will come
        return events

    def _on_chat_part(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "text_response_part")
        event_id = _event_id(data, "text_response_part.")
        text = req_str(data, "text", "text_response_part.")
        part = req_str(data, "type", "text_response_part.")
        if part not in ("start", "delta", "stop"):
            raise FrameError(f"text_response_part.type must be start, delta or stop, got {part[:20]!r}")
        events: List[ev.Event] = []
        if self._dropped(event_id) or not self._begin(event_id, events):
            return [ev.Ignored("agent_chat_response_part")]
        if part == "start":
            self._chat_open = True
        if text:  # streamed text (mainly chat mode): text deltas, whatever the mode
            events.append(ev.AssistantTranscript(turn_id(event_id), item_id(event_id), text, False, "text"))
        if part == "stop":
            self._chat_open, self._text_done = False, True
            if self._text_only:
                events += self._end("completed")
        return events

    def _on_correction(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "agent_response_correction_event")
        event_id = _event_id(data, "agent_response_correction_event.")
        req_str(data, "original_agent_response", "agent_response_correction_event.")
        text = req_str(data, "corrected_agent_response", "agent_response_correction_event.").strip()
        return [ev.AssistantTranscriptCorrected(item_id(event_id), text)]

    def _on_interruption(self, m: Dict[str, Any]) -> List[ev.Event]:
        event_id = _event_id(req_obj(m, "interruption_event"), "interruption_event.")
        self._drop_at = event_id if self._drop_at is None else max(self._drop_at, event_id)
        turn = self._turn
        if turn is not None and turn <= event_id:
            return [ev.Interrupted(turn_id(turn)), *self._end("interrupted")]
        return [ev.Interrupted(None)]

    def _on_tool_call(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "client_tool_call")
        event_id = _event_id(data, "client_tool_call.")
        name = req_str(data, "tool_name", "client_tool_call.")
        call_id = req_str(data, "tool_call_id", "client_tool_call.")
        parameters = req_obj(data, "parameters", "client_tool_call.")
        events: List[ev.Event] = []
        turn: Optional[str] = turn_id(event_id) if self._begin(event_id, events) else None
        item = item_id(event_id) if turn is not None else None
        events.append(ev.ToolCall(turn, call_id, name, json.dumps(parameters), item))
        return events

    # --- the user's side --------------------------------------------------------------------------

    def _on_tentative(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "tentative_user_transcription_event")
        event_id = _event_id(data, "tentative_user_transcription_event.")
        text = req_str(data, "user_transcript", "tentative_user_transcription_event.")
        events: List[ev.Event] = []
        if self._speaking is None:
            self._speaking = user_item(event_id)
            events.append(ev.SpeechStarted(self._speaking))
        events.append(ev.UserTranscript(self._speaking, text, False, cumulative=True))
        return events

    def _on_user_transcript(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "user_transcription_event")
        event_id = _event_id(data, "user_transcription_event.")
        text = req_str(data, "user_transcript", "user_transcription_event.").strip()
        events: List[ev.Event] = []
        if self._turn is not None and self._turn < event_id:
            events += self._end("completed")  # a new exchange began
        if self._speaking is None and text in self._typed:
            self._typed.remove(text)  # the server repeating what we typed (UNCONFIRMED it does)
            return events or [ev.Ignored("user_transcript")]
        item = self._speaking or user_item(event_id)
        if self._speaking is None:
            events.append(ev.SpeechStarted(item))
        self._speaking = None
        events += [ev.SpeechStopped(item), ev.UserAudioCommitted(item), ev.UserTranscript(item, text, True)]
        return events

    def _on_vad_score(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "vad_score_event")
        score = data.get("vad_score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise FrameError(f"vad_score_event.vad_score must be a number, got {type_name(score)}")
        return [ev.ProviderNotice("vad_score", {"vad_score": float(score)})]

    def _on_error(self, m: Dict[str, Any]) -> List[ev.Event]:
        data = req_obj(m, "error_event")
        code = data.get("code")
        if type(code) is not int:
            raise FrameError(f"error_event.code must be an integer, got {type_name(code)}")
        kind = data.get("error_type") if type(data.get("error_type")) is str else None
        message = next((data[k] for k in ("message", "reason", "debug_message") if type(data.get(k)) is str
                        and data[k]), "") or (kind or "no reason given")
        self._close_error = (kind or "", code, message)
        if code in (wire.CLOSE_BAD_INPUT,) or kind == "safety_violation":
            return [ev.Ignored("error")]  # the close that follows reports it, once
        if kind == "max_duration_exceeded":
            message = f"the conversation reached the agent's maximum duration ({message})"
            return [ev.GoAway(0.0), ev.ProviderErrorEvent(message, code=kind, kind="other",
                                                          error_type=str(code))]
        elif kind == "transport_receive_timeout":
            message = f"the agent ended the conversation after a silence from the user ({message})"
        return [ev.ProviderErrorEvent(message, code=kind, kind="other", error_type=str(code))]


def _ignored(kind: str) -> Handler:
    return lambda m: [ev.Ignored(kind)]


def _notice(kind: str, key: Optional[str]) -> Handler:
    def handle(m: Dict[str, Any]) -> List[ev.Event]:
        payload = m.get(key) if key is not None else {k: v for k, v in m.items() if k != "type"}
        return [ev.ProviderNotice(kind, payload if type(payload) is dict else {})]
    return handle


def _evolve_formats(info: ProviderInfo, fmt_in: AudioFormat, fmt_out: AudioFormat) -> ProviderInfo:
    import attrs

    return attrs.evolve(info, input_format=fmt_in, output_format=fmt_out)
