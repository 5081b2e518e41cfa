"""The OpenAI Realtime API (GA) protocol session (sans-I/O), one per connection.

The adapter (``_adapter.py``) builds one :class:`OpenAISession` per connection. The session
owns the handshake (it answers ``session.created`` with the ``session.update``), turns frames
into normalized events, intents into frames, and classifies errors and closes. Wire facts:
``_wire.py``; protocols.md §1, §8.1.
"""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union

from ... import _events as ev
from ... import _intents as it
from ..._errors import RealtimeError
from ..._models import ImagePart, RealtimeToken, SessionConfig, TextPart
from ..._provider import CloseAction, ProviderInfo, Received, ResumeState
from ..._types import ConnectionRequest, Frame
from .._common import (
    FrameError,
    as_text,
    b64decode_strict,
    b64encode,
    conversation_items,
    decode_frame,
    excerpt,
    image_url,
    new_event_id,
    opt_int,
    opt_obj,
    opt_str,
    req_obj,
    req_str,
    type_name,
    usage_info,
    with_query_param,
)
from . import _wire as wire
from ._session_config import build_session, session_diff

if TYPE_CHECKING:
    from ._adapter import OpenAIRealtimeAdapter

__all__ = ["OpenAISession"]

logger = logging.getLogger("realtime_client")


# Frames the client has no use for. Everything else unknown becomes ev.UnknownEvent.
_IGNORED_TYPES = (
    "conversation.created", "conversation.item.added", "conversation.item.done",
    "conversation.item.created", "conversation.item.retrieved", "conversation.item.deleted",
    "conversation.item.truncated", "conversation.item.input_audio_transcription.segment",
    "response.content_part.added", "response.content_part.done", "response.output_item.done",
    "response.function_call_arguments.delta", "response.output_audio.done", "response.audio.done",
    "input_audio_buffer.cleared", "input_audio_buffer.timeout_triggered",
    "input_audio_buffer.dtmf_event_received", "rate_limits.updated",
    "output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared",
    "mcp_list_tools.in_progress", "mcp_list_tools.completed", "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress", "response.mcp_call.completed", "response.mcp_call.failed",
)

Handler = Callable[[Dict[str, Any]], Optional[ev.Event]]


