"""Provider-neutral scripted replies for :meth:`FakeRealtimeServer.script`.

A :class:`Reply` says *what* the assistant does next (speak, write, call a tool, fail); each
provider's peer renders it in its own wire protocol. The text helpers here are shared by peers
that stream words as deltas.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Tuple, Union

import attrs

__all__ = ["Reply", "split_words", "text_tokens"]

_KINDS = ("text", "audio", "tool_call", "error", "failed", "sequence")
#: the kinds a :meth:`Reply.sequence` may hold: output items, not outcomes
_ITEM_KINDS = ("text", "audio", "tool_call")


def split_words(text: str) -> List[str]:
    """Split into deltas that join back to ``text`` exactly (each word keeps its leading space)."""
    pieces: List[str] = []
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        if pieces and not word:
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return [p for p in pieces if p]


def text_tokens(text: str) -> int:
    """A plausible token count for ``text`` (about four characters per token)."""
    return math.ceil(len(text) / 4.0)


def _positive_or_none(instance: Any, attribute: Any, value: Optional[int]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be a positive int or None, got {value!r}")


@attrs.frozen
class Reply:
    """One scripted assistant reply for :meth:`FakeRealtimeServer.script`; build it with a classmethod.

    A reply describes behaviour, not frames: every provider's peer renders it in its own
    protocol (the OpenAI peer as ``response.*`` events).

    Example::

        server.script(Reply.text("Hi there"),
                      Reply.sequence(Reply.audio("Let me check."),
                                     Reply.tool_call("get_weather", {"city": "Paris"})),
                      Reply.failed())

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``failed``, ``sequence`` and the ``max_output_tokens`` option.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(_KINDS))
    content: str = ""
    duration_ms: Optional[float] = None
    name: str = ""
    arguments: str = ""
    call_id: Optional[str] = None
    code: str = ""
    error_type: str = "invalid_request_error"
    max_output_tokens: Optional[int] = attrs.field(default=None, validator=_positive_or_none)
    parts: Tuple[Reply, ...] = ()

    @classmethod
    def text(cls, text: str, *, max_output_tokens: Optional[int] = None) -> Reply:
        """A message: audio with this transcript in audio modality, text in text modality.

        Args:
            text: what the assistant says.
            max_output_tokens: cut the reply off as if the response had this token limit
                (the peer reports it the way its provider reports a length cut-off).
        """
        return cls("text", content=text, max_output_tokens=max_output_tokens)

    @classmethod
    def audio(cls, transcript: str, duration_ms: Optional[float] = None, *,
              max_output_tokens: Optional[int] = None) -> Reply:
        """A spoken message even in text modality; ``duration_ms`` defaults to 60 ms per character."""
        return cls("audio", content=transcript, duration_ms=duration_ms, max_output_tokens=max_output_tokens)

    @classmethod
    def tool_call(cls, name: str, arguments: Union[Dict[str, Any], str],
                  call_id: Optional[str] = None) -> Reply:
        """A function call in its own response; ``arguments`` may be a dict or a JSON string."""
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return cls("tool_call", name=name, arguments=args, call_id=call_id)

    @classmethod
    def error(cls, code: str, message: str, error_type: str = "invalid_request_error") -> Reply:
        """Refuse the request for a response: an error naming the client's request, no response.

        The OpenAI peer answers the ``response.create`` with an ``error`` event whose
        ``error.event_id`` is the client's ``event_id``.
        """
        return cls("error", content=message, code=code, error_type=error_type)

    @classmethod
    def failed(cls, *, code: str = "",
               message: str = "Rate limit reached for requests. Please try again in 2s.",
               error_type: str = "tokens") -> Reply:
        """A response that starts and then fails with no output (how rate limits are reported).

        ``code`` defaults to the provider's own rate-limit code. The OpenAI peer sends
        ``response.created`` then ``response.done`` with ``status: "failed"``, ``output: []`` and
        ``status_details.error = {type, code, message}``.
        The default ``error_type`` follows the HTTP API's rate-limit errors (unconfirmed for
        the realtime API).
        """
        return cls("failed", content=message, code=code, error_type=error_type)

    @classmethod
    def sequence(cls, *parts: Reply) -> Reply:
        """One response with several output items in order, e.g. a spoken preamble and a tool call.

        Raises:
            ValueError: no parts, or a part that is not a text, audio or tool-call reply.
        """
        if not parts:
            raise ValueError("Reply.sequence() needs at least one part")
        for part in parts:
            if not isinstance(part, Reply) or part.kind not in _ITEM_KINDS:
                what = part.kind if isinstance(part, Reply) else type(part).__name__
                raise ValueError(f"Reply.sequence() takes text, audio and tool_call replies, got {what}")
        return cls("sequence", parts=tuple(parts))

    @property
    def items(self) -> Tuple[Reply, ...]:
        """The output items this reply produces, in order (itself unless it is a sequence)."""
        return self.parts if self.kind == "sequence" else (self,)
