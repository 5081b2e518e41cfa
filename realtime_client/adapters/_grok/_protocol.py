"""The xAI Grok voice agent protocol session (sans-I/O), one per connection.

xAI's events are OpenAI's (protocols.md §2, §8.2), so :class:`GrokSession` holds an
:class:`~realtime_client.adapters._openai.OpenAISession` and forwards every frame and intent it
has no reason to treat differently. It owns what differs:

* the handshake: ``conversation.created`` (carrying the conversation id) and ``session.created``
  arrive in either order; the xAI-shaped ``session.update`` answers ``conversation.created`` (or
  the one ``grok_realtime(config_after=...)`` names), and its ``session.updated`` is ``Ready``;
* ``ping`` (ignored), text deltas sent under two spellings (the first spelling per item wins),
  cumulative interim transcripts (``...input_audio_transcription.updated``), a ``usage`` at the
  top of ``response.done``, and race errors that carry only a message;
* barge-in: ``response.cancel`` always, and ``conversation.item.truncate`` when something was
  heard (an error or no answer to it is fine);
* resumption: the next connection reattaches with ``&conversation_id=``; the items the server
  replays are dropped; a conversation that expired is reported as ``Ready(history_lost=True)``.
"""

from __future__ import annotations

import collections
import json
import logging
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Set, Tuple, Union

import attrs

from ... import _events as ev
from ... import _intents as it
from ..._errors import RealtimeError
from ..._models import RealtimeToken, SessionConfig
from ..._provider import CloseAction, ProviderInfo, Received, ResumeState
from ..._types import ConnectionRequest, Frame
from .._common import FrameError, decode_frame, excerpt, new_event_id, opt_obj, opt_str, with_query_param
from .._openai._wire import ACTIVE_RESPONSE, CANCEL_NOT_ACTIVE, COMMIT_MIN_MS
from . import _wire as wire
from ._session_config import build_grok_session

if TYPE_CHECKING:
    from ._adapter import GrokRealtimeAdapter

__all__ = ["GrokSession"]

logger = logging.getLogger("realtime_client")

_START = "start"  # the update id of the session.update sent during the handshake
_MAX_ITEMS = 4096
# Frames that carry the same content under two names; per item, the first name seen wins.
_ALIASES = {
    "response.text.delta": "text.delta", "response.output_text.delta": "text.delta",
    "response.text.done": "text.done", "response.output_text.done": "text.done",
    "response.audio_transcript.delta": "transcript.delta",
    "response.output_audio_transcript.delta": "transcript.delta",
    "response.audio_transcript.done": "transcript.done",
    "response.output_audio_transcript.done": "transcript.done",
    "response.audio.delta": "audio.delta", "response.output_audio.delta": "audio.delta",
}


