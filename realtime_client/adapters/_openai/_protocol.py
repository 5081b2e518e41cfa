"""The OpenAI Realtime API (GA) adapter: JSON frames in, normalized events out, and back.

A pure translator (no sockets, threads, clocks or audio devices): the client hands it
received frames and asks it for frames to send. Wire details follow protocols.md §1.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ... import _events as ev
from ..._models import ImagePart, RealtimeMessage, RealtimeToken, SessionConfig, TextPart
from ..._types import ConnectionRequest, Frame
from .._common import (
    FrameError,
    as_text,
    b64decode_strict,
    b64encode,
    check_ws_url,
    conversation_items,
    decode_frame,
    deep_merge,
    excerpt,
    image_url,
    new_event_id,
    opt_int,
    opt_obj,
    opt_str,
    req_obj,
    req_str,
    tool_schema,
    type_name,
    usage_info,
    with_query_param,
)
from ._wire import DEFAULT_MODEL, DEFAULT_URL

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "OpenAIRealtimeAdapter", "openai_realtime"]

logger = logging.getLogger("realtime_client")



_PCM24K = {"type": "audio/pcm", "rate": 24000}
_TOOL_CHOICES = ("auto", "none", "required")
_NOISE_REDUCTION = ("near_field", "far_field")
_SERVER_VAD_FIELDS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms",
                      "create_response", "interrupt_response")
_SEMANTIC_VAD_FIELDS = ("create_response", "interrupt_response")
# Top-level session keys provider_options may not smuggle in (see session_update).
_FORBIDDEN_SESSION_KEYS = ("model", "temperature")

# Events the client has no use for. Everything else unknown becomes ev.UnknownEvent.
_IGNORED_TYPES = (
    "conversation.created", "conversation.item.added", "conversation.item.done",
    "conversation.item.created", "conversation.item.retrieved", "conversation.item.deleted",
    "conversation.item.input_audio_transcription.segment",
    "response.content_part.added", "response.content_part.done", "response.output_item.done",
    "response.function_call_arguments.delta",
    "input_audio_buffer.cleared", "input_audio_buffer.timeout_triggered",
    "input_audio_buffer.dtmf_event_received", "rate_limits.updated",
    "output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared",
    "mcp_list_tools.in_progress", "mcp_list_tools.completed", "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress", "response.mcp_call.completed", "response.mcp_call.failed",
)

Handler = Callable[[Dict[str, Any]], ev.Event]


def _constant(event: ev.Event) -> Handler:
    return lambda msg: event


class OpenAIRealtimeAdapter:
    """OpenAI Realtime (GA) over WebSocket; build it with :func:`openai_realtime`.

    Threads: ``parse`` runs on the reader thread only; the frame builders may be called from
    any thread. The only mutable state is the set of warnings already logged.

    .. versionadded:: 0.1.0
    """

    provider = "openai"
    input_sample_rate = 24000
    output_sample_rate = 24000
    supports_truncate = True

    @property
    def transcribes_input(self) -> bool:
        """Whether user speech is transcribed (the client then waits for the transcript)."""
        return self.input_transcription is not None

    def __init__(
        self,
        url: Optional[str] = None,
        model: Optional[str] = None,
        *,
        input_transcription: Union[str, Mapping[str, Any], bool, None] = "whisper-1",
        noise_reduction: Optional[str] = None,
        tool_choice: Union[str, Mapping[str, Any], None] = None,
        speed: Optional[float] = None,
    ) -> None:
        self.url = check_ws_url(DEFAULT_URL if url is None else url)
        if model is not None and (not isinstance(model, str) or not model):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        self.model = model
        self.input_transcription = _transcription(input_transcription)
        if noise_reduction is not None and noise_reduction not in _NOISE_REDUCTION:
            raise ValueError(f"noise_reduction must be one of {_NOISE_REDUCTION} or None, "
                             f"got {noise_reduction!r}")
        self.noise_reduction = noise_reduction
        self.tool_choice = _tool_choice(tool_choice)
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                                  or not 0.25 <= speed <= 1.5):
            raise ValueError(f"speed must be a number between 0.25 and 1.5, got {speed!r}")
        self.speed = None if speed is None else float(speed)
        self._warned: Set[str] = set()
        self._handlers: Dict[str, Handler] = self._build_handlers()

    def __repr__(self) -> str:
        return f"OpenAIRealtimeAdapter(url={self.url!r}, model={self.model!r})"

    # --- connection and session -------------------------------------------------------

    def connection_request(self, token: RealtimeToken, config: SessionConfig) -> ConnectionRequest:
        """URL and headers for a new connection.

        The model is, in order: the adapter's ``model``, ``config.model``, the token's
        ``config.model``, then :data:`DEFAULT_MODEL`; it is appended as ``?model=`` unless the
        URL already names a ``model`` or ``call_id``. Auth is ``Authorization: Bearer <token>``.

        Raises:
            ValueError: the token is empty or has characters not allowed in an HTTP header
                (the message never contains the token).
        """
        secret = token.token
        if not secret or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in secret):
            raise ValueError("the token is empty or contains characters not allowed in an HTTP header")
        model = self.model or config.model or token.config.model or DEFAULT_MODEL
        url = with_query_param(self.url, "model", model, unless=("call_id",))
        return ConnectionRequest(url=url, headers={"Authorization": f"Bearer {secret}"})

    def session_update(self, config: SessionConfig, event_id: Optional[str] = None) -> Frame:
        """A GA ``session.update`` applying ``config`` (``session.type`` is ``"realtime"``).

        Only settings that are set are sent, except ``tools`` (always sent, ``[]`` clears),
        turn detection (``null`` in manual mode) and transcription (``null`` when disabled).
        ``output_modalities`` holds exactly one value: asking for both gives ``["audio"]``,
        whose replies come with a transcript. ``temperature`` is never sent (the GA API
        rejects the whole update), and neither is ``model`` (fixed at connect).
        ``config.provider_options`` is deep-merged into ``session`` last, as an escape hatch:
        the server rejects the *whole* update if it holds an unknown key.
        """
        audio_in: Dict[str, Any] = {"format": dict(_PCM24K), "turn_detection": self._turn_detection(config)}
        transcription = self.input_transcription
        audio_in["transcription"] = None if transcription is None else dict(transcription)
        if self.noise_reduction is not None:
            audio_in["noise_reduction"] = {"type": self.noise_reduction}
        audio_out: Dict[str, Any] = {"format": dict(_PCM24K)}
        if config.voice is not None:
            audio_out["voice"] = config.voice
        if self.speed is not None:
            audio_out["speed"] = self.speed
        session: Dict[str, Any] = {"type": "realtime"}
        if config.instructions is not None:
            session["instructions"] = config.instructions
        if config.output_modalities:
            session["output_modalities"] = ["audio" if "audio" in config.output_modalities else "text"]
        session["audio"] = {"input": audio_in, "output": audio_out}
        session["tools"] = [_function_tool(t) for t in config.tools]
        if self.tool_choice is not None:
            choice = self.tool_choice
            session["tool_choice"] = dict(choice) if isinstance(choice, dict) else choice
        if config.max_output_tokens is not None:
            session["max_output_tokens"] = config.max_output_tokens
        if config.temperature is not None:
            self._warn_once("temperature", "temperature is not supported by the OpenAI Realtime GA API "
                            "(it would reject the whole session.update); it is ignored")
        if config.provider_options:
            extra = dict(config.provider_options)
            for key in _FORBIDDEN_SESSION_KEYS:
                if key in extra:
                    del extra[key]
                    self._warn_once(f"po.{key}", f"provider_options[{key!r}] is not sent: the OpenAI GA "
                                    "session.update cannot carry it")
            session = deep_merge(session, extra)
        return {"type": "session.update", "event_id": event_id or new_event_id(), "session": session}

    def _turn_detection(self, config: SessionConfig) -> Optional[Dict[str, Any]]:
        vad = config.vad_config
        if config.vad_mode == "manual":
            return None
        if config.vad_mode == "semantic":
            out: Dict[str, Any] = {"type": "semantic_vad"}
            if config.semantic_eagerness is not None:
                out["eagerness"] = config.semantic_eagerness
            fields: Tuple[str, ...] = _SEMANTIC_VAD_FIELDS
            if vad is not None and any(getattr(vad, f) is not None for f in _SERVER_VAD_FIELDS
                                       if f not in fields):
                self._warn_once("semantic_vad", "semantic VAD takes only create_response and "
                                "interrupt_response from vad_config; the other fields are ignored")
        else:
            out = {"type": "server_vad"}
            fields = _SERVER_VAD_FIELDS
        if vad is not None:
            for name in fields:
                value = getattr(vad, name)
                if value is not None:
                    out[name] = value
        return out

    def server_cancels_on_speech(self, config: SessionConfig) -> bool:
        """True for server/semantic VAD unless ``vad_config.interrupt_response`` is False."""
        if config.vad_mode not in ("server", "semantic"):
            return False
        return not (config.vad_config is not None and config.vad_config.interrupt_response is False)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("openai_realtime: %s", message)

    # --- frame builders (each client event gets an event_id the server echoes in errors,
    # --- except the high-rate audio append) --------------------------------------------

    def user_message(self, item_id: str, parts: Sequence[Union[TextPart, ImagePart]]) -> Frame:
        """``conversation.item.create`` with a user message of text and image parts.

        Raises:
            TypeError: a part is neither a TextPart nor an ImagePart.
            ValueError: ``parts`` is empty.
        """
        content = []
        for part in parts:
            if isinstance(part, TextPart):
                content.append({"type": "input_text", "text": part.content})
            elif isinstance(part, ImagePart):
                content.append({"type": "input_image", "image_url": image_url(part)})
            else:
                raise TypeError("a user message part must be TextPart or ImagePart, "
                                f"got {type(part).__name__}")
        if not content:
            raise ValueError("a user message needs at least one part")
        item: Dict[str, Any] = {"type": "message", "role": "user", "content": content}
        if item_id:
            item["id"] = item_id
        return {"type": "conversation.item.create", "event_id": new_event_id(), "item": item}

    def create_response(self) -> Frame:
        """``response.create`` with the session's settings."""
        return {"type": "response.create", "event_id": new_event_id()}

    def cancel_response(self, response_id: Optional[str] = None) -> Frame:
        """``response.cancel``, for ``response_id`` or the active response."""
        frame: Dict[str, Any] = {"type": "response.cancel", "event_id": new_event_id()}
        if response_id:
            frame["response_id"] = response_id
        return frame

    def append_audio(self, pcm: bytes) -> Frame:
        """``input_audio_buffer.append`` with base64 PCM16 at 24 kHz (no event_id: hot path)."""
        return {"type": "input_audio_buffer.append", "audio": b64encode(pcm)}

    def commit_audio(self) -> Frame:
        """``input_audio_buffer.commit`` (the server needs at least 100 ms of audio)."""
        return {"type": "input_audio_buffer.commit", "event_id": new_event_id()}

    def clear_audio(self) -> Frame:
        """``input_audio_buffer.clear``."""
        return {"type": "input_audio_buffer.clear", "event_id": new_event_id()}

    def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> Frame:
        """``conversation.item.truncate`` at ``audio_end_ms`` (floored to an int, at least 0)."""
        return {"type": "conversation.item.truncate", "event_id": new_event_id(), "item_id": item_id,
                "content_index": int(content_index), "audio_end_ms": max(0, int(audio_end_ms))}

    def tool_result(self, call_id: str, output: str) -> Frame:
        """A ``function_call_output`` item for ``call_id`` (non-strings are JSON-encoded)."""
        return {"type": "conversation.item.create", "event_id": new_event_id(),
                "item": {"type": "function_call_output", "call_id": call_id, "output": as_text(output)}}

    def history_items(self, messages: Sequence[RealtimeMessage]) -> List[Frame]:
        """``conversation.item.create`` frames replaying ``messages`` in order; the mapping
        (and why tool calls without a result are left out) is in :func:`conversation_items`."""
        return [{"type": "conversation.item.create", "event_id": new_event_id(), "item": item}
                for item in conversation_items(messages)]

    # --- parsing ----------------------------------------------------------------------

    def parse(self, frame: Union[str, bytes]) -> List[ev.Event]:
        """Normalized events for one received frame; never raises.

        Frames that are not UTF-8 JSON objects with a string ``type``, or whose fields have
        the wrong types, become ``Malformed``; unknown types become ``UnknownEvent``; known
        types the client does not need become ``Ignored``.
        Optional informational parts of ``response.done`` (usage, status details, output
        list) that are malformed are dropped instead, so the response still ends.
        """
        decoded = decode_frame(frame)
        if isinstance(decoded, ev.Malformed):
            return [decoded]
        msg, kind, text = decoded
        handler = self._handlers.get(kind)
        if handler is None:
            return [ev.UnknownEvent(kind[:100])]
        try:
            return [handler(msg)]
        except FrameError as exc:
            return [ev.Malformed(f"{kind}: {exc}", excerpt(text))]
        except Exception as exc:  # a bug here must not kill the reader thread
            logger.warning("openai_realtime: internal error parsing %s", kind[:100], exc_info=True)
            return [ev.Malformed(f"{kind}: internal adapter error ({type(exc).__name__})", excerpt(text))]

    def _build_handlers(self) -> Dict[str, Handler]:
        handlers: Dict[str, Handler] = {t: _constant(ev.Ignored(t)) for t in _IGNORED_TYPES}
        handlers.update({
            "session.created": self._on_session_created,
            "session.updated": self._on_session_updated,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "input_audio_buffer.committed": self._on_committed,
            "conversation.item.input_audio_transcription.delta": self._on_user_delta,
            "conversation.item.input_audio_transcription.completed": self._on_user_done,
            "conversation.item.input_audio_transcription.failed": self._on_user_failed,
            "response.created": self._on_response_created,
            "response.output_item.added": self._on_item_added,
            "response.output_audio.delta": self._on_audio_delta,
            "response.audio.delta": self._on_audio_delta,
            "response.output_audio.done": self._on_audio_done,
            "response.audio.done": self._on_audio_done,
            "response.output_audio_transcript.delta": self._on_audio_transcript_delta,
            "response.audio_transcript.delta": self._on_audio_transcript_delta,
            "response.output_audio_transcript.done": self._on_audio_transcript_done,
            "response.audio_transcript.done": self._on_audio_transcript_done,
            "response.output_text.delta": self._on_text_delta,
            "response.text.delta": self._on_text_delta,
            "response.output_text.done": self._on_text_done,
            "response.text.done": self._on_text_done,
            "response.function_call_arguments.done": self._on_tool_call,
            "response.done": self._on_response_done,
            "conversation.item.truncated": self._on_truncated,
            "error": self._on_error,
        })
        return handlers

    def _on_audio_delta(self, m: Dict[str, Any]) -> ev.Event:
        delta = m.get("delta")
        if type(delta) is not str:
            raise FrameError(f"delta must be a base64 string, got {type_name(delta)}")
        try:
            pcm = b64decode_strict(delta)
        except ValueError:
            raise FrameError("delta is not valid base64") from None
        return ev.AudioDelta(req_str(m, "item_id"), pcm, opt_str(m, "response_id"),
                          opt_int(m, "content_index") or 0)

    def _on_session_created(self, m: Dict[str, Any]) -> ev.Event:
        return ev.SessionReady(req_obj(m, "session"))

    def _on_session_updated(self, m: Dict[str, Any]) -> ev.Event:
        return ev.SessionUpdated(req_obj(m, "session"))

    def _on_speech_started(self, m: Dict[str, Any]) -> ev.Event:
        return ev.SpeechStarted(opt_str(m, "item_id"), opt_int(m, "audio_start_ms"))

    def _on_speech_stopped(self, m: Dict[str, Any]) -> ev.Event:
        return ev.SpeechStopped(opt_str(m, "item_id"), opt_int(m, "audio_end_ms"))

    def _on_committed(self, m: Dict[str, Any]) -> ev.Event:
        return ev.InputCommitted(req_str(m, "item_id"), opt_str(m, "previous_item_id"))

    def _on_user_delta(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDelta("user", req_str(m, "item_id"), opt_str(m, "delta") or "", "audio")

    def _on_user_done(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDone("user", req_str(m, "item_id"), req_str(m, "transcript"), "audio")

    def _on_user_failed(self, m: Dict[str, Any]) -> ev.Event:
        error = opt_obj(m, "error") or {}
        return ev.UserTranscriptFailed(req_str(m, "item_id"), opt_str(error, "message", "error.") or "")

    def _on_response_created(self, m: Dict[str, Any]) -> ev.Event:
        return ev.ResponseStarted(req_str(req_obj(m, "response"), "id", "response."))

    def _on_item_added(self, m: Dict[str, Any]) -> ev.Event:
        item = req_obj(m, "item")
        item_type = opt_str(item, "type", "item.")
        if item_type not in ("message", "function_call"):
            return ev.Ignored("response.output_item.added")  # MCP items: nothing for the client to do
        return ev.AssistantItemStarted(req_str(item, "id", "item."), opt_str(m, "response_id"), item_type)

    def _on_audio_done(self, m: Dict[str, Any]) -> ev.Event:
        return ev.AudioDone(req_str(m, "item_id"), opt_str(m, "response_id"))

    def _on_audio_transcript_delta(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDelta("assistant", req_str(m, "item_id"), req_str(m, "delta"), "audio",
                               opt_str(m, "response_id"))

    def _on_audio_transcript_done(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDone("assistant", req_str(m, "item_id"), req_str(m, "transcript"), "audio",
                              opt_str(m, "response_id"))

    def _on_text_delta(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDelta("assistant", req_str(m, "item_id"), req_str(m, "delta"), "text",
                               opt_str(m, "response_id"))

    def _on_text_done(self, m: Dict[str, Any]) -> ev.Event:
        return ev.TranscriptDone("assistant", req_str(m, "item_id"), req_str(m, "text"), "text",
                              opt_str(m, "response_id"))

    def _on_tool_call(self, m: Dict[str, Any]) -> ev.Event:
        call_id = opt_str(m, "call_id")
        if not call_id:
            # A function_call_output sent under another id is silently ignored by the server.
            raise FrameError("call_id is missing (item_id is not a substitute)")
        return ev.ToolCall(call_id, req_str(m, "name"), req_str(m, "arguments"), opt_str(m, "item_id"),
                        opt_str(m, "response_id"))

    def _on_response_done(self, m: Dict[str, Any]) -> ev.Event:
        response = req_obj(m, "response")
        response_id = req_str(response, "id", "response.")
        status = opt_str(response, "status", "response.") or "completed"
        reason = error_message = None
        details = response.get("status_details")
        if type(details) is dict:
            reason = _str_or_none(details.get("reason"))
            error = details.get("error")
            if type(error) is dict:
                error_message = (_str_or_none(error.get("message")) or _str_or_none(error.get("code"))
                                 or _str_or_none(error.get("type")))
        if status != "failed":
            error_message = None
        elif not error_message:
            error_message = "the response failed"
        output = response.get("output")
        item_ids = [it["id"] for it in output if type(it) is dict and type(it.get("id")) is str] \
            if type(output) is list else []
        return ev.ResponseDone(response_id, status, reason, usage_info(response.get("usage"), response_id),
                            item_ids, error_message)

    def _on_truncated(self, m: Dict[str, Any]) -> ev.Event:
        return ev.ItemTruncated(req_str(m, "item_id"), opt_int(m, "audio_end_ms") or 0)

    def _on_error(self, m: Dict[str, Any]) -> ev.Event:
        error = req_obj(m, "error")
        code = opt_str(error, "code", "error.")
        message = opt_str(error, "message", "error.") or ""
        # Cancelling a response that just ended is the client's own race, not a failure.
        benign = code == "response_cancel_not_active" or (
            code is None and "no active response" in message.lower())
        return ev.ProviderErrorEvent(message or code or "unknown provider error", code,
                                  opt_str(error, "type", "error."), opt_str(error, "param", "error."),
                                  opt_str(error, "event_id", "error."), benign)


def openai_realtime(
    url: Optional[str] = None,
    model: Optional[str] = None,
    *,
    input_transcription: Union[str, Mapping[str, Any], bool, None] = "whisper-1",
    noise_reduction: Optional[str] = None,
    tool_choice: Union[str, Mapping[str, Any], None] = None,
    speed: Optional[float] = None,
) -> OpenAIRealtimeAdapter:
    """An adapter for the OpenAI Realtime API (GA, WebSocket).

    Args:
        url: the WebSocket endpoint; default ``wss://api.openai.com/v1/realtime``. Plain
            ``ws://`` is refused unless the host is loopback (localhost, 127.0.0.0/8, ::1).
        model: the model, sent as ``?model=``; default: the session config's or the token's
            model, else :data:`DEFAULT_MODEL` (``gpt-realtime-2.1``).
        input_transcription: transcribe the user's speech: a model name (default
            ``"whisper-1"``), a full transcription mapping (``{"model", "language",
            "prompt", ...}``), ``True`` for the default, or ``False``/``None`` to disable.
        noise_reduction: ``"near_field"`` or ``"far_field"`` input noise reduction.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function",
            "name": ...}``.
        speed: speech speed, 0.25 to 1.5 (server default 1.0).

    Raises:
        ValueError: an invalid URL or option value.

    Example::

        client = RealtimeClient(get_token=..., adapter=openai_realtime(model="gpt-realtime"))

    .. versionadded:: 0.1.0
    """
    return OpenAIRealtimeAdapter(url, model, input_transcription=input_transcription,
                                 noise_reduction=noise_reduction, tool_choice=tool_choice, speed=speed)


# --- helpers --------------------------------------------------------------------------


def _transcription(value: Union[str, Mapping[str, Any], bool, None]) -> Optional[Dict[str, Any]]:
    if value is None or value is False:
        return None
    if value is True:
        return {"model": "whisper-1"}
    if isinstance(value, str):
        if not value:
            raise ValueError("input_transcription model name must not be empty")
        return {"model": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"input_transcription must be a model name, a dict, True, False or None, "
                    f"got {type(value).__name__}")


def _tool_choice(value: Union[str, Mapping[str, Any], None]) -> Union[str, Dict[str, Any], None]:
    if value is None or isinstance(value, Mapping):
        return None if value is None else dict(value)
    if value in _TOOL_CHOICES:
        return value
    raise ValueError(f"tool_choice must be one of {_TOOL_CHOICES} or a dict like "
                     f"{{'type': 'function', 'name': ...}}, got {value!r}")


def _function_tool(tool: Any) -> Dict[str, Any]:
    schema = tool_schema(tool)
    schema.setdefault("type", "function")
    return schema


def _str_or_none(value: Any) -> Optional[str]:
    return value if type(value) is str else None
