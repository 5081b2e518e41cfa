"""Pure helpers of the OpenAI peer: client-event refusals, item building and transcription usage.

Nothing here holds state: the session passes its item list in and emits the frames itself.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._reply import text_tokens
from ._schema import ITEM, validate

__all__ = ["BAD_AUDIO", "Reject", "find_item", "new_item", "transcription_usage", "with_audio"]

BAD_AUDIO = "Invalid 'audio'. Expected base64-encoded audio bytes."
#: content part types a client may create, per message role
_ALLOWED_PARTS = {"user": ("input_text", "input_audio", "input_image"), "system": ("input_text",),
                  "assistant": ("output_text",)}


class Reject(Exception):
    """Abort handling a client event with an ``error`` frame."""

    def __init__(self, code: Optional[str], message: str, param: Optional[str] = None,
                 error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.error_type = code, message, param, error_type


def find_item(items: List[Dict[str, Any]], item_id: Any) -> Dict[str, Any]:
    """The item with ``item_id``, or :class:`Reject` with ``item_not_found``."""
    for item in items:
        if item["id"] == item_id:
            return item
    raise Reject("item_not_found", f"Item with item_id '{item_id}' not found.", "item_id")


def new_item(event: Dict[str, Any], items: List[Dict[str, Any]],
             new_id: Callable[[str], str]) -> Tuple[Dict[str, Any], Optional[int], bytes]:
    """Validate a ``conversation.item.create``; return the stored item, its position and its audio.

    The position is None for the end of the conversation. Audio bytes are taken out of
    ``input_audio`` parts (the stored item never carries them).
    """
    raw = event["item"]
    if isinstance(raw, dict) and "type" not in raw and "role" in raw:
        raw = {"type": "message", **raw}
    validate(ITEM, raw, "item")
    if raw["type"] == "message":
        allowed = _ALLOWED_PARTS[raw["role"]]
        for i, part in enumerate(raw["content"]):
            if part["type"] not in allowed:
                raise Reject("invalid_value", f"Invalid value: '{part['type']}'. Supported values for "
                             f"{raw['role']} messages are: {', '.join(allowed)}.", f"item.content[{i}].type")
    item_id = raw.get("id") or new_id("item")
    if any(i["id"] == item_id for i in items):
        raise Reject("duplicate_item_id", f"Item with id '{item_id}' already exists.", "item.id")
    position = None
    prev = event.get("previous_item_id")
    if prev == "root":
        position = 0
    elif prev is not None:
        try:
            position = items.index(find_item(items, prev)) + 1
        except Reject:
            raise Reject("item_not_found", f"Previous item with item_id '{prev}' not found.",
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
                    raise Reject("invalid_value", BAD_AUDIO, "item.content.audio") from None
                part.setdefault("transcript", None)
    return item, position, bytes(audio)


def with_audio(item: Dict[str, Any], audio: Optional[bytes]) -> Dict[str, Any]:
    """A copy of ``item`` whose audio parts carry ``audio`` (base64), for ``conversation.item.retrieved``."""
    item = copy.deepcopy(item)
    if audio is not None and item["type"] == "message":
        for part in item["content"]:
            if part["type"] in ("input_audio", "output_audio"):
                part["audio"] = base64.b64encode(bytes(audio)).decode()
    return item


def transcription_usage(model: str, ms: float, transcript: str) -> Dict[str, Any]:
    """The ``usage`` of a finished input transcription: by duration for whisper, else by tokens."""
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": round(ms / 1000.0, 3)}
    audio_tokens = math.ceil(ms / 100.0)
    out_tokens = text_tokens(transcript)
    return {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": out_tokens,
            "total_tokens": audio_tokens + out_tokens,
            "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0}}
