"""The xAI Grok peer: xAI's dialect on top of the OpenAI GA peer (composition, sans I/O).

:class:`GrokPeer` keeps the xAI session (validated against ``_schema.SESSION``) and drives an
:class:`~.._openai.OpenAIPeer` with the GA session it implies, so conversation items, the VAD,
responses, cancel and truncate are the OpenAI peer's. At the edge it speaks xAI:

* ``conversation.created`` and ``session.created`` open every connection (order is a knob);
* PCM at any of xAI's rates is resampled to and from the 24 kHz the OpenAI peer runs at;
* text deltas go out under both spellings (``response.text.*`` and ``response.output_text.*``),
  interim user transcripts as cumulative ``...input_audio_transcription.updated`` (with
  ``grok-transcribe``), ``response.done`` also carries ``usage`` at its top, race errors carry
  only a message, ``ping`` arrives every ``ping_interval`` seconds, and there is no
  ``rate_limits.updated``;
* resumption: a connection with ``?conversation_id=`` of a kept conversation continues it and
  replays its items as ``conversation.item.added``/``.done``; an expired one starts anew.

Threads: not thread-safe; the server calls every method under the connection lock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import attrs
import numpy as np

from ...adapters._openai._wire import ACTIVE_RESPONSE, CANCEL_NOT_ACTIVE
from .._openai import OpenAIPeer
from .._openai._schema import SchemaError, merge, validate
from .._peer import Frame, Handled, Step
from ._schema import SESSION, ga_session

__all__ = ["ConversationStore", "GrokPeer", "GrokPeerOptions"]

_CHOICES = {
    "created_order": ("conversation_first", "session_first"),
    "text_spellings": ("both", "text", "output_text"),
    "truncate": ("answer", "silent", "error"),
    "race_errors": ("xai", "openai"),
    "modality": ("audio", "text"),
    "replay_at": ("update", "open"),
    "expired": ("new", "error"),
    "secret_shape": ("top-level", "client_secret", "milliseconds"),
}


def _choice(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {_CHOICES[name]}, got {value!r}")
    return check


def _positive_or_none(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise ValueError(f"{attribute.name} must be a positive number or None, got {value!r}")


@attrs.frozen
class GrokPeerOptions:
    """How the fake xAI server behaves where xAI's behaviour is unconfirmed or varies.

    Attributes:
        created_order: which of ``conversation.created``/``session.created`` comes first.
        text_spellings: text deltas as ``"both"`` spellings, or only ``"text"``/``"output_text"``.
        truncate: ``"answer"`` (``conversation.item.truncated``), ``"silent"`` (no answer) or
            ``"error"`` (an error event).
        race_errors: ``"xai"`` (message only, no OpenAI code) or ``"openai"`` codes.
        usage_top_level: ``response.done`` repeats ``usage`` at its top level.
        ping_interval: seconds between ``ping`` events (None: no pings).
        modality: the server answers in ``"audio"`` (with a transcript) or ``"text"``.
        replay_at: a resumed conversation's items are replayed right ``"open"`` or after the
            ``session.update`` that re-enables resumption (``"update"``).
        resumption_ttl: seconds a conversation is kept after it goes idle (30 minutes).
        expired: resuming an expired conversation starts a ``"new"`` one, or sends an
            ``"error"`` first.
        secret_shape: the client_secrets reply: ``"top-level"`` ``{value, expires_at}``,
            ``"client_secret"`` (nested) or ``"milliseconds"`` (expires_at in ms).
    """

    created_order: str = attrs.field(default="conversation_first", validator=_choice("created_order"))
    text_spellings: str = attrs.field(default="both", validator=_choice("text_spellings"))
    truncate: str = attrs.field(default="answer", validator=_choice("truncate"))
    race_errors: str = attrs.field(default="xai", validator=_choice("race_errors"))
    usage_top_level: bool = True
    ping_interval: Optional[float] = attrs.field(default=10.0, validator=_positive_or_none)
    modality: str = attrs.field(default="audio", validator=_choice("modality"))
    replay_at: str = attrs.field(default="update", validator=_choice("replay_at"))
    resumption_ttl: float = attrs.field(default=1800.0, validator=_positive_or_none)
    expired: str = attrs.field(default="new", validator=_choice("expired"))
    secret_shape: str = attrs.field(default="top-level", validator=_choice("secret_shape"))


class ConversationStore:
    """Conversations kept for resumption, by id: their items and when they were last active.

    Threads: any thread (one lock-free dict; the server serialises each connection's calls and a
    resumed conversation belongs to one live connection at a time).
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._kept: Dict[str, Tuple[List[Dict[str, Any]], float]] = {}

    def keep(self, conversation_id: str, items: List[Dict[str, Any]]) -> None:
        self._kept[conversation_id] = (items, time.monotonic())

    def touch(self, conversation_id: str) -> None:
        entry = self._kept.get(conversation_id)
        if entry is not None:
            self._kept[conversation_id] = (entry[0], time.monotonic())

    def resume(self, conversation_id: str) -> Optional[List[Dict[str, Any]]]:
        """The items of a kept, unexpired conversation, or None (an expired one is forgotten)."""
        entry = self._kept.get(conversation_id)
        if entry is None:
            return None
        if time.monotonic() - entry[1] > self.ttl:
            del self._kept[conversation_id]
            return None
        return entry[0]

    def expire_all(self) -> None:
        """Forget every kept conversation (as if 30 idle minutes had passed)."""
        self._kept.clear()

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._kept


