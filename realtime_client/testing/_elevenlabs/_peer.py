"""The ElevenLabs Agents peer: the per-connection (per-conversation) state machine of the fake.

:class:`ElevenLabsPeer` does no I/O. The client speaks first: its
``conversation_initiation_client_data`` is answered with ``conversation_initiation_metadata``
(the formats are knobs). After that the peer runs an energy VAD on ``user_audio_chunk`` audio
(tentative and final user transcripts, an ``interruption`` with the agent turn's id when the
user speaks over it), answers ``user_message`` and ``client_tool_result``, streams scripted
:class:`~.._reply.Reply` objects as ``agent_response`` + ``audio`` (or, in chat mode,
``agent_chat_response_part`` + ``agent_response``), sends ``agent_response_correction`` after
an interruption, and pings every ``ping_interval`` seconds, closing when pongs stop
(``pong_timeout``). Event types the client did not ask for (``client_events``) are not sent.
Facts come from ``adapters/_elevenlabs/_wire.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
from typing import Any, Callable, Dict, Generator, List, Mapping, Optional, Set, Tuple, Union

import numpy as np

from ...adapters._elevenlabs import _wire as wire
from .._audio import EnergyVAD, pcm16_bytes, synthesize_speech, ulaw_decode, ulaw_encode
from .._peer import Frame, Handled, Step
from .._reply import Reply, split_words

__all__ = ["PEER_OPTIONS", "ElevenLabsPeer"]

#: ``provider_options`` the ElevenLabs peer knows, with their defaults
PEER_OPTIONS: Dict[str, Any] = {
    "agent_id": "agent_fake",
    "ping_interval": 2.0,          # seconds between pings (the real cadence is UNCONFIRMED)
    "pong_timeout": None,          # close (1002) when a ping stays unanswered this long
    "user_input_audio_format": wire.DEFAULT_FORMAT,
    "agent_output_audio_format": wire.DEFAULT_FORMAT,
    "client_events": None,         # what the agent sends when the override names none
    "first_message": None,         # the agent's greeting (the override's first_message wins)
    "max_duration": None,          # seconds: then error max_duration_exceeded and close 1000
    "correct_on_interrupt": True,  # send agent_response_correction with the words heard
    "vad_threshold": 0.5,
    "silence_ms": 500,
}
MS_PER_CHAR = 60.0
TEXT_PART_MS = 30.0
_Steps = Generator[Tuple[List[Frame], float], None, None]


class _Run:
    """One agent turn being streamed."""

    def __init__(self, event_id: int, steps: _Steps) -> None:
        self.event_id = event_id
        self.steps = steps
        self.spoken = ""      # the words whose audio has gone out
        self.full = ""
        self.done = False


class ElevenLabsPeer:
    """One conversation of the fake ElevenLabs server (a :class:`~.._peer.Peer`).

    Threads: not thread-safe; the server calls every method under its connection lock.
    """

    def __init__(self, *, agent_id: str, options: Mapping[str, Any],
                 next_reply: Callable[[], Optional[Reply]],
                 next_transcript: Callable[[], Optional[str]], audio_chunk_ms: int = 100,
                 speak: Optional[Callable[[str, int], Any]] = None,
                 hear: Optional[Callable[[Any, int], Optional[str]]] = None) -> None:
        self.options = {**PEER_OPTIONS, **dict(options)}
        self.model = agent_id
        self.agent_id = agent_id
        self.session: Dict[str, Any] = {}
        self.items: List[Dict[str, Any]] = []
        self.contexts: List[Dict[str, Any]] = []
        self.conversation_id = "conv_" + secrets.token_hex(8)
        self.text_only = False
        self.audio_chunk_ms = max(1, int(audio_chunk_ms))
        self.pongs: List[int] = []
        self.user_activity = 0
        self._next_reply = next_reply
        self._next_transcript = next_transcript
        self._speak = speak
        self._hear = hear
        self._started = False
        self._counter = 0
        self._events: Set[str] = set(wire.DEFAULT_CLIENT_EVENTS)
        self._in_fmt = wire.parse_format(self.options["user_input_audio_format"])
        self._out_fmt = wire.parse_format(self.options["agent_output_audio_format"])
        self._vad = EnergyVAD(self._in_fmt[1], float(self.options["vad_threshold"]),
                              float(self.options["silence_ms"]))
        self._speech: Optional[int] = None
        self._speech_audio: List[np.ndarray] = []
        self._run: Optional[_Run] = None
        self._pending_tools: Dict[str, str] = {}
        self._pings: Dict[int, float] = {}
        self._next_ping: Optional[float] = None
        self._ends_at: Optional[float] = None
        self._close: Optional[Tuple[int, str]] = None
        self._outbox: List[Frame] = []

    # -- helpers ----------------------------------------------------------------------------

    def _id(self) -> int:
        self._counter += 1
        return self._counter

    def _emit(self, frame: Frame) -> None:
        if frame["type"] in self._events or frame["type"] in ("conversation_initiation_metadata", "ping",
                                                                "error", "client_tool_call"):
            self._outbox.append(frame)  # client_tool_call is never gated here (UNCONFIRMED)

    def _take(self) -> List[Frame]:
        frames, self._outbox = self._outbox, []
        return frames

    def take_close(self) -> Optional[Tuple[int, str]]:
        """The close this peer asked for, once."""
        close, self._close = self._close, None
        return close

    def error(self, error_type: str, message: str) -> None:
        """Queue an ``error`` frame and the close its type implies (ElevenLabs closes after one)."""
        kind = error_type if error_type in wire.ERROR_CLOSE_CODES else "unknown"
        code = wire.ERROR_CLOSE_CODES[kind]
        self._emit({"type": "error", "error_event": {"code": code, "message": message, "error_type": kind}})
        self._close = (code, message[:120])
        self._stop_run()

    # -- the Peer protocol -------------------------------------------------------------------------

    def open(self) -> List[Frame]:
        """Nothing: the client sends ``conversation_initiation_client_data`` first."""
        return []

    def receive(self, message: Union[str, bytes]) -> Handled:
        """Handle one client frame; return the answer frames and the parsed frame to record."""
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            self.error("invalid_message", "Invalid JSON message")
            return Handled(self._take())
        if not isinstance(event, dict):
            self.error("invalid_message", "A message must be a JSON object")
            return Handled(self._take())
        untyped = "user_audio_chunk" in event and "type" not in event
        kind = "user_audio_chunk" if untyped else event.get("type")
        if not self._started and kind != "conversation_initiation_client_data":
            self.error("invalid_message", "The first message must be conversation_initiation_client_data")
        else:
            handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
            if handler is None:
                self.error("invalid_message", f"Unknown message type: {str(kind)[:60]}")
            else:
                handler(event)
        return Handled(self._take(), event=event, record=True)

    def streams(self) -> List[str]:
        """The agent turn being streamed, if any."""
        return [str(self._run.event_id)] if self._run is not None and not self._run.done else []

    def advance(self, stream_id: str) -> Step:
        """The next frames of the agent turn ``stream_id`` and the audio time they carry."""
        run = self._run
        if run is None or str(run.event_id) != stream_id or run.done:
            return Step(self._take(), 0.0, True)
        try:
            frames, ms = next(run.steps)
        except StopIteration:
            frames, ms = [], 0.0
            run.done = True
        for frame in frames:
            self._emit(frame)
        return Step(self._take(), ms, run.done)

    def tick(self, now: float) -> Tuple[List[Frame], Optional[float]]:
        """Pings, the pong timeout and the maximum duration."""
        if not self._started:
            return [], now + 0.05
        if self._ends_at is None and self.options["max_duration"] is not None:
            self._ends_at = now + float(self.options["max_duration"])
        if self._ends_at is not None and now >= self._ends_at:
            self._ends_at = math.inf
            self.error("max_duration_exceeded", "Conversation exceeded the maximum duration")
            return self._take(), None
        timeout = self.options["pong_timeout"]
        if timeout is not None and any(now - sent > float(timeout) for sent in self._pings.values()):
            self._close = (wire.CLOSE_OPERATIONAL, "ping timeout")
            return self._take(), None
        interval = float(self.options["ping_interval"])
        if self._next_ping is None:
            self._next_ping = now + interval
        if now >= self._next_ping:
            event_id = self._id()
            self._pings[event_id] = now
            latency = 20 if self.pongs else None
            self._emit({"type": "ping", "ping_event": {"event_id": event_id, "ping_ms": latency}})
            self._next_ping = now + interval
        wake = self._next_ping if self._ends_at is None else min(self._next_ping, self._ends_at)
        return self._take(), wake

    def complete_event(self, event: Frame) -> Frame:
        """ElevenLabs frames have no envelope id: a fault-injected event is sent as it is."""
        return event

    def error_event(self, code: str, message: str, *, error_type: str = "",
                    param: Optional[str] = None) -> Frame:
        """The ``error`` frame for ``code`` (an ElevenLabs error type); its close follows."""
        self.error(code, message)
        frames = self._take()
        if frames:
            return frames[-1]
        return {"type": "error", "error_event": {"code": 1011, "message": message}}

    # -- client frames ----------------------------------------------------------------------------

    def _on_conversation_initiation_client_data(self, event: Dict[str, Any]) -> None:
        if self._started:
            self.error("invalid_message", "The conversation was already initiated")
            return
        override = event.get("conversation_config_override") or {}
        conversation = override.get("conversation") or {}
        # The contract puts text_only under conversation; the Python SDK sends it at the top.
        text_only = conversation.get("text_only", override.get("text_only"))
        self.text_only = bool(text_only)
        events = conversation.get("client_events") or self.options["client_events"]
        if events:
            self._events = set(events)
        self.session = json.loads(json.dumps(event))
        self._started = True
        self._emit({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {
            "conversation_id": self.conversation_id,
            "agent_output_audio_format": self.options["agent_output_audio_format"],
            "user_input_audio_format": self.options["user_input_audio_format"]}})
        first = (override.get("agent") or {}).get("first_message", self.options["first_message"])
        if first:
            self._start(Reply.text(first))

    def _on_pong(self, event: Dict[str, Any]) -> None:
        event_id = event.get("event_id")
        if isinstance(event_id, int):
            self._pings.pop(event_id, None)
            self.pongs.append(event_id)

    def _on_user_activity(self, event: Dict[str, Any]) -> None:
        self.user_activity += 1

    def _on_contextual_update(self, event: Dict[str, Any]) -> None:
        context_id = event.get("context_id")
        if context_id is not None:
            self.contexts = [c for c in self.contexts if c.get("context_id") != context_id]
        self.contexts.append({"text": event.get("text", ""), "context_id": context_id})

    def _on_feedback(self, event: Dict[str, Any]) -> None:
        pass

    def _on_mcp_tool_approval_result(self, event: Dict[str, Any]) -> None:
        pass

    def _on_user_message(self, event: Dict[str, Any]) -> None:
        text = event.get("text") or ""
        self.items.append({"role": "user", "text": text})
        self._interrupt_run()
        self._start(self._next_reply() or Reply.text(f"You said: {text}"))

    def _on_multimodal_message(self, event: Dict[str, Any]) -> None:
        self._on_user_message(event.get("text") or {})

    def _on_client_tool_result(self, event: Dict[str, Any]) -> None:
        call_id = event.get("tool_call_id")
        if call_id not in self._pending_tools:
            self.error("invalid_message", f"Unknown tool_call_id: {str(call_id)[:40]}")
            return
        del self._pending_tools[call_id]
        result = event.get("result")
        self.items.append({"role": "tool", "tool_call_id": call_id, "result": result,
                           "is_error": event.get("is_error")})
        if not self._pending_tools:
            self._start(self._next_reply() or Reply.text(f"The tool returned: {result}"))

    def _on_user_audio_chunk(self, event: Dict[str, Any]) -> None:
        try:
            data = base64.b64decode(event["user_audio_chunk"], validate=True)
        except (ValueError, binascii.Error, TypeError):
            self.error("invalid_message", "user_audio_chunk is not base64")
            return
        samples = ulaw_decode(data) if self._in_fmt[0] == "g711_ulaw" else np.frombuffer(
            data[: len(data) - len(data) % 2], dtype="<i2")
        if "vad_score" in self._events and len(samples):
            level = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) / 32768.0
            self._emit({"type": "vad_score", "vad_score_event": {"vad_score": round(min(1.0, level * 8), 3)}})
        if self._speech is not None:
            self._speech_audio.append(samples)
        for kind, _ in self._vad.feed(samples):
            if kind == "start" and self._speech is None:
                self._speech, self._speech_audio = self._id(), [samples]
                self._emit({"type": "tentative_user_transcript", "tentative_user_transcription_event": {
                    "user_transcript": "...", "event_id": self._speech}})
                self._interrupt_run()
            elif kind == "stop" and self._speech is not None:
                self._end_speech()

    def _end_speech(self) -> None:
        audio = np.concatenate(self._speech_audio) if self._speech_audio else np.zeros(0, np.int16)
        self._speech, self._speech_audio = None, []
        heard = self._hear(audio, self._in_fmt[1]) if self._hear is not None and len(audio) else None
        ms = 1000.0 * len(audio) / self._in_fmt[1]
        transcript = self._next_transcript() or heard or f"(voice input of {round(ms)} ms)"
        self.items.append({"role": "user", "text": transcript})
        self._emit({"type": "user_transcript", "user_transcription_event": {
            "user_transcript": transcript, "event_id": self._id()}})
        self._start(self._next_reply() or Reply.text(f"You said: {heard}" if heard else "I heard you."))

    # -- agent turns ------------------------------------------------------------------------------

    def _interrupt_run(self) -> None:
        run = self._run
        if run is None or run.done:
            return
        self._emit({"type": "interruption", "interruption_event": {"event_id": run.event_id}})
        if self.options["correct_on_interrupt"] and run.full and run.spoken != run.full:
            self._emit({"type": "agent_response_correction", "agent_response_correction_event": {
                "original_agent_response": run.full, "corrected_agent_response": run.spoken.strip(),
                "event_id": run.event_id}})
        self.items.append({"role": "agent", "text": run.spoken.strip(), "interrupted": True})
        self._stop_run()

    def _stop_run(self) -> None:
        if self._run is not None:
            self._run.steps.close()
            self._run.done = True
            self._run = None

    def _start(self, reply: Reply) -> None:
        self._stop_run()
        if reply.kind == "error":
            self.error(reply.code or "unknown", reply.content)
            return
        if reply.kind == "failed":
            self.error("llm_error", reply.content)
            return
        event_id = self._id()
        run = _Run(event_id, iter(()))  # type: ignore[arg-type]
        run.steps = self._steps(run, reply)
        self._run = run

    def _steps(self, run: _Run, reply: Reply) -> _Steps:
        for part in reply.items:
            if part.kind == "tool_call":
                call_id = part.call_id or "call_" + secrets.token_hex(6)
                self._pending_tools[call_id] = part.name
                yield [{"type": "client_tool_call", "client_tool_call": {
                    "tool_name": part.name, "tool_call_id": call_id,
                    "parameters": json.loads(part.arguments or "{}"), "event_id": run.event_id}}], 0.0
                continue
            if self.text_only and part.kind == "text":
                yield from self._text(run, part.content)
            else:
                yield from self._speech_steps(run, part)
        if run.full:
            self.items.append({"role": "agent", "text": run.full})
        run.done = True
        self._run = None

    def _text(self, run: _Run, text: str) -> _Steps:
        run.full = text
        part = {"type": "agent_chat_response_part", "text_response_part": {
            "text": "", "type": "start", "event_id": run.event_id}}
        yield [part], 0.0
        for word in split_words(text):
            run.spoken += word
            yield [{"type": "agent_chat_response_part", "text_response_part": {
                "text": word, "type": "delta", "event_id": run.event_id}}], TEXT_PART_MS
        yield [{"type": "agent_chat_response_part", "text_response_part": {
            "text": "", "type": "stop", "event_id": run.event_id}},
               {"type": "agent_response", "agent_response_event": {"agent_response": text,
                                                                   "event_id": run.event_id}}], 0.0

    def _speech_steps(self, run: _Run, part: Reply) -> _Steps:
        text = part.content
        run.full = text
        yield [{"type": "agent_response", "agent_response_event": {"agent_response": text,
                                                                   "event_id": run.event_id}}], 0.0
        codec, rate = self._out_fmt
        samples = None
        if self._speak is not None and part.duration_ms is None and text.strip():
            samples = self._speak(text, rate)
        if samples is None:
            duration = (part.duration_ms if part.duration_ms is not None
                        else max(300.0, MS_PER_CHAR * len(text)))
            samples = synthesize_speech(duration, rate, seed=len(text) * 7919)
        data = ulaw_encode(samples) if codec == "g711_ulaw" else pcm16_bytes(samples)
        per_ms = rate * (1 if codec == "g711_ulaw" else 2) / 1000.0
        chunk = max(1, int(per_ms * self.audio_chunk_ms))
        count = max(1, math.ceil(len(data) / chunk))
        words = split_words(text)
        said = 0
        for k in range(count):
            piece = data[k * chunk:(k + 1) * chunk]
            due = round(len(words) * (k + 1) / count)
            while said < due:
                run.spoken += words[said]
                said += 1
            yield [{"type": "audio", "audio_event": {"audio_base_64": base64.b64encode(piece).decode(),
                                                     "event_id": run.event_id}}], len(piece) / per_ms
