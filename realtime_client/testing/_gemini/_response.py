"""One model turn of the fake Gemini server, rendered from a :class:`~.._reply.Reply` step by step.

Audio turns stream ``modelTurn`` audio parts (24 kHz PCM16) with ``outputTranscription``
fragments in the same ``serverContent`` (the 3.1 shape); text turns stream text parts. A tool
call sends ``toolCall`` and waits for every ``toolResponse``; the model then goes on in the same
turn. The turn ends with ``generationComplete`` and ``turnComplete`` carrying ``usageMetadata``.
Gemini has no error events: ``Reply.error`` closes with 1007, ``Reply.failed`` with 1011.
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple

from ...adapters._common import b64encode
from ...adapters._gemini._wire import CLOSE_INTERNAL, CLOSE_INVALID_ARGUMENT, OUTPUT_RATE
from .._audio import pcm16_bytes, synthesize_speech
from .._peer import Close
from .._reply import Reply, split_words, text_tokens

__all__ = ["ModelTurn", "default_reply"]

_MS_PER_CHAR = 60.0
_Steps = Generator[Tuple[List[Any], float], None, None]


def default_reply(history: List[Dict[str, Any]], voice: bool = False) -> Reply:
    """The reply used when the script is empty, from the last turn of the conversation
    (``voice``: that turn was spoken)."""
    last = history[-1] if history else None
    parts = last.get("parts", []) if isinstance(last, dict) else []
    if last is not None and last.get("role") == "user":
        results = [p["functionResponse"] for p in parts if "functionResponse" in p]
        if results:
            return Reply.text("The tool returned: " + json.dumps(results[-1].get("response", {}).get(
                "output", results[-1].get("response")), separators=(",", ":")))
        texts = [p["text"] for p in parts if isinstance(p.get("text"), str)]
        if voice:
            return Reply.text("I heard you.")
        if texts:
            return Reply.text("You said: " + " ".join(texts))
        if any("inlineData" in p for p in parts):
            return Reply.text("I see the image.")
    return Reply.text("Hello! How can I help you today?")


class ModelTurn:
    """The frames of one model turn, one step at a time (sans-I/O; the peer owns it)."""

    def __init__(self, reply: Reply, *, audio: bool, chunk_ms: int, seed: int,
                 next_reply: Callable[[], Reply], usage: Callable[[str], Dict[str, Any]],
                 speak: Optional[Callable[[str, int], Any]] = None) -> None:
        self._audio = audio
        self._speech_of = speak
        self._chunk_ms = chunk_ms
        self._seed = seed
        self._next_reply = next_reply
        self._usage = usage
        self.spoken = ""  # what the model has said so far (the turn's text in the history)
        self.calls: Dict[str, str] = {}  # pending function calls: id -> name
        self.called: List[Dict[str, Any]] = []  # every functionCall part, in order
        self.done = False
        self._steps = self._run(reply)

    @property
    def waiting(self) -> bool:
        """The model waits for tool responses."""
        return bool(self.calls)

    def step(self) -> Tuple[List[Any], float]:
        """The next frames and the audio milliseconds they carry (``done`` set at the end)."""
        if self.done or self.waiting:
            return [], 0.0
        try:
            return next(self._steps)
        except StopIteration:
            self.done = True
            return [], 0.0

    def answer(self, call_id: str) -> bool:
        """A tool response arrived; True if it answered a pending call."""
        return self.calls.pop(call_id, None) is not None

    def _run(self, reply: Reply) -> _Steps:
        while True:
            called = False
            for item in reply.items:
                if item.kind == "error":
                    self.done = True
                    reason = item.content or "Request contains an invalid argument."
                    yield [Close(CLOSE_INVALID_ARGUMENT, reason)], 0.0
                    return
                if item.kind == "failed":
                    self.done = True
                    yield [Close(CLOSE_INTERNAL, item.content or "Internal error encountered.")], 0.0
                    return
                if item.kind == "tool_call":
                    called = True
                    yield from self._tool_call(item)
                else:
                    yield from self._speak(item, reply.max_output_tokens or item.max_output_tokens)
            if not called:
                break
            reply = self._next_reply()  # the model goes on after the tool responses
        yield [{"serverContent": {"generationComplete": True}}], 0.0
        self.done = True
        yield [{"serverContent": {"turnComplete": True}, "usageMetadata": self._usage(self.spoken)}], 0.0

    def _tool_call(self, item: Reply) -> _Steps:
        call_id = item.call_id or "function-call-" + secrets.token_hex(8)
        try:
            args = json.loads(item.arguments or "{}")
        except ValueError:
            args = {}
        call = {"id": call_id, "name": item.name, "args": args if isinstance(args, dict) else {}}
        self.calls[call_id] = item.name
        self.called.append(call)
        yield [{"toolCall": {"functionCalls": [call]}}], 0.0

    def _speak(self, item: Reply, limit: Optional[int]) -> _Steps:
        text = item.content
        if limit is not None and text_tokens(text) > limit:
            text = text[: limit * 4]  # about four characters a token
        words = split_words(text)
        as_audio = self._audio or item.kind == "audio"
        if not as_audio:
            for word in words:
                self.spoken += word
                yield [{"serverContent": {"modelTurn": {"parts": [{"text": word}]}}}], 0.0
            return
        spoken = None
        if self._speech_of is not None and item.duration_ms is None and text.strip():
            spoken = self._speech_of(text, OUTPUT_RATE)  # real speech (espeak-ng), or None
        duration = item.duration_ms if item.duration_ms is not None else _MS_PER_CHAR * max(1, len(text))
        if spoken is not None:
            duration = len(spoken) * 1000.0 / OUTPUT_RATE
        if limit is not None and item.duration_ms is not None and text != item.content:
            duration = duration * len(text) / max(1, len(item.content))
        chunks = max(1, math.ceil(duration / self._chunk_ms))
        per_chunk = OUTPUT_RATE * self._chunk_ms // 1000
        for i in range(chunks):
            ms = min(self._chunk_ms, duration - i * self._chunk_ms)
            if spoken is not None:
                pcm = pcm16_bytes(spoken[i * per_chunk:(i + 1) * per_chunk])
            else:
                pcm = pcm16_bytes(synthesize_speech(ms, OUTPUT_RATE, seed=self._seed + i))
            content: Dict[str, Any] = {"modelTurn": {"parts": [{"inlineData": {
                "mimeType": f"audio/pcm;rate={OUTPUT_RATE}", "data": b64encode(pcm)}}]}}
            share = "".join(words[i * len(words) // chunks:(i + 1) * len(words) // chunks])
            if share:
                self.spoken += share
                content["outputTranscription"] = {"text": share}
            yield [{"serverContent": content}], ms