class GrokPeer:
    """One xAI connection (a :class:`~.._peer.Peer`); built by ``GrokPeerFactory``."""

    def __init__(self, *, inner: OpenAIPeer, session: Dict[str, Any], store: ConversationStore,
                 options: GrokPeerOptions, resume_id: Optional[str] = None) -> None:
        self._inner = inner
        self.session = session
        self._store = store
        self._options = options
        self._interim: Dict[str, str] = {}
        self._replay: List[Dict[str, Any]] = []
        self._error_first = False
        kept = store.resume(resume_id) if resume_id else None
        if kept is not None and resume_id is not None:
            inner.items = kept  # the same list: the conversation goes on here
            inner.conversation_id = resume_id
            self._replay = [copy.deepcopy(item) for item in kept]
        elif resume_id:
            self._error_first = options.expired == "error"
        self.conversation_id: str = inner.conversation_id
        self._sync_inner()

    # -- the Peer surface ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def items(self) -> List[Dict[str, Any]]:
        return self._inner.items

    def open(self) -> List[Frame]:
        """``conversation.created`` and ``session.created`` (and the replay, with ``replay_at="open"``)."""
        self._inner.open()  # its GA session.created is not xAI's
        self._inner.take_outbox()
        frames: List[Frame] = []
        if self._error_first:
            frames.append(self._inner.error_event(
                "conversation_not_found",
                "Conversation not found or expired; a new conversation was started.",
                error_type="invalid_request_error", param="conversation_id"))
        conversation = self._inner.frame("conversation.created", conversation={
            "id": self.conversation_id, "object": "realtime.conversation"})
        created = self._inner.frame("session.created", session=copy.deepcopy(self.session))
        frames += [conversation, created] if self._options.created_order == "conversation_first" \
            else [created, conversation]
        if self._options.replay_at == "open":
            frames += self._replay_frames()
        return frames

    def receive(self, message: Union[str, bytes]) -> Handled:
        self._store.touch(self.conversation_id)
        if isinstance(message, bytes):
            return Handled(self._translate(self._inner.receive(message).frames))
        try:
            event = json.loads(message)
        except ValueError:
            return Handled(self._translate(self._inner.receive(message).frames))
        kind = event.get("type") if isinstance(event, dict) else None
        frames: List[Frame] = []
        if kind == "session.update":
            frames = self._session_update(event)
        elif kind == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
            self._inner.handle({**event, "audio": self._to_inner_audio(event["audio"])})
        elif kind == "conversation.item.truncate" and self._options.truncate != "answer":
            if self._options.truncate == "error":
                self._inner.error("invalid_value", "Truncation is not available for this item.",
                                  event_id=event.get("event_id"))
        else:
            self._inner.handle(event)
        return Handled(frames + self._translate(self._inner.take_outbox()), event=event, record=True)

    def streams(self) -> List[str]:
        return self._inner.streams()

    def advance(self, stream_id: str) -> Step:
        step = self._inner.advance(stream_id)
        return Step(self._translate(list(step.frames)), step.audio_ms, step.done)

    def tick(self, now: float) -> Tuple[List[Frame], Optional[float]]:
        """A ``ping`` every ``ping_interval`` seconds (the first one after a full interval)."""
        interval = self._options.ping_interval
        if interval is None:
            return [], None
        due = getattr(self, "_ping_due", None)
        if due is None:
            self._ping_due = now + interval
            return [], self._ping_due
        if now < due:
            return [], due
        self._ping_due = now + interval
        return [self._inner.frame("ping", timestamp=int(time.time() * 1000))], self._ping_due

    def complete_event(self, event: Frame) -> Frame:
        return self._inner.complete_event(event)

    def error_event(self, code: str, message: str, *, error_type: str = "invalid_request_error",
                    param: Optional[str] = None) -> Frame:
        return self._inner.error_event(code, message, error_type=error_type, param=param)

    # -- session ------------------------------------------------------------------------------

    def _session_update(self, event: Dict[str, Any]) -> List[Frame]:
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        payload = event.get("session")
        try:
            if not isinstance(payload, dict):
                raise SchemaError("invalid_type", "session",
                                  "Invalid type for 'session': expected an object.")
            validate(SESSION, payload, "session")
        except SchemaError as exc:
            self._inner.error(exc.code, exc.message, param=exc.param, event_id=event_id)
            return []
        self.session = merge(SESSION, self.session, payload)
        self._sync_inner()
        frames = [self._inner.frame("session.updated", session=copy.deepcopy(self.session))]
        if (self.session.get("resumption") or {}).get("enabled"):
            self._store.keep(self.conversation_id, self._inner.items)
            if self._options.replay_at == "update":
                frames += self._replay_frames()
        return frames

    def _sync_inner(self) -> None:
        ga = ga_session(self.session, self._options.modality)
        self._inner.handle({"type": "session.update", "session": ga})
        self._inner.take_outbox()  # its session.updated (GA) is not sent

    def _replay_frames(self) -> List[Frame]:
        frames: List[Frame] = []
        previous = None
        for item in self._replay:
            for kind in ("conversation.item.added", "conversation.item.done"):
                frames.append(self._inner.frame(kind, previous_item_id=previous, item=copy.deepcopy(item)))
            previous = item["id"]
        self._replay = []
        return frames

    # -- audio at xAI's rates ----------------------------------------------------------------

    def _rate(self, direction: str) -> Optional[int]:
        fmt = self.session["audio"][direction]["format"]
        return fmt.get("rate") if fmt.get("type") == "audio/pcm" else None

    def _to_inner_audio(self, audio: str) -> str:
        rate = self._rate("input")
        if rate is None or rate == 24000:
            return audio
        try:
            data = base64.b64decode(audio, validate=True)
        except (ValueError, binascii.Error):
            return audio  # the OpenAI peer answers it with its error
        return base64.b64encode(_resample(data, rate, 24000)).decode()

    def _from_inner_audio(self, audio: str) -> str:
        rate = self._rate("output")
        if rate is None or rate == 24000:
            return audio
        return base64.b64encode(_resample(base64.b64decode(audio), 24000, rate)).decode()

    # -- outgoing frames, xAI's way ------------------------------------------------------------

    def _translate(self, frames: Sequence[Frame]) -> List[Frame]:
        out: List[Frame] = []
        for frame in frames:
            out.extend(self._translate_one(frame))
        return out

    def _translate_one(self, frame: Frame) -> List[Frame]:
        """One frame of the OpenAI peer as xAI sends it: zero, one or two frames."""
        kind = frame.get("type")
        options = self._options
        if kind in ("session.created", "session.updated", "rate_limits.updated"):
            return []
        if kind in ("response.output_text.delta", "response.output_text.done"):
            alias = dict(frame, type=str(kind).replace("output_text", "text"),
                         event_id=self._inner.new_id("event"))
            return {"both": [alias, frame], "text": [alias], "output_text": [frame]}[options.text_spellings]
        if kind == "response.output_audio.delta":
            return [dict(frame, delta=self._from_inner_audio(frame["delta"]))]
        if kind == "conversation.item.input_audio_transcription.delta" and self._interim_updates:
            item = frame["item_id"]
            self._interim[item] = self._interim.get(item, "") + frame.get("delta", "")
            return [{"type": "conversation.item.input_audio_transcription.updated",
                     "event_id": frame["event_id"], "item_id": item,
                     "content_index": frame.get("content_index", 0), "transcript": self._interim[item]}]
        if kind == "conversation.item.input_audio_transcription.completed":
            self._interim.pop(str(frame.get("item_id")), None)
        elif kind == "response.done" and options.usage_top_level:
            return [dict(frame, usage=copy.deepcopy(frame["response"].get("usage")))]
        elif kind == "error" and options.race_errors == "xai":
            error = frame.get("error") or {}
            if error.get("code") in (CANCEL_NOT_ACTIVE, ACTIVE_RESPONSE):
                return [dict(frame, error=dict(error, code=None))]
        return [frame]

    @property
    def _interim_updates(self) -> bool:
        transcription = self.session["audio"]["input"].get("transcription") or {}
        return transcription.get("model") == "grok-transcribe"


def _resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """PCM16 mono ``pcm`` at ``out_rate`` (linear interpolation: the fake needs timing, not fidelity)."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    if len(samples) == 0:
        return b""
    count = max(1, math.floor(len(samples) * out_rate / in_rate + 0.5))
    positions = np.arange(count) * (in_rate / out_rate)
    out = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
