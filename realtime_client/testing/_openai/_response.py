"""How the OpenAI peer renders a :class:`Reply`: the step-wise stream of one response (§1.9 A/B/C).

A :class:`ResponseRun` is I/O free: the fake server's sender thread asks the peer for the next
step, which calls :meth:`ResponseRun.step` for the next batch of frames and the audio time they
represent, so a ``response.cancel``, truncate or barge-in handled in between can stop the
response with the partial ``*.done`` events. One response may carry several output items
(:meth:`Reply.sequence`), end ``incomplete`` at ``max_output_tokens``, or fail (:meth:`Reply.failed`).
"""

from __future__ import annotations

import base64
import copy
import json
import math
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple, Union

from ...adapters._openai._wire import G711_RATE, PCM_RATE, RATE_LIMIT_EXCEEDED, UNLIMITED_OUTPUT_TOKENS
from .._audio import alaw_encode, pcm16_bytes, synthesize_speech, ulaw_encode
from .._reply import Reply, split_words, text_tokens

__all__ = ["ResponseRun", "bytes_per_ms", "default_reply", "encode_audio", "input_usage", "wire_rate"]

#: pacing of one text or arguments delta in "realtime" mode (assistant audio paces itself)
TEXT_DELTA_MS = 30.0
MS_PER_CHAR = 60.0

#: what a response stream yields per step: frames and the milliseconds of audio they carry
_Steps = Generator[Tuple[List[Dict[str, Any]], float], None, None]


def bytes_per_ms(fmt: Optional[Dict[str, Any]]) -> int:
    """Bytes per millisecond of an audio format object (48 for 24 kHz PCM16, 8 for G.711)."""
    g711 = fmt and fmt.get("type") in ("audio/pcmu", "audio/pcma")
    return G711_RATE // 1000 if g711 else PCM_RATE * 2 // 1000


def encode_audio(duration_ms: float, fmt: Optional[Dict[str, Any]], seed: int,
                 speech: Any = None) -> bytes:
    """Speech in the wire format ``fmt``: ``speech`` (int16 samples at the format's rate) when
    given, else ``duration_ms`` of synthetic speech."""
    kind = (fmt or {}).get("type", "audio/pcm")
    rate = G711_RATE if kind in ("audio/pcmu", "audio/pcma") else PCM_RATE
    samples = synthesize_speech(duration_ms, rate, seed) if speech is None else speech
    if kind == "audio/pcmu":
        return ulaw_encode(samples)
    if kind == "audio/pcma":
        return alaw_encode(samples)
    return pcm16_bytes(samples)


def wire_rate(fmt: Optional[Dict[str, Any]]) -> int:
    """Samples per second of an audio format object (24,000 for PCM, 8,000 for G.711)."""
    return G711_RATE if (fmt or {}).get("type") in ("audio/pcmu", "audio/pcma") else PCM_RATE


class _Output:
    """Progress of the output item being streamed."""

    def __init__(self, item: Dict[str, Any], kind: str, index: int) -> None:
        self.item = item
        self.kind = kind          # "audio", "text" or "call"
        self.index = index
        self.sent_text = ""