class OpenAISession:
    """One connection's OpenAI GA protocol state (sans-I/O; see ``realtime_client._provider``).

    Threads: used under the client's state lock only.
    """

    def __init__(self, adapter: OpenAIRealtimeAdapter) -> None:
        self._adapter = adapter
        self._options = adapter.options
        fmt = adapter.audio_format
        self.info = ProviderInfo(
            provider="openai", input_format=fmt, output_format=fmt, can_truncate=True,
            speech_interrupts=True, live_session_update=True,
            transcribes_input=self._options.input_transcription is not None,
            commit_min_ms=wire.COMMIT_MIN_MS, audio_fields=dict(wire.AUDIO_FIELDS),
            session_cap=wire.SESSION_CAP_SECONDS)
        self._config = SessionConfig()
        self._created = False
        self._ready = False
        # session.updated does not echo the client's event_id: updates are answered in order.
        self._updates: Deque[Tuple[str, str]] = collections.deque()  # (event_id, update_id)
        self._housekeeping: Set[str] = set()  # event ids of our cancels and truncates
        self._creates: Set[str] = set()  # event ids of our response.create frames
        self._handlers: Dict[str, Handler] = self._build_handlers()

    # --- connection -----------------------------------------------------------------------

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest:
        """URL and headers for a new connection.

        The model is, in order: the adapter's ``model``, ``config.model``, the token's
        ``config.model``, then ``_wire.DEFAULT_MODEL``; it is appended as ``?model=`` unless the
        URL already names a ``model`` or ``call_id``. Auth is ``Authorization: Bearer <token>``.

        Raises:
            ValueError: the token is empty or has characters not allowed in an HTTP header
                (the message never contains the token).
        """
        secret = token.token
        if not secret or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in secret):
            raise ValueError("the token is empty or contains characters not allowed in an HTTP header")
        model = self._adapter.model or config.model or token.config.model or wire.DEFAULT_MODEL
        url = with_query_param(self._adapter.url, "model", model, unless=("call_id",))
        return ConnectionRequest(url=url, headers={"Authorization": f"Bearer {secret}"})

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]:
        """Nothing: the server speaks first (``session.created``), and is answered then."""
        self._config = config
        return []

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction:
        """1000 is clean; 1001 is the 60-minute cap (reconnect, with go-away); drops reconnect;
        others fail."""
        if code == 1000:
            return CloseAction("clean")
        if code == wire.SESSION_CAP_CLOSE_CODE:
            return CloseAction("reconnect", go_away=True, error=error)
        if code in wire.RECONNECT_CLOSE_CODES:
            return CloseAction("reconnect", error=error)
        return CloseAction("error", error=error)

    def resume_state(self) -> ResumeState:
        """OpenAI cannot resume a session: the next one is seeded with the history."""
        return ResumeState(replay=True)

    # --- intents -> frames -------------------------------------------------------------------

    def send(self, intent: it.Intent) -> List[Frame]:
        """The frames for ``intent`` (each gets an ``event_id`` the server echoes in errors,
        except the high-rate audio append)."""
        if isinstance(intent, it.AppendAudio):
            return [{"type": "input_audio_buffer.append", "audio": b64encode(intent.audio)}]
        if isinstance(intent, it.UserMessage):
            return [self._user_message(intent)]
        if isinstance(intent, it.RequestResponse):
            frame = _frame("response.create")
            self._creates.add(frame["event_id"])
            return [frame]
        if isinstance(intent, it.CommitAudio):
            return [_frame("input_audio_buffer.commit")]
        if isinstance(intent, it.ClearAudio):
            return [_frame("input_audio_buffer.clear")]
        if isinstance(intent, it.Interrupt):
            return self._interrupt(intent)
        if isinstance(intent, it.ToolResult):
            return [_frame("conversation.item.create", item={
                "type": "function_call_output", "call_id": intent.call_id, "output": as_text(intent.output)})]
        if isinstance(intent, it.UpdateSession):
            return self._update(intent)
        if isinstance(intent, it.Replay):
            return [_frame("conversation.item.create", item=item)
                    for item in conversation_items(intent.messages)]
        raise TypeError(f"unknown intent {type(intent).__name__}")

    def _user_message(self, intent: it.UserMessage) -> Frame:
        content = []
        for part in intent.parts:
            if isinstance(part, TextPart):
                content.append({"type": "input_text", "text": part.content})
            elif isinstance(part, ImagePart):
                content.append({"type": "input_image", "image_url": image_url(part)})
        if not content:
            raise ValueError("a user message needs at least one text or image part")
        item: Dict[str, Any] = {"type": "message", "role": "user", "content": content}
        if intent.message_id:
            item["id"] = intent.message_id
        return _frame("conversation.item.create", item=item)

    def _interrupt(self, intent: it.Interrupt) -> List[Frame]:
        frames: List[Frame] = []
        server_cancels = intent.by_user_speech and self._server_cancels_on_speech()
        if intent.turn is not None and not server_cancels:
            frames.append(_frame("response.cancel", response_id=intent.turn))
        if intent.item_id is not None and intent.heard_ms is not None and intent.heard_ms > 0:
            frames.append(_frame("conversation.item.truncate", item_id=intent.item_id, content_index=0,
                                 audio_end_ms=max(0, int(intent.heard_ms))))
        # Truncating to 0 ms is refused ("Only model output audio messages can be truncated"):
        # an answer the user never heard is deleted from the conversation instead.
        frames.extend(_frame("conversation.item.delete", item_id=item) for item in intent.unheard)
        self._housekeeping.update(f["event_id"] for f in frames)
        return frames

    def _server_cancels_on_speech(self) -> bool:
        config = self._config
        if config.vad_mode not in ("server", "semantic"):
            return False
        return not (config.vad_config is not None and config.vad_config.interrupt_response is False)

    def session_update(self, config: SessionConfig, previous: Optional[SessionConfig] = None,
                       event_id: Optional[str] = None) -> Frame:
        """A ``session.update`` for ``config``: the whole session, or only what differs from
        ``previous`` (a voice that did not change is not re-sent, so ``cannot_update_voice``
        cannot reject an unrelated change)."""
        session = build_session(config, self._options)
        if previous is not None:
            session = session_diff(session, build_session(previous, self._options))
        return {"type": "session.update", "event_id": event_id or new_event_id(), "session": session}

    def _update(self, intent: it.UpdateSession) -> List[Frame]:
        frame = self.session_update(intent.config, intent.previous)
        self._config = intent.config
        if list(frame["session"]) == ["type"]:
            return []  # nothing changed on the wire
        self._updates.append((frame["event_id"], intent.update_id))
        return [frame]

    # --- frames -> events ------------------------------------------------------------------

    def receive(self, frame: Union[str, bytes]) -> Received:
        """Normalized events (and replies) for one received frame; never raises.

        Frames that are not UTF-8 JSON objects with a string ``type``, or whose fields have the
        wrong types, become ``Malformed``; unknown types ``UnknownEvent``; known ones the client
        does not need ``Ignored``. Malformed informational parts of ``response.done`` (usage,
        status details, the output list) are dropped instead, so the turn still ends.
        """
        decoded = decode_frame(frame)
        if isinstance(decoded, ev.Malformed):
            return Received((decoded,))
        msg, kind, text = decoded
        if kind == "session.created":
            try:
                return self._on_session_created(msg, text)
            except (TypeError, ValueError) as exc:  # a config that cannot be encoded
                return Received((ev.ConfigRejected(_START, f"the session configuration cannot be "
                                                   f"sent: {exc}"),))
        handler = self._handlers.get(kind)
        if handler is None:
            return Received((ev.UnknownEvent(kind[:100]),))
        try:
            event = handler(msg)
        except FrameError as exc:
            return Received((ev.Malformed(f"{kind}: {exc}", excerpt(text)),))
        except Exception as exc:  # a bug here must not kill the reader thread
            logger.warning("openai_realtime: internal error parsing %s", kind[:100], exc_info=True)
            return Received((ev.Malformed(f"{kind}: internal adapter error ({type(exc).__name__})",
                                          excerpt(text)),))
        return Received(() if event is None else (event,))

    def _on_session_created(self, msg: Dict[str, Any], text: str) -> Received:
        if type(msg.get("session")) is not dict:
            return Received((ev.Malformed("session.created: session must be an object", excerpt(text)),))
        if self._created:
            return Received((ev.Ignored("session.created"),))
        self._created = True
        frame = self.session_update(self._config)
        self._updates.append((frame["event_id"], _START))
        return Received((), (frame,))

    def _build_handlers(self) -> Dict[str, Handler]:
        handlers: Dict[str, Handler] = {t: _ignored(t) for t in _IGNORED_TYPES}
        handlers.update({
            "session.updated": self._on_session_updated,
            "input_audio_buffer.speech_started": lambda m: ev.SpeechStarted(
                opt_str(m, "item_id"), opt_int(m, "audio_start_ms")),
            "input_audio_buffer.speech_stopped": lambda m: ev.SpeechStopped(
                opt_str(m, "item_id"), opt_int(m, "audio_end_ms")),
            "input_audio_buffer.committed": lambda m: ev.UserAudioCommitted(req_str(m, "item_id")),
            "conversation.item.input_audio_transcription.delta": lambda m: ev.UserTranscript(
                req_str(m, "item_id"), opt_str(m, "delta") or "", False),
            "conversation.item.input_audio_transcription.completed": lambda m: ev.UserTranscript(
                req_str(m, "item_id"), req_str(m, "transcript"), True),
            "conversation.item.input_audio_transcription.failed": _on_user_failed,
            "response.created": lambda m: ev.TurnStarted(req_str(req_obj(m, "response"), "id", "response.")),
            "response.output_item.added": _on_output_added,
            "response.output_audio.delta": _on_audio_delta,
            "response.audio.delta": _on_audio_delta,
            "response.output_audio_transcript.delta": _transcript("delta", False, "audio"),
            "response.audio_transcript.delta": _transcript("delta", False, "audio"),
            "response.output_audio_transcript.done": _transcript("transcript", True, "audio"),
            "response.audio_transcript.done": _transcript("transcript", True, "audio"),
            "response.output_text.delta": _transcript("delta", False, "text"),
            "response.text.delta": _transcript("delta", False, "text"),
            "response.output_text.done": _transcript("text", True, "text"),
            "response.text.done": _transcript("text", True, "text"),
            "response.function_call_arguments.done": _on_tool_call,
            "response.done": _on_response_done,
            "error": self._on_error,
        })
        return handlers

    def _on_session_updated(self, m: Dict[str, Any]) -> Optional[ev.Event]:
        req_obj(m, "session")
        if not self._updates:
            return ev.Ignored("session.updated")
        _, update_id = self._updates.popleft()
        if update_id == _START:
            self._ready = True
            return ev.Ready(self.info.input_format, self.info.output_format)
        return ev.ConfigApplied(update_id)

    def _on_error(self, m: Dict[str, Any]) -> ev.Event:
        error = req_obj(m, "error")
        code = opt_str(error, "code", "error.")
        message = opt_str(error, "message", "error.") or code or "unknown provider error"
        event_id = opt_str(error, "event_id", "error.")
        for pending in list(self._updates):
            if event_id is not None and pending[0] == event_id:
                self._updates.remove(pending)
                return ev.ConfigRejected(pending[1], message, code)
        kind = "other"
        if event_id is not None and event_id in self._housekeeping:
            kind = "benign"  # an answer to our own cancel/truncate racing the server
        elif code == wire.CANCEL_NOT_ACTIVE or (code is None and "no active response" in message.lower()):
            kind = "benign"
        elif code in wire.FATAL_CODES:
            kind = "fatal"
        elif code == wire.ACTIVE_RESPONSE:
            kind = "retry"  # our response.create raced one the server started itself
        elif event_id is not None and event_id in self._creates:
            kind = "response_rejected"
        return ev.ProviderErrorEvent(message, code, kind, opt_str(error, "type", "error."),
                                     opt_str(error, "param", "error."), event_id)


