"""The Gemini Live protocol session (sans-I/O), one per connection.

The adapter (``_adapter.py``) builds one :class:`GeminiSession` per connection. It sends
``setup`` first and is ready at ``setupComplete``; it turns ``serverContent``/``toolCall``/
``goAway``/``sessionResumptionUpdate`` messages into normalized, turn-shaped events, intents
into ``realtimeInput``/``toolResponse``/``clientContent``/``contextUpdate`` messages, keeps the
newest resumption handle, and classifies close frames (Gemini reports errors only as close
codes). Wire facts: ``_wire.py``; protocols.md §3 and §8.3.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from ... import _events as ev
from ... import _intents as it
from ..._errors import PermissionDeniedError, ProviderError, RealtimeError
from ..._models import ImagePart, RealtimeToken, SessionConfig, TextPart
from ..._provider import CloseAction, ProviderInfo, Received, ResumeState
from ..._types import ConnectionRequest, Frame
from ...audio._format import AudioFormat
from .._common import FrameError, b64decode_strict, b64encode, excerpt, type_name
from . import _wire as wire
from ._frames import decode, get, obj, parse_duration, seq, string, usage_info
from ._setup import CONTEXT_FIELDS, build_setup, context_update, history_turns, image_blob, tool_response

if TYPE_CHECKING:
    from ._adapter import GeminiRealtimeAdapter

__all__ = ["GeminiSession", "parse_duration"]

logger = logging.getLogger("realtime_client")

INPUT_FORMAT = AudioFormat("pcm16", wire.INPUT_RATE)
OUTPUT_FORMAT = AudioFormat("pcm16", wire.OUTPUT_RATE)
_START = "start"


class GeminiSession:
    """One connection's Gemini Live protocol state (sans-I/O; see ``realtime_client._provider``).

    Threads: used under the client's state lock only.
    """

    def __init__(self, adapter: GeminiRealtimeAdapter) -> None:
        self._adapter = adapter
        self._options = adapter.options
        context = adapter.context_update_for(adapter.model)
        self.info = self._info(context)
        self._model = adapter.model or wire.DEFAULT_MODEL
        self._config = SessionConfig()
        self._ready = False
        self._prefix = f"gem{os.urandom(3).hex()}"  # ids unique across connections
        self._turns = 0
        self._turn: Optional[str] = None  # the model turn in progress
        self._item: Optional[str] = None  # its assistant message
        self._interrupted = False
        self._usage: Any = None
        self._user: Optional[str] = None  # the user utterance being transcribed
        self._user_text = ""
        self._user_stopped = False
        self._users = 0
        self._activity_open = False  # manual VAD: activityStart sent, activityEnd not yet
        self._resumed_with: Optional[str] = None
        self._handle: Optional[str] = None
        self._handle_refused = False
        self._seeded = False
        self._go_away = False
        self._unconfirmed: List[str] = []  # contextUpdate ids awaiting a sign of acceptance

    def _info(self, context_update: bool) -> ProviderInfo:
        opts, adapter = self._options, self._adapter
        return ProviderInfo(
            provider="gemini", input_format=INPUT_FORMAT, output_format=OUTPUT_FORMAT,
            can_truncate=False, speech_interrupts=False, live_session_update=context_update,
            transcribes_input=opts.input_transcription, commit_min_ms=0.0, answers_on_request=False,
            images_answered=False,
            ping_interval=adapter.ping_interval,
            ping_timeout=adapter.ping_timeout if adapter.ping_interval else None,
            live_update_fields=CONTEXT_FIELDS if context_update else None,
            update_by_reconnect=True, resume_on_go_away=opts.session_resumption,
            resumable_points=opts.session_resumption)

    # --- connection -----------------------------------------------------------------------

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest:
        """URL and headers for a new connection.

        A token starting ``auth_tokens/`` is ephemeral: ``Authorization: Token <token>`` on
        ``v1alpha``'s ``BidiGenerateContentConstrained``; any other token is an API key, sent as
        ``x-goog-api-key`` on ``BidiGenerateContent`` (``api_version``, default ``v1beta``). An
        explicit ``url=`` with a path is used as given; one without a path gets the standard
        path. The credential never goes into the URL.

        Raises:
            ValueError: the token is empty or has characters not allowed in an HTTP header
                (the message never contains the token).
        """
        secret = token.token
        if not secret or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in secret):
            raise ValueError("the token is empty or contains characters not allowed in an HTTP header")
        self._model = self._adapter.model or config.model or token.config.model or wire.DEFAULT_MODEL
        context = self._adapter.context_update_for(self._model)
        if context != self.info.live_session_update:
            self.info = self._info(context)
        ephemeral = secret.startswith(wire.EPHEMERAL_PREFIX)
        url = self._adapter.endpoint(ephemeral)
        headers = {"Authorization": f"Token {secret}"} if ephemeral else {"x-goog-api-key": secret}
        return ConnectionRequest(url=url, headers=headers)

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]:
        """The ``setup`` message: sent first; nothing else goes out before ``setupComplete``."""
        self._config = config
        handle = resume.handle if resume is not None and self._options.session_resumption else None
        self._resumed_with = handle
        self._handle = handle
        self._seeded = bool(resume is not None and resume.replay and handle is None)
        setup = build_setup(config, self._options, self._model, handle=handle, seed_history=self._seeded)
        return [{"setup": setup}]

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction:
        """1000 is clean; drops and 1011 (the connection cap after ``goAway``, internal errors)
        resume; 1007 (invalid argument, a refused resume handle) is a provider error; 1008
        (credentials refused, policy) is permission denied."""
        if code == 1000:
            return CloseAction("clean")
        if code == wire.CLOSE_INVALID_ARGUMENT and "api key" in reason.lower():
            return CloseAction("error", error=PermissionDeniedError(
                f"Gemini refused the API key (code 1007: {reason})", provider="gemini",
                details={"close_code": code, "close_reason": reason}))
        if code == wire.CLOSE_INVALID_ARGUMENT:
            if self._resumed_with is not None and not self._ready:
                self._handle_refused = True
            what = ("the session resumption handle was refused" if self._handle_refused
                    else "a request contained an invalid argument")
            return CloseAction("error", error=ProviderError(
                f"Gemini closed the session: {what} (code 1007{': ' + reason if reason else ''})",
                provider="gemini", details={"close_code": code, "close_reason": reason}))
        if code == wire.CLOSE_POLICY and "not found" in reason.lower():
            return CloseAction("error", error=ProviderError(
                f"Gemini does not serve the requested model (code 1008: {reason})", provider="gemini",
                details={"close_code": code, "close_reason": reason}))
        if code == wire.CLOSE_POLICY:
            return CloseAction("error", error=PermissionDeniedError(
                "Gemini refused the session: credentials or policy "
                f"(code 1008{': ' + reason if reason else ''})",
                provider="gemini", details={"close_code": code, "close_reason": reason}))
        if code in wire.RECONNECT_CLOSE_CODES:
            return CloseAction("reconnect", go_away=self._go_away, error=error)
        return CloseAction("error", error=error)

    def resume_state(self) -> ResumeState:
        """The newest resumable handle (no replay needed), else a fresh session seeded with the
        history: also after this connection's resume was refused."""
        if self._options.session_resumption and self._handle and not self._handle_refused:
            return ResumeState(replay=False, handle=self._handle)
        return ResumeState(replay=True)

    # --- intents -> frames -------------------------------------------------------------------

    def send(self, intent: it.Intent) -> List[Frame]:
        """The frames for ``intent``; ``[]`` where Gemini has no such thing (response requests,
        cancels and truncation: the server starts answers itself and models playback)."""
        if isinstance(intent, it.AppendAudio):
            frames = self._open_activity()
            frames.append({"realtimeInput": {"audio": {"data": b64encode(intent.audio),
                                                       "mimeType": wire.INPUT_MIME}}})
            return frames
        if isinstance(intent, it.UserMessage):
            return self._user_message(intent)
        if isinstance(intent, (it.CommitAudio, it.ClearAudio)):
            return self._close_activity()
        if isinstance(intent, (it.RequestResponse, it.Interrupt)):
            return []
        if isinstance(intent, it.ToolResult):
            return [{"toolResponse": {"functionResponses": [
                tool_response(intent.call_id, intent.name, intent.output, intent.is_error)]}}]
        if isinstance(intent, it.UpdateSession):
            return self._update(intent)
        if isinstance(intent, it.Replay):
            turns = history_turns(intent.messages)
            content: Dict[str, Any] = {"turnComplete": True}
            if turns:
                content = {"turns": turns, "turnComplete": True}
            return [{"clientContent": content}]
        raise TypeError(f"unknown intent {type(intent).__name__}")

    def _open_activity(self) -> List[Frame]:
        if self._config.vad_mode != "manual" or self._activity_open:
            return []
        self._activity_open = True
        return [{"realtimeInput": {"activityStart": {}}}]

    def _close_activity(self) -> List[Frame]:
        if not self._activity_open:
            return []
        self._activity_open = False
        return [{"realtimeInput": {"activityEnd": {}}}]

    def _user_message(self, intent: it.UserMessage) -> List[Frame]:
        frames: List[Frame] = []
        for part in intent.parts:
            if isinstance(part, ImagePart):
                frames.append({"realtimeInput": {"video": image_blob(part)}})
            elif isinstance(part, TextPart) and part.content:
                frames.append({"realtimeInput": {"text": part.content}})
        if not frames:
            raise ValueError("a user message needs at least one text or image part")
        return frames

    def _update(self, intent: it.UpdateSession) -> List[Frame]:
        changed = {f for f in CONTEXT_FIELDS
                   if getattr(intent.config, f) != getattr(intent.previous, f)}
        self._config = intent.config
        if not changed:
            return []
        self._unconfirmed.append(intent.update_id)
        return [{"contextUpdate": context_update(intent.config, changed)}]

    # --- frames -> events ------------------------------------------------------------------

    def receive(self, frame: Union[str, bytes]) -> Received:
        """Normalized events for one received message; never raises.

        Binary frames are UTF-8 JSON like text frames. A message that is not a JSON object, or
        whose fields have the wrong types, becomes ``Malformed``; keys this session does not
        know become ``UnknownEvent``. Every key of every message is processed (3.1 puts audio
        and transcriptions in one ``serverContent``).
        """
        decoded = decode(frame)
        if isinstance(decoded, ev.Malformed):
            return Received((decoded,))
        msg, text = decoded
        events: List[ev.Event] = [ev.ConfigApplied(u) for u in self._unconfirmed]
        self._unconfirmed = []  # a message after a contextUpdate: the connection took it
        try:
            events.extend(self._events(msg))
        except FrameError as exc:
            events.append(ev.Malformed(str(exc), excerpt(text)))
        except Exception as exc:  # a bug here must not kill the reader thread
            logger.warning("gemini_realtime: internal error parsing a message", exc_info=True)
            events.append(ev.Malformed(f"internal adapter error ({type(exc).__name__})", excerpt(text)))
        return Received(events)

    def _events(self, msg: Dict[str, Any]) -> List[ev.Event]:
        out: List[ev.Event] = []
        known = False
        if get(msg, "setupComplete") is not None:
            known = True
            out += self._on_setup_complete(obj(msg, "setupComplete") or {})
        content = obj(msg, "serverContent")
        usage = get(msg, "usageMetadata")
        if usage is not None:
            known = True
            if type(usage) is dict:
                self._usage = usage
        if content is not None:
            known = True
            out += self._on_content(content)
        call = obj(msg, "toolCall")
        if call is not None:
            known = True
            out += self._on_tool_call(call)
        cancelled = obj(msg, "toolCallCancellation")
        if cancelled is not None:
            known = True
            ids = [i for i in seq(cancelled, "ids") if type(i) is str]
            out.append(ev.ToolCallCancelled(tuple(ids)))
        go_away = obj(msg, "goAway")
        if go_away is not None:
            known = True
            self._go_away = True
            left = get(go_away, "timeLeft")
            out.append(ev.GoAway(0.0 if left is None else parse_duration(left)))
        update = obj(msg, "sessionResumptionUpdate")
        if update is not None:
            known = True
            out += self._on_resumption(update)
        activity = obj(msg, "voiceActivity")
        if activity is not None:
            known = True
            out += self._on_voice_activity(string(activity, "voiceActivityType"))
        if get(msg, "voiceActivityDetectionSignal") is not None:
            known = True
            out.append(ev.Ignored("voiceActivityDetectionSignal"))
        if self._turn is None:
            self._usage = None  # usage after its turn ended (or before one began): skipped
        if not known:
            keys = [k for k in msg if isinstance(k, str)]
            out.append(ev.UnknownEvent(keys[0][:100] if keys else "(empty message)"))
        elif not out:
            out.append(ev.Ignored("usageMetadata"))
        return out

    def _on_setup_complete(self, body: Dict[str, Any]) -> List[ev.Event]:
        if self._ready:
            return [ev.Ignored("setupComplete")]
        self._ready = True
        return [ev.Ready(INPUT_FORMAT, OUTPUT_FORMAT, string(body, "sessionId"))]

    def _on_resumption(self, update: Dict[str, Any]) -> List[ev.Event]:
        handle = string(update, "newHandle")
        resumable = get(update, "resumable")
        if resumable is True and handle:
            self._handle = handle
            self._handle_refused = False
            return [ev.ResumptionUpdate(handle)]
        return [ev.Ignored("sessionResumptionUpdate")]

    def _on_voice_activity(self, kind: Optional[str]) -> List[ev.Event]:
        if kind == "ACTIVITY_START":
            return self._user_speaking()
        if kind == "ACTIVITY_END" and self._user is not None and not self._user_stopped:
            self._user_stopped = True
            return [ev.SpeechStopped(self._user)]
        return [ev.Ignored("voiceActivity")]

    # --- the user's utterance: Gemini sends transcript fragments, no speech events ------------

    def _user_speaking(self) -> List[ev.Event]:
        if self._user is not None:
            return []
        self._users += 1
        self._user = f"{self._prefix}_user{self._users}"
        self._user_text, self._user_stopped = "", False
        return [ev.SpeechStarted(self._user)]

    def _user_fragment(self, body: Dict[str, Any]) -> List[ev.Event]:
        text = string(body, "text") or ""
        finished = get(body, "finished") is True
        out: List[ev.Event] = []
        if text:
            out += self._user_speaking()
            self._user_text += text
            out.append(ev.UserTranscript(self._user, text, False))
        if finished:
            out += self._user_done()
        return out

    def _user_done(self) -> List[ev.Event]:
        """The utterance is over: place it and give its transcript."""
        item = self._user
        if item is None:
            return []
        out: List[ev.Event] = []
        if not self._user_stopped:
            out.append(ev.SpeechStopped(item))
        self._user = None
        out.append(ev.UserAudioCommitted(item))
        out.append(ev.UserTranscript(item, self._user_text.strip(), True))
        self._user_text = ""
        return out

    def _user_stops(self) -> List[ev.Event]:
        """The model began answering: whatever the user said so far is the question."""
        if self._user is None or self._user_stopped:
            return []
        self._user_stopped = True
        return [ev.SpeechStopped(self._user)]

    # --- the model's turn ----------------------------------------------------------------------

    def _ensure_turn(self) -> List[ev.Event]:
        if self._turn is not None:
            return []
        self._turns += 1
        self._turn = f"{self._prefix}_turn{self._turns}"
        self._item = f"{self._prefix}_item{self._turns}"
        self._interrupted = False
        out: List[ev.Event] = self._user_stops()
        out += [ev.TurnStarted(self._turn), ev.OutputStarted(self._turn, self._item, "message")]
        return out

    def _on_content(self, content: Dict[str, Any]) -> List[ev.Event]:
        out: List[ev.Event] = []
        user = obj(content, "inputTranscription")
        if user is not None:
            out += self._user_fragment(user)
        model_turn = obj(content, "modelTurn")
        if model_turn is not None:
            for part in seq(model_turn, "parts"):
                if type(part) is not dict:
                    raise FrameError(f"modelTurn.parts[] must be objects, got {type_name(part)}")
                out += self._on_part(part)
        spoken = obj(content, "outputTranscription")
        if spoken is not None:
            text = string(spoken, "text") or ""
            if text:
                out += self._ensure_turn()
                out.append(ev.AssistantTranscript(self._turn, self._item, text, False, "audio"))
        if get(content, "interrupted") is True:
            self._interrupted = True
            out.append(ev.Interrupted(self._turn))
        if get(content, "turnComplete") is True:
            out += self._turn_complete(string(content, "turnCompleteReason"))
        return out

    def _on_part(self, part: Dict[str, Any]) -> List[ev.Event]:
        blob = obj(part, "inlineData")
        if blob is not None:
            mime = (string(blob, "mimeType") or "").lower()
            data = get(blob, "data")
            if not mime.startswith("audio/"):
                return [ev.Ignored("inlineData")]
            if type(data) is not str:
                raise FrameError(f"inlineData.data must be a base64 string, got {type_name(data)}")
            try:  # proto JSON bytes may be standard or URL-safe base64
                audio = b64decode_strict(data.replace("-", "+").replace("_", "/"))
            except ValueError:
                raise FrameError("inlineData.data is not valid base64") from None
            out = self._ensure_turn()
            assert self._item is not None
            out.append(ev.AudioChunk(self._turn, self._item, audio))
            return out
        text = string(part, "text")
        if text and get(part, "thought") is not True:
            out = self._ensure_turn()
            out.append(ev.AssistantTranscript(self._turn, self._item, text, False, "text"))
            return out
        return []

    def _on_tool_call(self, call: Dict[str, Any]) -> List[ev.Event]:
        out = self._ensure_turn()
        turn = self._turn
        for fc in seq(call, "functionCalls"):
            if type(fc) is not dict:
                raise FrameError(f"functionCalls[] must be objects, got {type_name(fc)}")
            call_id, name = string(fc, "id"), string(fc, "name")
            if not call_id or not name:
                # a toolResponse without the call's id is refused on the Developer API
                raise FrameError("a function call needs both an id and a name")
            args = get(fc, "args")
            if args is not None and type(args) is not dict:
                raise FrameError(f"functionCalls[].args must be an object, got {type_name(args)}")
            out.append(ev.ToolCall(turn, call_id, name, json.dumps(args or {}), self._item))
        # The model waits for the responses, then goes on: the rest is a new turn, as with
        # providers that answer a tool result with a new response.
        out += self._end_turn("completed", None)
        return out

    def _turn_complete(self, reason: Optional[str]) -> List[ev.Event]:
        out: List[ev.Event] = []
        if not self._interrupted:
            out += self._user_done()  # a transcript that never said finished
        if self._turn is None:
            return out  # a tool turn already ended, or nothing was said
        # turnCompleteReason names refusals and safety stops; none of them is a length cut-off
        out += self._end_turn("interrupted" if self._interrupted else "completed", reason)
        return out

    def _end_turn(self, outcome: str, reason: Optional[str]) -> List[ev.Event]:
        turn, item = self._turn, self._item
        if turn is None:
            return []
        usage = usage_info(self._usage, turn)
        self._usage = None
        self._turn = self._item = None
        self._interrupted = False
        return [ev.TurnEnded(turn, outcome, usage, (item,) if item else (), reason=reason)]
