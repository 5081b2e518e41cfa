"""The OpenAI Realtime (GA) peer: the per-connection protocol state machine of the fake server.

:class:`OpenAIPeer` does no I/O. :meth:`~OpenAIPeer.receive` takes one WebSocket message and
returns the server's answer frames; active responses advance one step at a time through
:meth:`~OpenAIPeer.advance`, which the server's sender thread paces. The server calls it under
the connection lock. The API's facts (error codes, limits, defaults) come from
``adapters/_openai/_wire.py``; unconfirmed details (messages marked U in protocols.md) are here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ...adapters._openai._wire import (
    ACTIVE_RESPONSE,
    CANCEL_NOT_ACTIVE,
    CANNOT_UPDATE_VOICE,
    COMMIT_EMPTY,
    COMMIT_MIN_MS,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    G711_RATE,
    PCM_RATE,
)
from .._audio import alaw_decode, ulaw_decode
from .._peer import Frame, Handled, Step
from .._reply import Reply, split_words
from ._input import InputAudio
from ._items import BAD_AUDIO, Reject, find_item, new_item, transcription_usage, with_audio
from ._response import ResponseRun, bytes_per_ms, default_reply, input_usage
from ._schema import (
    CLIENT_EVENT_FIELDS,
    RESPONSE,
    SESSION,
    SchemaError,
    default_session,
    merge,
    validate,
)

__all__ = ["DEFAULT_INSTRUCTIONS", "OpenAIPeer"]

DEFAULT_INSTRUCTIONS = ("You are a helpful, witty, and friendly AI. Your voice and personality should "
                        "be warm and engaging. Talk quickly and keep answers short.")


class OpenAIPeer:
    """Conversation, input buffer, VAD and responses of one OpenAI connection (a :class:`~.._peer.Peer`).

    Args:
        model: the model named in the URL.
        next_reply: returns the next scripted :class:`Reply`, or None for the default reply.
        next_transcript: returns the next queued user transcript, or None for the default one.
        audio_chunk_ms: audio per ``response.output_audio.delta``.
        rate_limits: send ``rate_limits.updated`` after each ``response.done``.
        instructions, voice: the session defaults reported in ``session.created``.
        speak: ``speak(text, rate)`` int16 speech for reply audio (None: the synthetic voice).
        hear: ``hear(samples, rate)`` the words in a committed user turn (None: not recognised);
            they become its transcript and the default reply repeats them.

    Threads: not thread-safe; the server calls every method under its connection lock.
    """

    def __init__(self, *, model: str = DEFAULT_MODEL, next_reply: Callable[[], Optional[Reply]],
                 next_transcript: Callable[[], Optional[str]], audio_chunk_ms: int = 100,
                 rate_limits: bool = True, instructions: str = DEFAULT_INSTRUCTIONS,
                 voice: str = DEFAULT_VOICE, speak: Optional[Callable[[str, int], Any]] = None,
                 hear: Optional[Callable[[Any, int], Optional[str]]] = None) -> None:
        self.model = model
        self.session: Dict[str, Any] = default_session(model, instructions, voice)
        self.items: List[Dict[str, Any]] = []
        self.runs: List[ResponseRun] = []
        self.outbox: List[Dict[str, Any]] = []
        self.rate_limits = rate_limits
        self.audio_chunk_ms = audio_chunk_ms
        self._next_reply = next_reply
        self._next_transcript = next_transcript
        #: reply speech (read by the response runs); None: the synthetic voice
        self.speak = speak
        self._hear = hear
        self._heard: Dict[str, str] = {}
        self._tag = secrets.token_hex(4)
        self._counter = 0
        self.conversation_id = self.new_id("conv")
        self._audio: Dict[str, bytearray] = {}
        self._audio_bpm: Dict[str, int] = {}
        self.audio_produced = False
        self._input = InputAudio()
        self._speech_item: Optional[str] = None
        self._speech_start_ms = 0.0
        self._prev_input_tokens = 0
        self._sync_vad()

    # -- helpers the response runs use --------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``item_1a2b3c4d000007``."""
        self._counter += 1
        return f"{prefix}_{self._tag}{self._counter:06d}"

    def frame(self, type_: str, **fields: Any) -> Dict[str, Any]:
        """A server event with a fresh ``event_id``."""
        return {"type": type_, "event_id": self.new_id("event"), **fields}

    def insert_item(self, item: Dict[str, Any], position: Optional[int] = None) -> Optional[str]:
        """Add ``item`` to the conversation (at the end by default); return the previous item's id."""
        index = len(self.items) if position is None else position
        self.items.insert(index, item)
        return self.items[index - 1]["id"] if index > 0 else None

    def previous_of(self, item: Dict[str, Any]) -> Optional[str]:
        """Id of the item before ``item`` in the conversation (None at the start)."""
        for i, other in enumerate(self.items):
            if other is item:
                return self.items[i - 1]["id"] if i > 0 else None
        return None

    def store_audio(self, item_id: str, data: bytes, bpm: int, keep: bool) -> None:
        """Remember audio generated for an assistant item (for retrieve and truncate)."""
        if keep:
            self._audio.setdefault(item_id, bytearray()).extend(data)
            self._audio_bpm[item_id] = bpm

    def _emit(self, type_: str, **fields: Any) -> None:
        self.outbox.append(self.frame(type_, **fields))

    def _emit_added_done(self, item: Dict[str, Any], previous: Optional[str]) -> None:
        self._emit("conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item))
        self._emit("conversation.item.done", previous_item_id=previous, item=copy.deepcopy(item))

    def note_audio_produced(self) -> None:
        """Assistant audio exists now, so the voice can no longer change."""
        self.audio_produced = True

    # -- entry points ---------------------------------------------------------------------------

    def open(self) -> List[Frame]:
        """``session.created``: the server speaks first on every OpenAI connection."""
        self._emit("session.created", session=copy.deepcopy(self.session))
        return self.take_outbox()

    def receive(self, message: Union[str, bytes]) -> Handled:
        """Parse and handle one client message; return the answer frames and the parsed event."""
        if isinstance(message, bytes):
            self.error("invalid_value", "Binary frames are not supported; send JSON text frames.")
            return Handled(self.take_outbox())
        try:
            event = json.loads(message)
        except ValueError as exc:
            self.error("invalid_json", f"Invalid JSON in client event: {exc}.")
            return Handled(self.take_outbox())
        self.handle(event)
        return Handled(self.take_outbox(), event=event, record=True)

    def streams(self) -> List[str]:
        """Ids of the responses being streamed."""
        return [run.id for run in self.runs]

    def advance(self, stream_id: str) -> Step:
        """The next step of response ``stream_id``."""
        run = next((r for r in self.runs if r.id == stream_id), None)
        if run is None:
            return Step(self.take_outbox(), 0.0, True)
        frames, pace = self.step(run)
        return Step(frames + self.take_outbox(), pace, run.done)

    def tick(self, now: float) -> Tuple[List[Frame], Optional[float]]:
        """OpenAI has no timed server events: nothing, and no need to call again."""
        return [], None

    def complete_event(self, event: Frame) -> Frame:
        """Give a fault-injected event an ``event_id`` if it has none."""
        if "event_id" not in event:
            event = {**event, "event_id": self.new_id("event")}
        return event

    def error_event(self, code: str, message: str, *, error_type: str = "invalid_request_error",
                    param: Optional[str] = None) -> Frame:
        """An ``error`` event not tied to a client event."""
        return self.frame("error", error={"type": error_type, "code": code, "message": message,
                                          "param": param, "event_id": None})

    def take_outbox(self) -> List[Dict[str, Any]]:
        """Return and forget the frames queued so far."""
        frames, self.outbox = self.outbox, []
        return frames

    @property
    def default_run(self) -> Optional[ResponseRun]:
        """The active response writing to the default conversation, if any."""
        return next((r for r in self.runs if r.in_conversation), None)

    def step(self, run: ResponseRun) -> Tuple[List[Dict[str, Any]], float]:
        """Advance ``run`` by one step; return its frames and the audio milliseconds they carry."""
        frames, pace = run.step()
        if run.done and run in self.runs:
            self.runs.remove(run)
        return frames, pace

    def error(self, code: Optional[str], message: str, *, param: Optional[str] = None,
              event_id: Optional[str] = None, error_type: str = "invalid_request_error") -> None:
        """Queue an ``error`` event."""
        self._emit("error", error={"type": error_type, "code": code, "message": message,
                   "param": param, "event_id": event_id})

    def handle(self, event: Any) -> None:
        """Handle one parsed client event, queueing the replies."""
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str):
            event_id = None
        try:
            if not isinstance(event, dict):
                raise Reject("invalid_type", "Invalid type for event: expected an object.", None)
            kind = event.get("type")
            if not isinstance(kind, str):
                raise Reject("missing_required_parameter", "Missing required parameter: 'type'.", "type")
            if kind not in CLIENT_EVENT_FIELDS:
                supported = ", ".join(f"'{k}'" for k in CLIENT_EVENT_FIELDS)
                raise Reject("invalid_value", f"Invalid value: '{kind}'. Supported values are: {supported}.",
                              "type")
            allowed, required = CLIENT_EVENT_FIELDS[kind]
            for key in event:
                if key not in allowed and key not in ("type", "event_id"):
                    raise Reject("unknown_parameter", f"Unknown parameter: '{key}'.", key)
            for key in required:
                if key not in event:
                    raise Reject("missing_required_parameter", f"Missing required parameter: '{key}'.", key)
            getattr(self, "_on_" + kind.replace(".", "_"))(event, event_id)
        except Reject as exc:
            self.error(exc.code, exc.message, param=exc.param, event_id=event_id, error_type=exc.error_type)
        except SchemaError as exc:
            self.error(exc.code, exc.message, param=exc.param, event_id=event_id)

    # -- session -----------------------------------------------------------------------------

    def _on_session_update(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        payload = event["session"]
        validate(SESSION, payload, "session")
        modalities = payload.get("output_modalities")
        if modalities is not None and len(modalities) != 1:
            raise Reject("invalid_value", f"Invalid modalities: {modalities}. Supported combinations are: "
                          "['text'] and ['audio'].", "session.output_modalities")
        if "model" in payload and payload["model"] != self.session["model"]:
            raise Reject("invalid_value", "Cannot update a session's model.", "session.model")
        voice = ((payload.get("audio") or {}).get("output") or {}).get("voice")
        if voice is not None and voice != self.session["audio"]["output"]["voice"] and self.audio_produced:
            raise Reject(CANNOT_UPDATE_VOICE, "Cannot update a conversation's voice if assistant audio is "
                          "present.", "session.audio.output.voice")
        self.session = merge(SESSION, self.session, payload)
        self._sync_vad()
        self._emit("session.updated", session=copy.deepcopy(self.session))

    # -- input audio buffer and VAD ----------------------------------------------------------------

    def _input_format(self) -> Dict[str, Any]:
        return self.session["audio"]["input"]["format"]

    def _sync_vad(self) -> None:
        if self._input.configure(self._input_format(), self.session["audio"]["input"]["turn_detection"]):
            self._speech_item = None

    def _on_input_audio_buffer_append(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        audio = event["audio"]
        try:
            if not isinstance(audio, str):
                raise ValueError
            data = base64.b64decode(audio, validate=True)
        except (ValueError, binascii.Error):
            raise Reject("invalid_value", BAD_AUDIO, "audio") from None
        for kind, at in self._input.append(data):
            if kind == "start":
                self._speech_started(at)
            elif self._speech_item is not None:
                self._speech_stopped(at)
        if self._speech_item is None:
            self._input.trim_idle()

    def _turn_detection(self) -> Dict[str, Any]:
        return self.session["audio"]["input"]["turn_detection"] or {}

    def _speech_started(self, at_ms: float) -> None:
        td = self._turn_detection()
        start = max(0.0, at_ms - td.get("prefix_padding_ms", 300))
        self._speech_item = self.new_id("item")
        self._speech_start_ms = max(start, self._input.start_ms)
        self._emit("input_audio_buffer.speech_started", audio_start_ms=int(start),
                   item_id=self._speech_item)
        run = self.default_run
        if run is not None and td.get("interrupt_response", True):
            self.outbox.extend(run.cancel("turn_detected"))
            self.runs.remove(run)

    def _speech_stopped(self, at_ms: float) -> None:
        td = self._turn_detection()
        item_id = self._speech_item
        assert item_id is not None
        self._speech_item = None
        self._emit("input_audio_buffer.speech_stopped", audio_end_ms=int(at_ms), item_id=item_id)
        self._input.drop_before(self._speech_start_ms)
        self._commit(item_id, self._input.take_until(at_ms))
        if td.get("create_response", True) and self.default_run is None:
            self._start_response({}, None)

    def _on_input_audio_buffer_commit(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        ms = self._input.buffered_ms
        if ms < COMMIT_MIN_MS:
            raise Reject(COMMIT_EMPTY, "Error committing input audio buffer: buffer too small. Expected "
                          f"at least {COMMIT_MIN_MS}ms of audio, but buffer only has {ms:.2f}ms of audio.")
        item_id = self._speech_item or self.new_id("item")
        self._speech_item = None
        self._commit(item_id, self._input.take_all())

    def _on_input_audio_buffer_clear(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        self._input.clear()
        self._speech_item = None
        self._emit("input_audio_buffer.cleared")

    def _on_output_audio_buffer_clear(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        raise Reject("invalid_value", "output_audio_buffer.clear is only supported for WebRTC and SIP "
                      "connections.", "type")

    def _commit(self, item_id: str, audio: bytes) -> None:
        item: Dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                                "status": "completed",
                                "content": [{"type": "input_audio", "transcript": None}]}
        previous = self.insert_item(item)
        bpm = bytes_per_ms(self._input_format())
        self._audio[item_id] = bytearray(audio)
        self._audio_bpm[item_id] = bpm
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._emit_added_done(item, previous)
        heard = self._recognise(audio)
        if heard:
            self._heard[item_id] = heard
        transcription = self.session["audio"]["input"]["transcription"]
        if transcription is None:
            return
        ms = len(audio) / bpm
        transcript = self._next_transcript()
        if transcript is None:
            transcript = heard
        if transcript is None:
            transcript = f"(voice input of {round(ms)} ms)"
        for piece in split_words(transcript):
            self._emit("conversation.item.input_audio_transcription.delta", item_id=item_id,
                       content_index=0, delta=piece)
        usage = transcription_usage(str(transcription.get("model", "")), ms, transcript)
        item["content"][0]["transcript"] = transcript
        self._emit("conversation.item.input_audio_transcription.completed", item_id=item_id,
                   content_index=0, transcript=transcript, usage=usage)

    def _recognise(self, audio: bytes) -> Optional[str]:
        if self._hear is None or not audio:
            return None
        fmt = self._input_format()
        kind = fmt["type"]
        if kind == "audio/pcmu":
            samples, rate = ulaw_decode(audio), G711_RATE
        elif kind == "audio/pcma":
            samples, rate = alaw_decode(audio), G711_RATE
        else:
            even = len(audio) - len(audio) % 2
            samples, rate = np.frombuffer(audio[:even], dtype="<i2"), PCM_RATE
        return self._hear(samples, rate)

    # -- conversation items ----------------------------------------------------------------------

    def _find(self, item_id: Any) -> Dict[str, Any]:
        return find_item(self.items, item_id)

    def _on_conversation_item_create(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        item, position, audio = new_item(event, self.items, self.new_id)
        if audio:
            self._audio[item["id"]] = bytearray(audio)
            self._audio_bpm[item["id"]] = bytes_per_ms(self._input_format())
        previous = self.insert_item(item, position)
        self._emit_added_done(item, previous)

    def _on_conversation_item_retrieve(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        item = self._find(event["item_id"])
        audio = self._audio.get(item["id"])
        stored = None if audio is None else bytes(audio)
        self._emit("conversation.item.retrieved", item=with_audio(item, stored))

    def _on_conversation_item_delete(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        item = self._find(event["item_id"])
        self.items.remove(item)
        self._audio.pop(item["id"], None)
        self._emit("conversation.item.deleted", item_id=item["id"])

    def _on_conversation_item_truncate(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        item = self._find(event["item_id"])
        index, end_ms = event["content_index"], event["audio_end_ms"]
        for name, value in (("content_index", index), ("audio_end_ms", end_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise Reject("invalid_value", f"Invalid '{name}': expected a non-negative integer.", name)
        if item["type"] != "message" or item.get("role") != "assistant":
            raise Reject("invalid_value", "Only assistant messages can be truncated.", "item_id")
        run = self.default_run
        if run is not None and run.current_item_id == item["id"]:
            # Truncating the item being streamed stops its response first, as a client stop does.
            self.outbox.extend(run.cancel("client_cancelled"))
            self.runs.remove(run)
        content = item["content"]
        if index >= len(content) or content[index].get("type") != "output_audio":
            raise Reject("invalid_value", f"Content index {index} of item '{item['id']}' has no audio to "
                          "truncate.", "content_index")
        bpm = self._audio_bpm.get(item["id"], 48)
        audio = self._audio.setdefault(item["id"], bytearray())
        have_ms = len(audio) / bpm
        if end_ms > have_ms:
            raise Reject("invalid_value", f"Audio content of {int(have_ms)}ms is already shorter than "
                          f"{end_ms}ms", "audio_end_ms")
        del audio[end_ms * bpm:]
        content[index]["transcript"] = ""
        self._emit("conversation.item.truncated", item_id=item["id"], content_index=index,
                   audio_end_ms=end_ms)

    # -- responses ------------------------------------------------------------------------------

    def _on_response_create(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        params = event.get("response") or {}
        validate(RESPONSE, params, "response")
        modalities = params.get("output_modalities")
        if modalities is not None and len(modalities) != 1:
            raise Reject("invalid_value", f"Invalid modalities: {modalities}. Supported combinations are: "
                          "['text'] and ['audio'].", "response.output_modalities")
        metadata = params.get("metadata") or {}
        if any(not isinstance(v, str) for v in metadata.values()) or len(metadata) > 16:
            raise Reject("invalid_value", "Invalid 'response.metadata': expected at most 16 string values.",
                          "response.metadata")
        self._start_response(params, event_id)

    def _start_response(self, params: Dict[str, Any], event_id: Optional[str]) -> None:
        in_conversation = params.get("conversation", "auto") != "none"
        active = self.default_run
        if in_conversation and active is not None:
            raise Reject(ACTIVE_RESPONSE, "Conversation already has an active "
                          f"response in progress: {active.id}. Wait until the response is finished before "
                          "creating a new one.")
        context = self._context(params)
        reply = self._next_reply() or default_reply(context, self._heard)
        if reply.kind == "error":
            raise Reject(reply.code, reply.content, None, reply.error_type)
        output = (params.get("audio") or {}).get("output") or {}
        session_out = self.session["audio"]["output"]
        run = ResponseRun(
            self, reply=reply,
            modality=(params.get("output_modalities") or self.session["output_modalities"])[0],
            voice=output.get("voice", session_out["voice"]),
            fmt=merge(SESSION.fields["audio"].fields["output"].fields["format"], session_out["format"],
                      output.get("format", session_out["format"])),
            max_output_tokens=params.get("max_output_tokens", self.session["max_output_tokens"]),
            conversation_id=self.conversation_id if in_conversation else None,
            metadata=params.get("metadata"), chunk_ms=self.audio_chunk_ms,
            input_usage=self._usage(context, params.get("instructions", self.session["instructions"])))
        self.runs.append(run)
        self.outbox.append(run.created_frame())

    def _context(self, params: Dict[str, Any]) -> List[Dict[str, Any]]:
        if "input" not in params:
            return list(self.items)
        items = []
        for entry in params["input"]:
            if entry.get("type") == "item_reference":
                items.append(self._find(entry.get("id")))
            else:
                items.append(entry)
        return items

    def _usage(self, context: List[Dict[str, Any]], instructions: str) -> Dict[str, Any]:
        usage = input_usage(instructions, self.session["tools"], context, self._audio_ms,
                            self._prev_input_tokens)
        self._prev_input_tokens = usage["text_tokens"] + usage["audio_tokens"] + usage["image_tokens"]
        return usage

    def _audio_ms(self, item_id: str) -> float:
        return len(self._audio.get(item_id, b"")) / self._audio_bpm.get(item_id, 48)

    def _on_response_cancel(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        wanted = event.get("response_id")
        run = next((r for r in self.runs if r.id == wanted), None) if wanted is not None else self.default_run
        if run is None:
            raise Reject(CANCEL_NOT_ACTIVE, "Cancellation failed: no active response found.")
        self.outbox.extend(run.cancel("client_cancelled"))
        self.runs.remove(run)
