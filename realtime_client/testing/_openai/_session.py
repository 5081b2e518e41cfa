"""The per-connection protocol state machine of the fake OpenAI Realtime (GA) server.

:class:`ProtocolSession` does no I/O: :meth:`~ProtocolSession.handle` takes one parsed client
event and appends the server's reply frames to :attr:`~ProtocolSession.outbox`; active responses
advance one step at a time through :meth:`~ProtocolSession.step`. The server wraps it in a lock.
Unconfirmed details of the real API (error codes and messages marked U in protocols.md) are kept
in the module constants below.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import secrets
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ._audio import EnergyVAD, alaw_decode, ulaw_decode
from ._response import Reply, ResponseRun, _words, bytes_per_ms, default_reply, input_usage, text_tokens
from ._schema import (
    CLIENT_EVENT_FIELDS,
    ITEM,
    RESPONSE,
    SESSION,
    SchemaError,
    default_session,
    merge,
    validate,
)

__all__ = ["DEFAULT_INSTRUCTIONS", "ProtocolSession"]

DEFAULT_INSTRUCTIONS = ("You are a helpful, witty, and friendly AI. Your voice and personality should "
                        "be warm and engaging. Talk quickly and keep answers short.")
MIN_COMMIT_MS = 100.0
_BAD_AUDIO = "Invalid 'audio'. Expected base64-encoded audio bytes."
#: silence windows used for semantic_vad, by eagerness (U: the real model decides semantically)
SEMANTIC_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}
#: audio kept in the input buffer before speech starts, in server-VAD mode
MAX_IDLE_BUFFER_MS = 10_000.0


class _Reject(Exception):
    """Abort handling a client event with an ``error`` frame."""

    def __init__(self, code: Optional[str], message: str, param: Optional[str] = None,
                 error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.error_type = code, message, param, error_type


class ProtocolSession:
    """Conversation, input buffer, VAD and responses of one connection.

    Args:
        model: the model named in the URL.
        next_reply: returns the next scripted :class:`Reply`, or None for the default reply.
        next_transcript: returns the next queued user transcript, or None for the default one.
        audio_chunk_ms: audio per ``response.output_audio.delta``.
        rate_limits: send ``rate_limits.updated`` after each ``response.done``.

    Threads: not thread-safe; the server calls every method under its connection lock.
    """

    def __init__(self, *, model: str, next_reply: Callable[[], Optional[Reply]],
                 next_transcript: Callable[[], Optional[str]], audio_chunk_ms: int = 100,
                 rate_limits: bool = True, instructions: str = DEFAULT_INSTRUCTIONS,
                 voice: str = "marin") -> None:
        self.session: Dict[str, Any] = default_session(model, instructions, voice)
        self.items: List[Dict[str, Any]] = []
        self.runs: List[ResponseRun] = []
        self.outbox: List[Dict[str, Any]] = []
        self.rate_limits = rate_limits
        self.audio_chunk_ms = audio_chunk_ms
        self._next_reply = next_reply
        self._next_transcript = next_transcript
        self._tag = secrets.token_hex(4)
        self._counter = 0
        self.conversation_id = self.new_id("conv")
        self._audio: Dict[str, bytearray] = {}
        self._audio_bpm: Dict[str, int] = {}
        self.audio_produced = False
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._input_ms = 0.0
        self._carry = b""
        self._vad: Optional[EnergyVAD] = None
        self._vad_key: Any = None
        self._vad_base_ms = 0.0
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

    def open(self) -> None:
        """Queue ``session.created`` (the first event of every connection)."""
        self._emit("session.created", session=copy.deepcopy(self.session))

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
                raise _Reject("invalid_type", "Invalid type for event: expected an object.", None)
            kind = event.get("type")
            if not isinstance(kind, str):
                raise _Reject("missing_required_parameter", "Missing required parameter: 'type'.", "type")
            if kind not in CLIENT_EVENT_FIELDS:
                supported = ", ".join(f"'{k}'" for k in CLIENT_EVENT_FIELDS)
                raise _Reject("invalid_value", f"Invalid value: '{kind}'. Supported values are: {supported}.",
                              "type")
            allowed, required = CLIENT_EVENT_FIELDS[kind]
            for key in event:
                if key not in allowed and key not in ("type", "event_id"):
                    raise _Reject("unknown_parameter", f"Unknown parameter: '{key}'.", key)
            for key in required:
                if key not in event:
                    raise _Reject("missing_required_parameter", f"Missing required parameter: '{key}'.", key)
            getattr(self, "_on_" + kind.replace(".", "_"))(event, event_id)
        except _Reject as exc:
            self.error(exc.code, exc.message, param=exc.param, event_id=event_id, error_type=exc.error_type)
        except SchemaError as exc:
            self.error(exc.code, exc.message, param=exc.param, event_id=event_id)

    # -- session -----------------------------------------------------------------------------

    def _on_session_update(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        payload = event["session"]
        validate(SESSION, payload, "session")
        modalities = payload.get("output_modalities")
        if modalities is not None and len(modalities) != 1:
            raise _Reject("invalid_value", f"Invalid modalities: {modalities}. Supported combinations are: "
                          "['text'] and ['audio'].", "session.output_modalities")
        if "model" in payload and payload["model"] != self.session["model"]:
            raise _Reject("invalid_value", "Cannot update a session's model.", "session.model")
        voice = ((payload.get("audio") or {}).get("output") or {}).get("voice")
        if voice is not None and voice != self.session["audio"]["output"]["voice"] and self.audio_produced:
            raise _Reject("cannot_update_voice", "Cannot update a conversation's voice if assistant audio is "
                          "present.", "session.audio.output.voice")
        self.session = merge(SESSION, self.session, payload)
        self._sync_vad()
        self._emit("session.updated", session=copy.deepcopy(self.session))

    # -- input audio buffer and VAD ----------------------------------------------------------------

    def _input_format(self) -> Dict[str, Any]:
        return self.session["audio"]["input"]["format"]

    def _sync_vad(self) -> None:
        td = self.session["audio"]["input"]["turn_detection"]
        fmt = self._input_format()["type"]
        if td is None:
            key = None
        elif td["type"] == "semantic_vad":
            key = (fmt, 0.5, SEMANTIC_SILENCE_MS.get(td.get("eagerness") or "auto", 700))
        else:
            key = (fmt, td.get("threshold", 0.5), td.get("silence_duration_ms", 500))
        if key == self._vad_key:
            return
        self._vad_key = key
        self._vad = None if key is None else EnergyVAD(8000 if fmt != "audio/pcm" else 24000, key[1], key[2])
        self._vad_base_ms = self._input_ms
        self._speech_item = None

    def _decode_input(self, data: bytes) -> np.ndarray:
        fmt = self._input_format()["type"]
        if fmt == "audio/pcmu":
            return ulaw_decode(data)
        if fmt == "audio/pcma":
            return alaw_decode(data)
        data = self._carry + data
        even = len(data) - len(data) % 2
        self._carry = data[even:]
        return np.frombuffer(data[:even], dtype="<i2")

    def _on_input_audio_buffer_append(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        audio = event["audio"]
        try:
            if not isinstance(audio, str):
                raise ValueError
            data = base64.b64decode(audio, validate=True)
        except (ValueError, binascii.Error):
            raise _Reject("invalid_value", _BAD_AUDIO, "audio") from None
        bpm = bytes_per_ms(self._input_format())
        self._buffer.extend(data)
        self._input_ms += len(data) / bpm
        if self._vad is None:
            return
        for kind, ms in self._vad.feed(self._decode_input(data)):
            at = self._vad_base_ms + ms
            if kind == "start":
                self._speech_started(at)
            elif self._speech_item is not None:
                self._speech_stopped(at)
        if self._speech_item is None and self._input_ms - self._buffer_start_ms > MAX_IDLE_BUFFER_MS:
            self._drop_buffer_before(self._input_ms - MAX_IDLE_BUFFER_MS / 2)

    def _drop_buffer_before(self, ms: float) -> None:
        bpm = bytes_per_ms(self._input_format())
        cut = int((ms - self._buffer_start_ms) * bpm)
        cut -= cut % 2 if bpm == 48 else 0
        if cut > 0:
            del self._buffer[:cut]
            self._buffer_start_ms += cut / bpm

    def _turn_detection(self) -> Dict[str, Any]:
        return self.session["audio"]["input"]["turn_detection"] or {}

    def _speech_started(self, at_ms: float) -> None:
        td = self._turn_detection()
        start = max(0.0, at_ms - td.get("prefix_padding_ms", 300))
        self._speech_item = self.new_id("item")
        self._speech_start_ms = max(start, self._buffer_start_ms)
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
        self._drop_buffer_before(self._speech_start_ms)
        bpm = bytes_per_ms(self._input_format())
        end = int((at_ms - self._buffer_start_ms) * bpm)
        end -= end % 2 if bpm == 48 else 0
        audio = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._buffer_start_ms += end / bpm
        self._commit(item_id, audio)
        if td.get("create_response", True) and self.default_run is None:
            self._start_response({}, None)

    def _on_input_audio_buffer_commit(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        ms = len(self._buffer) / bytes_per_ms(self._input_format())
        if ms < MIN_COMMIT_MS:
            raise _Reject("input_audio_buffer_commit_empty", "Error committing input audio buffer: buffer "
                          f"too small. Expected at least 100ms of audio, but buffer only has {ms:.2f}ms of "
                          "audio.")
        item_id = self._speech_item or self.new_id("item")
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        audio = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms
        self._commit(item_id, audio)

    def _on_input_audio_buffer_clear(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        self._emit("input_audio_buffer.cleared")

    def _on_output_audio_buffer_clear(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        raise _Reject("invalid_value", "output_audio_buffer.clear is only supported for WebRTC and SIP "
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
        transcription = self.session["audio"]["input"]["transcription"]
        if transcription is None:
            return
        ms = len(audio) / bpm
        transcript = self._next_transcript()
        if transcript is None:
            transcript = f"(voice input of {round(ms)} ms)"
        for piece in _words(transcript):
            self._emit("conversation.item.input_audio_transcription.delta", item_id=item_id,
                       content_index=0, delta=piece)
        if str(transcription.get("model", "")).startswith("whisper"):
            usage: Dict[str, Any] = {"type": "duration", "seconds": round(ms / 1000.0, 3)}
        else:
            audio_tokens = math.ceil(ms / 100.0)
            out_tokens = text_tokens(transcript)
            usage = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": out_tokens,
                     "total_tokens": audio_tokens + out_tokens,
                     "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0}}
        item["content"][0]["transcript"] = transcript
        self._emit("conversation.item.input_audio_transcription.completed", item_id=item_id,
                   content_index=0, transcript=transcript, usage=usage)

    # -- conversation items ----------------------------------------------------------------------

    def _find(self, item_id: Any) -> Dict[str, Any]:
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise _Reject("item_not_found", f"Item with item_id '{item_id}' not found.", "item_id")

    def _on_conversation_item_create(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        raw = event["item"]
        if isinstance(raw, dict) and "type" not in raw and "role" in raw:
            raw = {"type": "message", **raw}
        validate(ITEM, raw, "item")
        allowed = {"user": ("input_text", "input_audio", "input_image"), "system": ("input_text",),
                   "assistant": ("output_text",)}
        if raw["type"] == "message":
            for i, part in enumerate(raw["content"]):
                if part["type"] not in allowed[raw["role"]]:
                    raise _Reject("invalid_value", f"Invalid value: '{part['type']}'. Supported values for "
                                  f"{raw['role']} messages are: {', '.join(allowed[raw['role']])}.",
                                  f"item.content[{i}].type")
        item_id = raw.get("id") or self.new_id("item")
        if any(i["id"] == item_id for i in self.items):
            raise _Reject("duplicate_item_id", f"Item with id '{item_id}' already exists.", "item.id")
        position = None
        if "previous_item_id" in event and event["previous_item_id"] is not None:
            prev = event["previous_item_id"]
            if prev == "root":
                position = 0
            else:
                try:
                    position = self.items.index(self._find(prev)) + 1
                except _Reject:
                    raise _Reject("item_not_found", f"Previous item with item_id '{prev}' not found.",
                                  "previous_item_id") from None
        item: Dict[str, Any] = {**copy.deepcopy(raw), "id": item_id, "object": "realtime.item",
                                "status": "completed"}
        audio = bytearray()
        if item["type"] == "message":
            for part in item["content"]:
                if part["type"] == "input_audio":
                    try:
                        audio.extend(base64.b64decode(part.pop("audio", "") or "", validate=True))
                    except (ValueError, binascii.Error):
                        raise _Reject("invalid_value", _BAD_AUDIO,
                                      "item.content.audio") from None
                    part.setdefault("transcript", None)
        if audio:
            self._audio[item_id] = audio
            self._audio_bpm[item_id] = bytes_per_ms(self._input_format())
        previous = self.insert_item(item, position)
        self._emit_added_done(item, previous)

    def _on_conversation_item_retrieve(self, event: Dict[str, Any], event_id: Optional[str]) -> None:
        item = copy.deepcopy(self._find(event["item_id"]))
        audio = self._audio.get(item["id"])
        if audio is not None and item["type"] == "message":
            for part in item["content"]:
                if part["type"] in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(bytes(audio)).decode()
        self._emit("conversation.item.retrieved", item=item)

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
                raise _Reject("invalid_value", f"Invalid '{name}': expected a non-negative integer.", name)
        if item["type"] != "message" or item.get("role") != "assistant":
            raise _Reject("invalid_value", "Only assistant messages can be truncated.", "item_id")
        run = self.default_run
        if run is not None and run.current_item_id == item["id"]:
            # Truncating the item being streamed stops its response first, as a client stop does.
            self.outbox.extend(run.cancel("client_cancelled"))
            self.runs.remove(run)
        content = item["content"]
        if index >= len(content) or content[index].get("type") != "output_audio":
            raise _Reject("invalid_value", f"Content index {index} of item '{item['id']}' has no audio to "
                          "truncate.", "content_index")
        bpm = self._audio_bpm.get(item["id"], 48)
        audio = self._audio.setdefault(item["id"], bytearray())
        have_ms = len(audio) / bpm
        if end_ms > have_ms:
            raise _Reject("invalid_value", f"Audio content of {int(have_ms)}ms is already shorter than "
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
            raise _Reject("invalid_value", f"Invalid modalities: {modalities}. Supported combinations are: "
                          "['text'] and ['audio'].", "response.output_modalities")
        metadata = params.get("metadata") or {}
        if any(not isinstance(v, str) for v in metadata.values()) or len(metadata) > 16:
            raise _Reject("invalid_value", "Invalid 'response.metadata': expected at most 16 string values.",
                          "response.metadata")
        self._start_response(params, event_id)

    def _start_response(self, params: Dict[str, Any], event_id: Optional[str]) -> None:
        in_conversation = params.get("conversation", "auto") != "none"
        active = self.default_run
        if in_conversation and active is not None:
            raise _Reject("conversation_already_has_active_response", "Conversation already has an active "
                          f"response in progress: {active.id}. Wait until the response is finished before "
                          "creating a new one.")
        context = self._context(params)
        reply = self._next_reply() or default_reply(context)
        if reply.kind == "error":
            raise _Reject(reply.code, reply.content, None, reply.error_type)
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
            raise _Reject("response_cancel_not_active", "Cancellation failed: no active response found.")
        self.outbox.extend(run.cancel("client_cancelled"))
        self.runs.remove(run)
