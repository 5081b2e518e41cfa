"""The Gemini Live peer: the per-connection protocol state machine of the fake server.

:class:`GeminiPeer` does no I/O. It waits for ``setup`` (anything else first closes with 1007),
answers ``setupComplete``, runs an energy VAD on 16 kHz input (or follows ``activityStart`` /
``activityEnd`` when automatic detection is off), transcribes, answers text and voice turns
with scripted or default replies, calls tools and waits for ``toolResponse``, barges in with
``interrupted`` (and ``toolCallCancellation``), issues resumption handles after each turn,
resumes a session from a handle (refusing an unknown handle with 1007 and a session whose old
socket is still open with 1011), warns with ``goAway`` before the session cap, and closes with
1007 on anything the real server would refuse. Keys are read in camelCase or snake_case.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ...adapters._gemini import _wire as wire
from .._audio import EnergyVAD
from .._peer import Close, Frame, Handled, Step
from .._reply import Reply, split_words, text_tokens
from ._response import ModelTurn, default_reply
from ._store import MintedToken, SessionStore, StoredSession

__all__ = ["KNOWN_MODELS", "GeminiPeer"]

#: models the fake serves besides the server's own ``model``
KNOWN_MODELS = (wire.DEFAULT_MODEL, "gemini-3.1-flash-live-preview",
                "gemini-2.5-flash-native-audio-preview-12-2025", "gemini-live-2.5-flash-preview")
_INVALID = "Request contains an invalid argument."
_SETUP_KEYS = ("model", "generationConfig", "systemInstruction", "tools", "sessionResumption",
               "contextWindowCompression", "inputAudioTranscription", "outputAudioTranscription",
               "proactivity", "explicitVadSignal", "historyConfig", "avatarConfig", "safetySettings",
               "labels", "realtimeInputConfig")
_INPUT_KEYS = ("mediaChunks", "audio", "audioStreamEnd", "video", "text", "activityStart", "activityEnd")
_RATE = re.compile(r"rate=(\d+)")


def _snake(camel: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _get(obj: Any, camel: str) -> Any:
    if not isinstance(obj, dict):
        return None
    return obj[camel] if camel in obj else obj.get(_snake(camel))


def _unknown(obj: Dict[str, Any], allowed: Tuple[str, ...], where: str) -> Optional[str]:
    for key in obj:
        if _camel(str(key)) not in allowed:
            return f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': Cannot find field.'
    return None


class GeminiPeer:
    """One Gemini Live connection of the fake server (a :class:`~.._peer.Peer`).

    Attributes:
        audio_ms: milliseconds of input audio received on this connection.
        audio_span: monotonic times of the first and last input audio received (None before).
        resumed: the connection resumed a session from a handle.
        handles: every resumption handle issued on this connection, in order.

    Clocks: like every peer it is stepped by the connection (``tick(now)`` for ``goAway``);
    ``audio_span`` alone reads the monotonic clock (a diagnostic for tests and benchmarks), and
    the shared store reads wall time for handle lifetimes and token deadlines.

    Threads: not thread-safe; the server calls it under the connection lock.
    """

    def __init__(self, *, store: SessionStore, model: str, version: str, credential: Optional[str],
                 constrained: bool, next_reply: Callable[[], Optional[Reply]],
                 next_transcript: Callable[[], Optional[str]], audio_chunk_ms: int = 100,
                 instructions: Optional[str] = None, voice: Optional[str] = None,
                 max_session_seconds: Optional[float] = None,
                 go_away_seconds: Optional[float] = None,
                 speak: Optional[Callable[[str, int], Any]] = None,
                 hear: Optional[Callable[[Any, int], Optional[str]]] = None) -> None:
        self._speak = speak
        self._hear = hear
        self._utterance = bytearray()  # the audio of the user's turn in progress (for hear)
        self._store = store
        self.store = store  #: the server-wide store (tests may expire its handles)
        self._model = model
        self._version = version
        self._credential = credential
        self._constrained = constrained
        self._next_reply = next_reply
        self._next_transcript = next_transcript
        self._chunk_ms = audio_chunk_ms
        self._default_instructions = instructions
        self._voice = voice
        self._cap = max_session_seconds
        self._warn = go_away_seconds
        self._setup: Dict[str, Any] = {}
        self._history: List[Dict[str, Any]] = []
        self._session: Optional[StoredSession] = None
        self._ready = False
        self._closing = False
        self._seeding = False
        self._turn: Optional[ModelTurn] = None
        self._turns = 0
        self._vad: Optional[EnergyVAD] = None
        self._in_speech = False
        self._speech_ms = 0.0
        self._manual_open = False
        self._opened_at: Optional[float] = None
        self._go_away_sent = False
        self.audio_ms = 0.0
        self.audio_span: Optional[Tuple[float, float]] = None
        self.resumed = False
        self.handles: List[str] = []

    # --- the Peer protocol ----------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self._model

    @property
    def session(self) -> Dict[str, Any]:
        """The effective setup (after token constraints)."""
        return self._setup

    @property
    def items(self) -> List[Dict[str, Any]]:
        """The conversation as ``Content`` turns (``{"role", "parts"}``)."""
        return self._history

    @property
    def stored(self) -> Optional[StoredSession]:
        """The resumable session this connection serves (None without ``sessionResumption``)."""
        return self._session

    def open(self) -> List[Frame]:
        return []  # the client speaks first (setup)

    def receive(self, message: Union[str, bytes]) -> Handled:
        if self._closing:
            return Handled()
        try:
            msg = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return Handled(self._close(wire.CLOSE_INVALID_ARGUMENT, "Invalid JSON payload received."))
        if not isinstance(msg, dict) or len(msg) != 1:
            return Handled(self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID), msg, isinstance(msg, dict))
        key = _camel(next(iter(msg)))
        body = next(iter(msg.values()))
        if not self._ready and key != "setup":
            refused = self._close(wire.CLOSE_INVALID_ARGUMENT, "The first message must be setup.")
            return Handled(refused, msg, True)
        handler = {"setup": self._on_setup, "realtimeInput": self._on_input,
                   "clientContent": self._on_client_content, "toolResponse": self._on_tool_response,
                   "contextUpdate": self._on_context_update}.get(key)
        if handler is None or not isinstance(body, dict):
            return Handled(self._close(wire.CLOSE_INVALID_ARGUMENT, f'Invalid JSON payload received. Unknown '
                                       f'name "{next(iter(msg))}": Cannot find field.'), msg, True)
        return Handled(handler(body), msg, True)

    def streams(self) -> List[str]:
        turn = self._turn
        return ["turn"] if turn is not None and not turn.waiting and not self._closing else []

    def advance(self, stream_id: str) -> Step:
        turn = self._turn
        if turn is None or self._closing:
            return Step([], done=True)
        frames, ms = turn.step()
        frames = list(frames)
        if any(isinstance(f, Close) for f in frames):
            self._closing = True
        if turn.done:
            self._finish_turn(turn, interrupted=False)
            frames += self._new_handle()
        return Step(frames, ms, turn.done)

    def tick(self, now: float) -> Tuple[List[Frame], Optional[float]]:
        if self._opened_at is None:
            self._opened_at = now
        if self._cap is None or self._go_away_sent:
            return [], None
        warn = min(self._warn if self._warn is not None else 50.0, self._cap)
        due = self._opened_at + self._cap - warn
        if now < due:
            return [], due
        self._go_away_sent = True
        left = max(0.0, self._opened_at + self._cap - now)
        return [{"goAway": {"timeLeft": f"{left:.3f}s"}}], None

    def complete_event(self, event: Frame) -> Frame:
        return event  # Gemini messages carry no ids

    def error_event(self, code: str, message: str, *, error_type: str, param: Optional[str]) -> Frame:
        raise ValueError("Gemini has no error events: errors are close frames; use "
                         "server.drop(code=1007, reason=...) (or 1008, 1011) instead")

    def closed(self) -> None:
        """The connection ended: its session may now be resumed elsewhere."""
        if self._session is not None:
            self._store.detach(self._session, self)

    # --- setup ----------------------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> List[Any]:
        self._closing = True
        return [Close(code, reason)]

    def _on_setup(self, setup: Dict[str, Any]) -> List[Any]:
        if self._ready:
            return self._close(wire.CLOSE_INVALID_ARGUMENT, "setup must be the first and only setup message.")
        problem = _unknown(setup, _SETUP_KEYS, "setup")
        if problem:
            return self._close(wire.CLOSE_INVALID_ARGUMENT, problem)
        resumption = _get(setup, "sessionResumption")
        if _get(setup, "explicitVadSignal") is not None or _get(resumption, "transparent") is not None:
            return self._close(wire.CLOSE_INVALID_ARGUMENT, "explicit_vad_signal and transparent session "
                               "resumption are not supported in the Gemini API.")
        model = _get(setup, "model")
        if not isinstance(model, str) or not model.startswith("models/"):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, "setup.model must be 'models/<model id>'.")
        handle = _get(resumption, "handle") if isinstance(resumption, dict) else None
        token, refusal = self._store.start_with(self._credential, resuming=bool(handle))
        if refusal:
            return self._close(wire.CLOSE_POLICY, refusal)
        effective = _constrain(setup, token)
        model_id = str(effective.get("model", model))[len("models/"):]
        if model_id not in KNOWN_MODELS and model_id != self._model:
            return self._close(wire.CLOSE_POLICY, f"models/{model_id} is not found for API version "
                               f"{self._version}, or is not supported for bidiGenerateContent. Call "
                               "ListModels to see the list of available models and their supported methods.")
        self._model = model_id
        self._setup = effective
        if isinstance(handle, str) and handle:
            session, history, why = self._store.resume(handle, self)
            if session is None:
                if why == "unknown":
                    return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
                return self._close(wire.CLOSE_INTERNAL, "The session is still in use by another "
                                   "connection. Internal error encountered.")
            if session.model != model_id:
                self._store.detach(session, self)
                return self._close(wire.CLOSE_INVALID_ARGUMENT, "The model cannot change when resuming "
                                   "a session.")
            self._session, self._history, self.resumed = session, history, True
        elif resumption is not None:
            self._session = self._store.new(model_id, self)
        history_config = _get(effective, "historyConfig")
        self._seeding = _get(history_config, "initialHistoryInClientContent") is True
        self._configure_vad()
        frames: List[Any] = [{"setupComplete": {}}]
        self._ready = True
        if self._session is not None and not self._seeding:
            frames += self._new_handle()
        return frames

    def _configure_vad(self) -> None:
        detection = _get(_get(self._setup, "realtimeInputConfig"), "automaticActivityDetection")
        if _get(detection, "disabled") is True:
            self._vad = None
            return
        silence = _get(detection, "silenceDurationMs")
        self._vad = EnergyVAD(sample_rate=wire.INPUT_RATE,
                              silence_duration_ms=silence if isinstance(silence, int) else 500)

    @property
    def _audio_out(self) -> bool:
        modalities = _get(_get(self._setup, "generationConfig"), "responseModalities") or ["AUDIO"]
        return "AUDIO" in modalities

    def _new_handle(self) -> List[Frame]:
        if self._session is None:
            return []
        handle = self._store.issue(self._session, self._history)
        self.handles.append(handle)
        return [{"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}]

    # --- input --------------------------------------------------------------------------------

    def _on_input(self, body: Dict[str, Any]) -> List[Any]:
        problem = _unknown(body, _INPUT_KEYS, "realtime_input")
        if problem or len(body) != 1:
            return self._close(wire.CLOSE_INVALID_ARGUMENT, problem or _INVALID)
        key = _camel(next(iter(body)))
        value = next(iter(body.values()))
        if key == "text":
            if not isinstance(value, str):
                return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
            return self._user_turn([{"text": value}])
        if key in ("audio", "video"):
            return self._on_blob(value, key)
        if key == "mediaChunks":
            frames: List[Any] = []
            for blob in value if isinstance(value, list) else [None]:
                mime = str(_get(blob, "mimeType") or "")
                frames += self._on_blob(blob, "audio" if mime.startswith("audio/") else "video")
            return frames
        manual = self._vad is None
        if key == "activityStart":
            if not manual:
                return self._close(wire.CLOSE_INVALID_ARGUMENT, "activityStart needs automatic activity "
                                   "detection to be disabled.")
            self._manual_open, self._speech_ms = True, 0.0
            self._utterance = bytearray()
            return self._barge_in()
        if key == "activityEnd":
            if not manual:
                return self._close(wire.CLOSE_INVALID_ARGUMENT, "activityEnd needs automatic activity "
                                   "detection to be disabled.")
            was, self._manual_open = self._manual_open, False
            return self._voice_turn() if was and self._speech_ms > 0 else []
        if key == "audioStreamEnd":
            if self._in_speech:
                self._in_speech = False
                if self._vad is not None:
                    self._vad.reset()
                return self._voice_turn()
            return []
        return []

    def _on_blob(self, blob: Any, kind: str) -> List[Any]:
        data, mime = _get(blob, "data"), _get(blob, "mimeType")
        if not isinstance(data, str) or not isinstance(mime, str):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
        try:  # proto JSON bytes: standard or URL-safe base64 (google-genai sends URL-safe)
            raw = base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, "Invalid value at 'realtime_input.data' "
                               "(TYPE_BYTES), Base64 decoding failed.")
        if kind == "video":
            self._add_user_part({"inlineData": {"mimeType": mime, "data": f"<{len(raw)} bytes>"}})
            return []
        if not mime.startswith("audio/pcm"):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, f"Unsupported audio mime type {mime}.")
        match = _RATE.search(mime)
        rate = int(match.group(1)) if match else wire.INPUT_RATE
        ms = len(raw) / 2 / rate * 1000.0
        self.audio_ms += ms
        now = time.monotonic()
        self.audio_span = (self.audio_span[0] if self.audio_span else now, now)
        listening = self._in_speech or self._manual_open
        if self._hear is not None and listening and len(self._utterance) < 960_000:
            self._utterance += raw  # at most 30 s at 16 kHz
        if self._vad is None:
            if self._manual_open:
                self._speech_ms += ms
            return []
        samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
        if rate != wire.INPUT_RATE:  # the VAD runs at 16 kHz; other rates are read as they are
            samples = samples[:: max(1, rate // wire.INPUT_RATE)]
        frames: List[Any] = []
        for kind_, _ in self._vad.feed(samples):
            if kind_ == "start":
                self._in_speech, self._speech_ms = True, 0.0
                self._utterance = bytearray(raw) if self._hear is not None else bytearray()
                frames += self._barge_in()
            else:
                self._in_speech = False
                frames += self._voice_turn()
        if self._in_speech:
            self._speech_ms += ms
        return frames

    def _barge_in(self) -> List[Any]:
        """The user started speaking: cut off the model's turn if one is running."""
        turn = self._turn
        if turn is None:
            return []
        handling = _get(_get(self._setup, "realtimeInputConfig"), "activityHandling")
        if handling == "NO_INTERRUPTION":
            return []
        frames: List[Any] = [{"serverContent": {"interrupted": True}}]
        if turn.calls:
            frames.append({"toolCallCancellation": {"ids": list(turn.calls)}})
        frames.append({"serverContent": {"turnComplete": True}})
        self._finish_turn(turn, interrupted=True)
        return frames

    def _voice_turn(self) -> List[Any]:
        heard = None
        if self._hear is not None and self._utterance:
            samples = np.frombuffer(bytes(self._utterance[: len(self._utterance) // 2 * 2]), dtype="<i2")
            heard = self._hear(samples, wire.INPUT_RATE)
        self._utterance = bytearray()
        transcript = self._next_transcript() or heard or "Hello there."
        frames: List[Any] = []
        if _get(self._setup, "inputAudioTranscription") is not None:
            words = split_words(transcript)
            for i, word in enumerate(words):
                fragment: Dict[str, Any] = {"text": word}
                if i == len(words) - 1:
                    fragment["finished"] = True
                frames.append({"serverContent": {"inputTranscription": fragment}})
        return frames + self._user_turn([{"text": transcript}], voice=not heard)

    def _add_user_part(self, part: Dict[str, Any]) -> None:
        if self._history and self._history[-1]["role"] == "user":
            self._history[-1]["parts"].append(part)
        else:
            self._history.append({"role": "user", "parts": [part]})

    def _user_turn(self, parts: List[Dict[str, Any]], voice: bool = False) -> List[Any]:
        frames = self._barge_in()
        for part in parts:
            self._add_user_part(part)
        self._start_turn(self._next_reply() or default_reply(self._history, voice))
        return frames

    def _start_turn(self, reply: Reply) -> None:
        self._turns += 1
        self._turn = ModelTurn(reply, audio=self._audio_out, chunk_ms=self._chunk_ms, seed=self._turns,
                               next_reply=lambda: self._next_reply() or default_reply(self._history),
                               usage=self._usage, speak=self._speak)

    def _finish_turn(self, turn: ModelTurn, *, interrupted: bool) -> None:
        if turn is self._turn:
            self._turn = None
        parts: List[Dict[str, Any]] = [{"functionCall": dict(c)} for c in turn.called]
        if turn.spoken:
            parts.append({"text": turn.spoken})
        if parts:
            self._history.append({"role": "model", "parts": parts})

    def _usage(self, spoken: str) -> Dict[str, Any]:
        prompt = sum(text_tokens(json.dumps(t)) for t in self._history)
        response = text_tokens(spoken)
        modality = "AUDIO" if self._audio_out else "TEXT"
        return {"promptTokenCount": prompt, "responseTokenCount": response,
                "totalTokenCount": prompt + response,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
                "responseTokensDetails": [{"modality": modality, "tokenCount": response}]}

    # --- other client messages ------------------------------------------------------------------

    def _on_tool_response(self, body: Dict[str, Any]) -> List[Any]:
        responses = _get(body, "functionResponses")
        turn = self._turn
        if not isinstance(responses, list) or not responses:
            return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
        for response in responses:
            call_id = _get(response, "id")
            if not isinstance(call_id, str) or not call_id:
                return self._close(wire.CLOSE_INVALID_ARGUMENT, "function_response.id is required.")
            if not isinstance(_get(response, "response"), dict):
                return self._close(wire.CLOSE_INVALID_ARGUMENT, "function_response.response must be "
                                   "an object.")
            if turn is None or not turn.answer(call_id):
                continue  # a response to a cancelled or unknown call is ignored
            self._add_user_part({"functionResponse": copy.deepcopy(response)})
        return []

    def _on_client_content(self, body: Dict[str, Any]) -> List[Any]:
        if not self._seeding and not self._model.startswith("gemini-2"):
            # 3.x: clientContent only seeds history (historyConfig); mid-session it is refused
            return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
        turns = _get(body, "turns") or []
        if not isinstance(turns, list):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
        for content in turns:
            role, parts = _get(content, "role"), _get(content, "parts")
            if role not in ("user", "model") or not isinstance(parts, list):
                return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
            self._history.append({"role": role, "parts": copy.deepcopy(parts)})
        if _get(body, "turnComplete") is True and self._seeding:
            self._seeding = False
            return self._new_handle()  # the seeded history is the session's starting point
        return []

    def _on_context_update(self, body: Dict[str, Any]) -> List[Any]:
        if not self._model.startswith(wire.CONTEXT_UPDATE_MODEL_PREFIXES):
            return self._close(wire.CLOSE_INVALID_ARGUMENT, "contextUpdate is not supported by "
                               f"models/{self._model}.")
        instruction = _get(body, "systemInstruction")
        if instruction is not None:
            self._setup["systemInstruction"] = copy.deepcopy(instruction)
        tools = _get(body, "tools")
        if tools is not None:
            inner = _get(tools, "tools")
            if not isinstance(inner, list):
                return self._close(wire.CLOSE_INVALID_ARGUMENT, _INVALID)
            self._setup["tools"] = copy.deepcopy(inner)
        return []


def _constrain(setup: Dict[str, Any], token: Optional[MintedToken]) -> Dict[str, Any]:
    """The setup the session runs with: a token's constraints win over what the client sent
    (all of the setup without a field mask; the masked fields with one)."""
    effective = {_camel(k): copy.deepcopy(v) for k, v in setup.items()}
    if token is None or not token.constraints:
        return effective
    constraints = copy.deepcopy(token.constraints)
    if token.field_mask is None:
        return {"model": effective.get("model"), **constraints} if "model" not in constraints else constraints
    for path in token.field_mask:
        head, _, sub = path.partition(".")
        if head not in constraints:
            continue
        if sub and isinstance(constraints[head], dict) and sub in constraints[head]:
            effective.setdefault(head, {})
            if isinstance(effective[head], dict):
                effective[head][sub] = constraints[head][sub]
        else:
            effective[head] = constraints[head]
    return effective