_START = "start"  # the update id of the session.update sent in answer to session.created


def _frame(type_: str, **fields: Any) -> Frame:
    return {"type": type_, "event_id": new_event_id(), **fields}


def _ignored(kind: str) -> Handler:
    event = ev.Ignored(kind)
    return lambda msg: event


def _transcript(field: str, final: bool, kind: str) -> Handler:
    def handle(m: Dict[str, Any]) -> ev.Event:
        return ev.AssistantTranscript(opt_str(m, "response_id"), req_str(m, "item_id"), req_str(m, field),
                                      final, kind)
    return handle


def _on_user_failed(m: Dict[str, Any]) -> ev.Event:
    error = opt_obj(m, "error") or {}
    return ev.UserTranscriptFailed(req_str(m, "item_id"), opt_str(error, "message", "error.") or "")


def _on_output_added(m: Dict[str, Any]) -> ev.Event:
    item = req_obj(m, "item")
    item_type = opt_str(item, "type", "item.")
    if item_type not in ("message", "function_call"):
        return ev.Ignored("response.output_item.added")  # MCP items: nothing for the client to do
    return ev.OutputStarted(opt_str(m, "response_id"), req_str(item, "id", "item."), item_type)


def _on_audio_delta(m: Dict[str, Any]) -> ev.Event:
    delta = m.get("delta")
    if type(delta) is not str:
        raise FrameError(f"delta must be a base64 string, got {type_name(delta)}")
    try:
        audio = b64decode_strict(delta)
    except ValueError:
        raise FrameError("delta is not valid base64") from None
    return ev.AudioChunk(opt_str(m, "response_id"), req_str(m, "item_id"), audio)


