"""Derive the xAI and Azure contract recordings from the OpenAI ones.

Run ``python -m tests.adapters.derive_recordings`` from the repository root.

No live xAI or Azure session could be captured where this was written, so the recordings are the
OpenAI GA recordings rewritten with each dialect's documented differences (protocols.md §8.2 and
§8.5), and each file says so in its description. They are checked frame by frame against the
``openai`` models and, for xAI, against tests/_xai_conformance.py's copy of §8.2.

Azure (§8.5): the protocol is unchanged; models are deployment names, the transcription model a
transcription deployment.

xAI (§8.2): the handshake is ``session.created`` and ``conversation.created`` (here in the order
that is harder for a client that answers ``conversation.created``), the session is xAI's hybrid
shape, text deltas arrive under both spellings, interim user transcripts are cumulative
``.updated`` events, ``response.done`` repeats ``usage`` at its top level, a ``ping`` comes now and
then, no ``rate_limits.updated`` is sent, and race errors carry only a message.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

DATA = Path(__file__).parent / "data"
SCENARIOS = ("handshake", "text_turn", "audio_turn", "tool_call", "server_barge_in", "client_interrupt",
             "error_race")
GROK_CONVERSATION = "conv_grok_0f3a9c2e71d4"
GROK_SESSION = {
    "instructions": "You are Grok, a helpful voice assistant.",
    "voice": "eve",
    "turn_detection": {"type": "server_vad", "threshold": 0.85, "prefix_padding_ms": 333,
                       "silence_duration_ms": 500, "idle_timeout_ms": None},
    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None},
              "output": {"format": {"type": "audio/pcm", "rate": 24000}, "speed": 1.0}},
    "tools": [],
    "resumption": {"enabled": False},
}


def _grok_frames(name: str, frames: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    if name == "handshake":
        configured = copy.deepcopy(GROK_SESSION)
        configured["audio"]["input"]["transcription"] = {"model": "grok-transcribe"}
        configured["resumption"] = {"enabled": True}
        return [
            {"type": "session.created", "event_id": "event_gx01", "session": copy.deepcopy(GROK_SESSION)},
            {"type": "conversation.created", "event_id": "event_gx02",
             "conversation": {"id": GROK_CONVERSATION, "object": "realtime.conversation"}},
            {"type": "session.updated", "event_id": "event_gx03", "session": configured},
        ]
    out: List[Dict[str, Any]] = []
    interim: Dict[str, str] = {}
    for i, original in enumerate(frames):
        kind = original.get("type")
        if kind in ("session.created", "session.updated", "rate_limits.updated"):
            continue
        frame = copy.deepcopy(original)
        response = frame.get("response")
        if isinstance(response, dict):
            voice = ((response.get("audio") or {}).get("output") or {})
            if "voice" in voice:
                voice["voice"] = "eve"
            if response.get("conversation_id"):
                response["conversation_id"] = GROK_CONVERSATION
        if kind in ("response.output_text.delta", "response.output_text.done"):
            alias = dict(frame, type=kind.replace("output_text", "text"), event_id=frame["event_id"] + "t")
            out += [alias, frame]
            continue
        if kind == "conversation.item.input_audio_transcription.delta":
            item = frame["item_id"]
            interim[item] = interim.get(item, "") + frame["delta"]
            out.append({"type": "conversation.item.input_audio_transcription.updated",
                        "event_id": frame["event_id"], "item_id": item,
                        "content_index": frame.get("content_index", 0), "transcript": interim[item]})
            continue
        if kind == "response.done":
            frame["usage"] = copy.deepcopy(frame["response"].get("usage"))
        if kind == "error" and frame["error"].get("code") == "response_cancel_not_active":
            frame["error"]["code"] = None
        out.append(frame)
        if i == 2:
            out.append({"type": "ping", "event_id": "event_gxping", "timestamp": 1765432100123})
    return out


def _azure_frames(frames: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = copy.deepcopy(frames)
    for frame in out:
        session = frame.get("session")
        if isinstance(session, dict):
            session["model"] = "gpt-realtime"  # the deployment's name
            transcription = session["audio"]["input"].get("transcription")
            if transcription:
                transcription["model"] = "whisper"  # a transcription deployment
    return out


def main() -> None:
    for name in SCENARIOS:
        source = json.loads((DATA / "openai" / f"{name}.json").read_text())
        for provider, frames, note in (
                ("grok", _grok_frames(name, source["frames"]), "xAI's differences from protocols.md §8.2"),
                ("azure", _azure_frames(source["frames"]), "Azure deployment names (protocols.md §8.5)")):
            derived = {
                "description": f"{source['description']} -- derived from the OpenAI recording with {note} "
                               "by tests/adapters/derive_recordings.py (no live capture)",
                "frames": frames,
            }
            if "expect" in source:
                derived["expect"] = source["expect"]
            folder = DATA / provider
            folder.mkdir(exist_ok=True)
            (folder / f"{name}.json").write_text(json.dumps(derived, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