class GrokSession:
    """One connection's xAI protocol state (sans-I/O; see ``realtime_client._provider``).

    Threads: used under the client's state lock only.
    """

    def __init__(self, adapter: GrokRealtimeAdapter) -> None:
        self._adapter = adapter
        self._inner = adapter.dialect.new_session()  # the OpenAI event vocabulary
        options = adapter.options
        self.info = ProviderInfo(
            provider="grok", input_format=options.input_format, output_format=options.output_format,
            can_truncate=True, speech_interrupts=True, live_session_update=True,
            transcribes_input=options.input_transcription is not None, commit_min_ms=COMMIT_MIN_MS,
            audio_fields=dict(wire.AUDIO_FIELDS), session_cap=adapter.session_cap)
        self._config = SessionConfig()
        self._configured = False
        self._ready = False
        self._updates: Deque[Tuple[str, str]] = collections.deque()  # (event_id, update_id)
        self._housekeeping: Set[str] = set()  # event ids of our cancels and truncates
        self.conversation_id: Optional[str] = None
        self._resume: Optional[ResumeState] = None
        self._history_lost = False
        self._replayed: Set[str] = set()  # items the server holds from before this connection
        self._items: Dict[str, None] = {}  # every item id this connection has seen, in order
        self._spelling: Dict[Tuple[str, str], str] = {}  # (item id, family) -> the type that won
        self._calls: Set[str] = set()  # call ids already announced (xAI may repeat a call)

    # --- connection -----------------------------------------------------------------------

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest:
        """``wss://api.x.ai/v1/realtime?model=...`` (plus ``&conversation_id=`` to resume) with
        ``Authorization: Bearer <token>``.

        Raises:
            ValueError: the token is empty or not a valid header value (never shown).
        """
        model = self._adapter.model or config.model or token.config.model or wire.DEFAULT_MODEL
        # the OpenAI session validates the token and builds the bearer header
        request = self._inner.connection_request(token, attrs.evolve(config, model=model), resume)
        url = with_query_param(self._adapter.url, "model", model)
        if resume is not None and resume.conversation_id:
            url = with_query_param(url, wire.CONVERSATION_ID_PARAM, resume.conversation_id)
        return ConnectionRequest(url=url, headers=dict(request.headers))

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]:
        """Nothing: the server speaks first (``conversation.created``, ``session.created``)."""
        self._config = config
        self._inner.start(config, resume)
        if resume is not None and resume.conversation_id:
            self._resume = resume
            self._replayed = set(resume.items)
        return []

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction:
        """As OpenAI: 1000 clean, 1001 the (~1 h, **UNCONFIRMED**) cap, drops reconnect."""
        return self._inner.classify_close(code, reason, error)

    def resume_state(self) -> ResumeState:
        """With resumption on and a conversation id known: reattach to it (no replay); else
        seed the next session with the history."""
        if self._adapter.options.resumption and self.conversation_id:
            known = list(self._replayed) if not self._history_lost else []
            return ResumeState(replay=False, conversation_id=self.conversation_id,
                               items=tuple(dict.fromkeys([*known, *self._items])))
        return ResumeState(replay=True)

    # --- intents -> frames ----------------------------------------------------------------

    def send(self, intent: it.Intent) -> List[Frame]:
        """The frames for ``intent``; what xAI shares with OpenAI comes from the OpenAI session."""
        if isinstance(intent, it.UpdateSession):
            return self._update(intent)
        if isinstance(intent, it.Interrupt):
            return self._interrupt(intent)
        if isinstance(intent, it.UserMessage) and intent.message_id:
            self._note_item(intent.message_id)
        return self._inner.send(intent)

    def session_update(self, config: SessionConfig, previous: Optional[SessionConfig] = None) -> Frame:
        """A ``session.update`` carrying the whole xAI session for ``config`` (or, with
        ``grok_realtime(partial_updates=True)``, only what differs from ``previous``)."""
        session = build_grok_session(config, self._adapter.options)
        if previous is not None and self._adapter.partial_updates:
            old = build_grok_session(previous, self._adapter.options)
            session = {k: v for k, v in session.items() if old.get(k) != v}
        return {"type": "session.update", "event_id": new_event_id(), "session": session}

    def _update(self, intent: it.UpdateSession) -> List[Frame]:
        frame = self.session_update(intent.config, intent.previous)
        self._config = intent.config
        self._inner.start(intent.config, None)  # keeps its view of the config current
        if not frame["session"]:
            return []
        self._updates.append((frame["event_id"], intent.update_id))
        return [frame]

    def _interrupt(self, intent: it.Interrupt) -> List[Frame]:
        frames: List[Frame] = []
        if intent.turn is not None:  # xAI: always cancel, the server's VAD may not
            frames.append({"type": "response.cancel", "event_id": new_event_id()})
        if intent.item_id is not None and intent.heard_ms is not None and intent.heard_ms > 0:
            frames.append({"type": "conversation.item.truncate", "event_id": new_event_id(),
                           "item_id": intent.item_id, "content_index": 0,
                           "audio_end_ms": max(0, int(intent.heard_ms))})
        self._housekeeping.update(f["event_id"] for f in frames)
        return frames

    # --- frames -> events -----------------------------------------------------------------

    def receive(self, frame: Union[str, bytes]) -> Received:
        """Normalized events (and replies) for one frame; never raises."""
        decoded = decode_frame(frame)
        if isinstance(decoded, ev.Malformed):
            return Received((decoded,))
        msg, kind, text = decoded
        try:
            handled = self._receive(msg, kind, text)
        except FrameError as exc:
            return Received((ev.Malformed(f"{kind}: {exc}", excerpt(text)),))
        except (TypeError, ValueError) as exc:
            if kind in ("conversation.created", "session.created"):  # the config cannot be encoded
                return Received((ev.ConfigRejected(_START, f"the session configuration cannot be sent: "
                                                   f"{exc}"),))
            return Received((ev.Malformed(f"{kind}: {exc}", excerpt(text)),))
        except Exception as exc:  # a bug here must not kill the reader thread
            logger.warning("grok_realtime: internal error parsing %s", kind[:100], exc_info=True)
            return Received((ev.Malformed(f"{kind}: internal adapter error ({type(exc).__name__})",
                                          excerpt(text)),))
        return handled if handled is not None else self._inner.receive(text)

    def _receive(self, msg: Dict[str, Any], kind: str, text: str) -> Optional[Received]:
        """The frames xAI treats differently; ``None`` means the OpenAI session handles it."""
        if kind == "ping":
            return Received((ev.Ignored("ping"),))
        if kind in ("conversation.created", "session.created"):
            return self._on_created(msg, kind, text)
        if kind == "session.updated":
            return self._on_session_updated(msg, text)
        if kind == "error":
            return self._on_error(msg, text)
        item = _item_id(msg)
        if item is not None and (item in self._replayed or (self._resume is not None and not self._ready)):
            return Received((ev.Ignored(f"{kind} (replayed)"),))  # the server replaying history
        if item is not None:
            self._note_item(item)
        family = _ALIASES.get(kind)
        if family is not None and item is not None:
            winner = self._spelling.setdefault((item, family), kind)
            if winner != kind:
                return Received((ev.Ignored(kind),))  # the same content under its other name
        if kind == "response.function_call_arguments.done":
            call_id = msg.get("call_id")
            if type(call_id) is str:
                if call_id in self._calls:
                    return Received((ev.Ignored(f"{kind} (repeated call {call_id[:40]})"),))
                self._calls.add(call_id)
        if kind == "conversation.item.input_audio_transcription.updated":
            transcript = opt_str(msg, "transcript")
            if transcript is not None:
                return Received((ev.UserTranscript(item, transcript, False, cumulative=True),))
            return Received((ev.UserTranscript(item, opt_str(msg, "delta") or "", False),))
        if kind == "response.done":
            response = msg.get("response")
            if type(response) is dict and response.get("usage") is None and type(msg.get("usage")) is dict:
                patched = dict(msg, response=dict(response, usage=msg["usage"]))
                return self._inner.receive(json.dumps(patched))
        return None

    def _note_item(self, item_id: str) -> None:
        self._items[item_id] = None
        if len(self._items) > _MAX_ITEMS:  # ids only matter for de-duplicating a replay
            for old in list(self._items)[: _MAX_ITEMS // 4]:
                del self._items[old]

    def _on_created(self, msg: Dict[str, Any], kind: str, text: str) -> Received:
        if kind == "conversation.created":
            conversation = opt_obj(msg, "conversation")
            conv_id = opt_str(conversation or {}, "id", "conversation.")
            if conv_id:
                resume = self._resume
                if resume is not None and conv_id != resume.conversation_id:
                    # the server started a new conversation: the old one expired
                    logger.info("grok: conversation %s is gone (expired?); replaying the history",
                                resume.conversation_id)
                    self._history_lost = True
                    self._replayed = set()
                self.conversation_id = conv_id
        elif type(msg.get("session")) is not dict:
            return Received((ev.Malformed("session.created: session must be an object", excerpt(text)),))
        if self._configured or kind not in self._adapter.config_after:
            return Received((ev.Ignored(kind),))
        self._configured = True
        frame = self.session_update(self._config)
        self._updates.append((frame["event_id"], _START))
        return Received((), (frame,))

    def _on_session_updated(self, msg: Dict[str, Any], text: str) -> Received:
        if type(msg.get("session")) is not dict:
            return Received((ev.Malformed("session.updated: session must be an object", excerpt(text)),))
        if not self._updates:
            return Received((ev.Ignored("session.updated"),))
        _, update_id = self._updates.popleft()
        if update_id == _START:
            self._ready = True
            return Received((ev.Ready(self.info.input_format, self.info.output_format,
                                      history_lost=self._history_lost),))
        return Received((ev.ConfigApplied(update_id),))

    def _on_error(self, msg: Dict[str, Any], text: str) -> Received:
        error = msg.get("error")
        if type(error) is not dict:
            return Received((ev.Malformed("error: error must be an object", excerpt(text)),))
        event_id = opt_str(error, "event_id", "error.")
        code = opt_str(error, "code", "error.")
        message = opt_str(error, "message", "error.") or code or "unknown provider error"
        for pending in list(self._updates):
            if event_id is not None and pending[0] == event_id:
                self._updates.remove(pending)
                return Received((ev.ConfigRejected(pending[1], message, code),))
        lowered = message.lower()
        kind = None
        if event_id is not None and event_id in self._housekeeping:
            kind = "benign"  # an answer to our own cancel or truncate
        elif code == CANCEL_NOT_ACTIVE or wire.CANCEL_NOT_ACTIVE_MESSAGE in lowered:
            kind = "benign"
        elif code == ACTIVE_RESPONSE or wire.ACTIVE_RESPONSE_MESSAGE in lowered:
            kind = "retry"
        elif self._resume is not None and not self._ready and "conversation" in lowered:
            # the server would not reattach to the conversation: seed the new one instead
            logger.info("grok: the server did not resume the conversation (%s)", message[:200])
            self._history_lost = True
            self._replayed = set()
            kind = "benign"
        if kind is None:
            return self._inner.receive(text)
        return Received((ev.ProviderErrorEvent(message, code, kind, opt_str(error, "type", "error."),
                                               opt_str(error, "param", "error."), event_id),))


def _item_id(msg: Dict[str, Any]) -> Optional[str]:
    """The item a frame is about (``item_id``, or ``item.id``), if it names one."""
    value = msg.get("item_id")
    if type(value) is str:
        return value
    item = msg.get("item")
    if type(item) is dict and type(item.get("id")) is str:
        return item["id"]
    return None