def _on_tool_call(m: Dict[str, Any]) -> ev.Event:
    call_id = opt_str(m, "call_id")
    if not call_id:
        # A function_call_output sent under another id is silently ignored by the server.
        raise FrameError("call_id is missing (item_id is not a substitute)")
    return ev.ToolCall(opt_str(m, "response_id"), call_id, req_str(m, "name"), req_str(m, "arguments"),
                       opt_str(m, "item_id"))


def _on_response_done(m: Dict[str, Any]) -> ev.Event:
    response = req_obj(m, "response")
    response_id = req_str(response, "id", "response.")
    status = opt_str(response, "status", "response.") or "completed"
    reason = message = code = None
    details = response.get("status_details")
    if type(details) is dict:
        reason = _str_or_none(details.get("reason"))
        error = details.get("error")
        if type(error) is dict:
            code = _str_or_none(error.get("code"))
            message = _str_or_none(error.get("message")) or code or _str_or_none(error.get("type"))
    if status == "completed":
        outcome = "completed"
    elif status == "failed":
        outcome = "failed"
        message = message or "the response failed"
    elif status == "incomplete" and reason in ("max_output_tokens", "content_filter"):
        outcome = "cut_off"
    else:  # cancelled (turn_detected / client_cancelled), or incomplete for another reason
        outcome = "interrupted"
    output = response.get("output")
    item_ids = [o["id"] for o in output if type(o) is dict and type(o.get("id")) is str] \
        if type(output) is list else []
    return ev.TurnEnded(response_id, outcome, usage_info(response.get("usage"), response_id), item_ids,
                        message if outcome == "failed" else None, code if outcome == "failed" else None,
                        reason)


def _str_or_none(value: Any) -> Optional[str]:
    return value if type(value) is str else None