class ResponseRun:
    """One response being streamed. Built by the protocol session, which passes itself as ``ctx``.

    ``ctx`` provides ``frame(type, **fields)``, ``new_id(prefix)``, ``insert_item(item)`` (returns
    the previous item id), ``store_audio(item_id, data, bytes_per_ms)``, ``note_audio_produced()``
    and ``rate_limits`` (bool); optionally ``speak(text, rate)`` for reply speech (see
    :class:`~.._peer.PeerSettings`), else the synthetic voice.

    Threads: not thread-safe; always called under the connection lock.
    """

    def __init__(self, ctx: Any, *, reply: Reply, modality: str, voice: Any, fmt: Dict[str, Any],
                 max_output_tokens: Union[int, str], conversation_id: Optional[str],
                 metadata: Optional[Dict[str, Any]], chunk_ms: int, input_usage: Dict[str, Any]) -> None:
        self._ctx = ctx
        self.id: str = ctx.new_id("resp")
        self.reply = reply
        self.in_conversation = conversation_id is not None
        self.modality = "audio" if any(part.kind == "audio" for part in reply.items) else modality
        self.fmt = fmt
        self.chunk_ms = max(1, int(chunk_ms))
        self.max_output_tokens = _effective_limit(max_output_tokens, reply)
        self.done = False
        self._current: Optional[_Output] = None
        self._out_text = ""
        self._out_audio_ms = 0.0
        self._input_usage = input_usage
        voice_name = voice.get("id") if isinstance(voice, dict) else voice
        self.response: Dict[str, Any] = {
            "object": "realtime.response", "id": self.id, "status": "in_progress", "status_details": None,
            "output": [], "conversation_id": conversation_id, "output_modalities": [self.modality],
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": copy.deepcopy(fmt), "voice": voice_name}},
            "metadata": metadata, "usage": None,
        }
        self._gen = self._run()

    # -- public --------------------------------------------------------------------------

    def created_frame(self) -> Dict[str, Any]:
        """The ``response.created`` event (sent as soon as the response is accepted)."""
        return self._ctx.frame("response.created", response=copy.deepcopy(self.response))

    def step(self) -> Tuple[List[Dict[str, Any]], float]:
        """The next frames of the stream and the milliseconds of audio they carry."""
        try:
            return next(self._gen)
        except StopIteration:
            return [], 0.0

    def cancel(self, reason: str) -> List[Dict[str, Any]]:
        """Stop now: the pending ``*.done`` events with partial content, then ``response.done``."""
        self._gen.close()
        frames = self._finish_current("incomplete") if self._current else []
        return frames + self._done("cancelled", {"type": "cancelled", "reason": reason})

    @property
    def current_item_id(self) -> Optional[str]:
        """Id of the output item being streamed, if any."""
        return self._current.item["id"] if self._current else None

    # -- stream --------------------------------------------------------------------------

    def _ev(self, type_: str, out: _Output, content: bool = True, **fields: Any) -> Dict[str, Any]:
        base: Dict[str, Any] = {"response_id": self.id, "item_id": out.item["id"], "output_index": out.index}
        if content:
            base["content_index"] = 0
        return self._ctx.frame(type_, **base, **fields)

    def _begin(self, item: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
        out = _Output(item, kind, len(self.response["output"]))
        self.response["output"].append(item)
        self._current = out
        frames = [self._ctx.frame("response.output_item.added", response_id=self.id, output_index=out.index,
                                  item=copy.deepcopy(item))]
        if self.in_conversation:
            previous = self._ctx.insert_item(item)
            frames.append(self._ctx.frame("conversation.item.added", previous_item_id=previous,
                                          item=copy.deepcopy(item)))
        return frames

    def _run(self) -> _Steps:
        reply = self.reply
        if reply.kind == "failed":
            error = {"type": reply.error_type, "code": reply.code or RATE_LIMIT_EXCEEDED,
                     "message": reply.content}
            yield self._done("failed", {"type": "failed", "error": error}), 0.0
            return
        lead: List[Dict[str, Any]] = []  # the previous item's closing frames, sent with the next step
        for part in reply.items:
            if part.kind == "tool_call":
                lead = yield from self._tool_call(part, lead)
                continue
            lead, cut = yield from self._message(part, lead)
            if cut:
                details = {"type": "incomplete", "reason": "max_output_tokens"}
                yield lead + self._done("incomplete", details), 0.0
                return
        yield lead + self._done("completed", None), 0.0

    def _message(self, part: Reply, lead: List[Dict[str, Any]]) -> Generator[
            Tuple[List[Dict[str, Any]], float], None, Tuple[List[Dict[str, Any]], bool]]:
        """Stream one assistant message; return its closing frames and whether it was cut off."""
        audio = self.modality == "audio"
        text, duration, cut = self._fit(part.content, part.duration_ms)
        item = {"id": self._ctx.new_id("item"), "object": "realtime.item", "type": "message",
                "role": "assistant", "status": "in_progress", "content": []}
        frames = lead + self._begin(item, "audio" if audio else "text")
        out = self._current
        assert out is not None
        content_part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        frames.append(self._ev("response.content_part.added", out, part=content_part))
        yield frames, 0.0
        words = split_words(text)
        if audio:
            bpm = bytes_per_ms(self.fmt)
            data = encode_audio(duration, self.fmt, seed=len(text) * 7919 + sum(map(ord, text[:64])),
                                speech=self._speech(text, part))
            chunk = bpm * self.chunk_ms
            count = max(1, math.ceil(len(data) / chunk))
            said = 0
            for k in range(count):
                piece = data[k * chunk:(k + 1) * chunk]
                self._ctx.store_audio(item["id"], piece, bpm, self.in_conversation)
                self._ctx.note_audio_produced()
                self._out_audio_ms += len(piece) / bpm
                encoded = base64.b64encode(piece).decode()
                frames = [self._ev("response.output_audio.delta", out, delta=encoded)]
                due = round(len(words) * (k + 1) / count)
                while said < due:
                    out.sent_text += words[said]
                    frames.append(self._ev("response.output_audio_transcript.delta", out, delta=words[said]))
                    said += 1
                yield frames, len(piece) / bpm
        else:
            for word in words:
                out.sent_text += word
                yield [self._ev("response.output_text.delta", out, delta=word)], TEXT_DELTA_MS
        return self._finish_current("incomplete" if cut else "completed"), cut

    def _speech(self, text: str, part: Reply) -> Any:
        """Spoken samples for ``text`` from the server's voice, or None for the synthetic one.

        A reply whose ``duration_ms`` was given keeps the synthetic voice, so its length holds.
        """
        speak = getattr(self._ctx, "speak", None)
        if speak is None or part.duration_ms is not None or not text.strip():
            return None
        return speak(text, wire_rate(self.fmt))

    def _tool_call(self, reply: Reply, lead: List[Dict[str, Any]]) -> Generator[
            Tuple[List[Dict[str, Any]], float], None, List[Dict[str, Any]]]:
        """Stream one function call; return its closing frames."""
        call_id = reply.call_id or self._ctx.new_id("call")
        item = {"id": self._ctx.new_id("item"), "object": "realtime.item", "type": "function_call",
                "status": "in_progress", "call_id": call_id, "name": reply.name, "arguments": ""}
        yield lead + self._begin(item, "call"), 0.0
        out = self._current
        assert out is not None
        args = reply.arguments
        for i in range(0, len(args), 16):
            out.sent_text += args[i:i + 16]
            yield [self._ev("response.function_call_arguments.delta", out, content=False, call_id=call_id,
                            delta=args[i:i + 16])], TEXT_DELTA_MS
        return self._finish_current("completed")

    def _fit(self, text: str, duration_ms: Optional[float]) -> Tuple[str, float, bool]:
        """Cut ``text`` (and its audio) to the tokens left; return text, duration and whether it was cut."""
        full = duration_ms if duration_ms is not None else max(300.0, MS_PER_CHAR * len(text))
        if self.max_output_tokens == UNLIMITED_OUTPUT_TOKENS:
            return text, full, False
        used = text_tokens(self._out_text) + math.ceil(self._out_audio_ms / 50.0)
        limit = int(self.max_output_tokens) - used
        kept = ""
        for word in split_words(text):
            candidate = kept + word
            ms = full * len(candidate) / max(1, len(text))
            tokens = text_tokens(candidate) + (math.ceil(ms / 50.0) if self.modality == "audio" else 0)
            if tokens > limit:
                break
            kept = candidate
        if kept == text:
            return text, full, False
        return kept, max(self.chunk_ms, full * len(kept) / max(1, len(text))), True

    def _finish_current(self, status: str) -> List[Dict[str, Any]]:
        out = self._current
        assert out is not None
        self._current = None
        item = out.item
        frames: List[Dict[str, Any]] = []
        if out.kind == "audio":
            frames.append(self._ev("response.output_audio.done", out))
            frames.append(self._ev("response.output_audio_transcript.done", out, transcript=out.sent_text))
            frames.append(self._ev("response.content_part.done", out,
                                   part={"type": "audio", "transcript": out.sent_text}))
            item["content"] = [{"type": "output_audio", "transcript": out.sent_text}]
        elif out.kind == "text":
            frames.append(self._ev("response.output_text.done", out, text=out.sent_text))
            frames.append(self._ev("response.content_part.done", out,
                                   part={"type": "text", "text": out.sent_text}))
            item["content"] = [{"type": "output_text", "text": out.sent_text}]
        else:
            frames.append(self._ev("response.function_call_arguments.done", out, content=False,
                                   call_id=item["call_id"], name=item["name"], arguments=out.sent_text))
            item["arguments"] = out.sent_text
        self._out_text += out.sent_text
        item["status"] = status
        frames.append(self._ctx.frame("response.output_item.done", response_id=self.id,
                                      output_index=out.index, item=copy.deepcopy(item)))
        if self.in_conversation:
            frames.append(self._ctx.frame("conversation.item.done", item=copy.deepcopy(item),
                                          previous_item_id=self._ctx.previous_of(item)))
        return frames

    def _done(self, status: str, details: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        self.done = True
        self.response["status"] = status
        self.response["status_details"] = details
        self.response["usage"] = self._usage()
        frames = [self._ctx.frame("response.done", response=copy.deepcopy(self.response))]
        if self._ctx.rate_limits:
            used = self.response["usage"]["total_tokens"]
            frames.append(self._ctx.frame("rate_limits.updated", rate_limits=[
                {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                {"name": "tokens", "limit": 40000, "remaining": max(0, 40000 - used),
                 "reset_seconds": round(used * 0.0015, 3)}]))
        return frames

    def _usage(self) -> Dict[str, Any]:
        inp = self._input_usage
        out_text = text_tokens(self._out_text)
        out_audio = math.ceil(self._out_audio_ms / 50.0)
        input_tokens = inp["text_tokens"] + inp["audio_tokens"] + inp["image_tokens"]
        return {
            "total_tokens": input_tokens + out_text + out_audio,
            "input_tokens": input_tokens,
            "output_tokens": out_text + out_audio,
            "input_token_details": copy.deepcopy(inp),
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }


def _effective_limit(requested: Union[int, str], reply: Reply) -> Union[int, str]:
    """The response's token limit: the request's, lowered by a scripted ``max_output_tokens``."""
    scripted = [p.max_output_tokens for p in reply.items if p.max_output_tokens is not None]
    if not scripted:
        return requested
    lowest = min(scripted)
    return lowest if requested == UNLIMITED_OUTPUT_TOKENS else min(int(requested), lowest)


def default_reply(context: List[Dict[str, Any]], heard: Optional[Dict[str, str]] = None) -> Reply:
    """The reply used when the script is empty, from the last item of the response's context.

    ``heard`` maps user audio item ids to the words the server recognised in them; a voice
    turn with words is answered ``"You said: <words>"``, one without ``"I heard you."``.
    """
    last = context[-1] if context else None
    if last is not None and last.get("type") == "function_call_output":
        return Reply.text(f"The tool returned: {last.get('output', '')}")
    if last is not None and last.get("type") == "message" and last.get("role") == "user":
        parts = last.get("content") or []
        texts = [p.get("text", "") for p in parts if p.get("type") == "input_text"]
        if texts:
            return Reply.text("You said: " + " ".join(texts))
        if any(p.get("type") == "input_audio" for p in parts):
            words = (heard or {}).get(str(last.get("id", "")))
            return Reply.text("You said: " + words if words else "I heard you.")
        if any(p.get("type") == "input_image" for p in parts):
            return Reply.text("I see the image.")
    return Reply.text("Hello! How can I help you today?")


def input_usage(instructions: str, tools: List[Any], context: List[Dict[str, Any]],
                audio_ms: Callable[[str], float], previous_total: int) -> Dict[str, Any]:
    """Plausible ``input_token_details`` for a response over ``context``.

    Text is about four characters per token plus four per item, input audio one token per
    100 ms, an image 85 tokens; the previous response's input counts as cached (in 64-token steps).
    """
    text = text_tokens(instructions) + sum(text_tokens(json.dumps(t)) for t in tools)
    audio = image = 0
    for item in context:
        text += 4
        if item.get("type") != "message":
            text += text_tokens(str(item.get("arguments", "")) + str(item.get("output", "")))
            continue
        for part in item.get("content") or []:
            kind = part.get("type")
            if kind in ("input_audio", "output_audio"):
                audio += math.ceil(audio_ms(str(item.get("id", ""))) / 100.0)
            elif kind == "input_image":
                image += 85
            else:
                text += text_tokens(str(part.get("text") or ""))
    cached = min(previous_total, text + audio + image) // 64 * 64
    cached_text = min(cached, text)
    return {"text_tokens": text, "audio_tokens": audio, "image_tokens": image, "cached_tokens": cached,
            "cached_tokens_details": {"text_tokens": cached_text, "image_tokens": 0,
                                      "audio_tokens": min(cached - cached_text, audio)}}
