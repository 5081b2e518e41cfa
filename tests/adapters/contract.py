"""The provider contract: the same scenarios, the same normalized events, the same behaviour.

Every provider's recordings live in ``tests/adapters/data/<provider>/<scenario>.json``:
``{"description", "frames": [...], "expect": {...}}``. A frame is what the provider's server
sent; an entry with a ``client`` key is something the user did at that point (``send_text``,
``interrupt`` with ``heard_ms``). :class:`Run` plays a recording through a fresh provider
session and the real reducer the way the client's state owner does (tool calls are answered,
interrupts flushed, intents encoded by the provider session), and the checks in
:data:`SCENARIOS` are written once, against normalized events and client-visible state only.
Adding a provider means adding a :class:`ProviderCase` and its recordings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import attrs

from realtime_client import RealtimeMessage, RealtimeMode, TextPart, ToolCallPart, ToolResultPart
from realtime_client import _actions as act
from realtime_client import _events as ev
from realtime_client._models import SessionConfig
from realtime_client._provider import ProviderSession, ResumeState
from realtime_client._reducer import Conversation, Effects
from realtime_client._tools import ToolOutcome
from realtime_client.adapters import gemini_realtime, openai_realtime
from realtime_client.audio._engine import PlayedItem

DATA = Path(__file__).parent / "data"


@attrs.frozen
class ProviderCase:
    """One provider under contract.

    Attributes:
        name: the provider (a key of ``adapters.ADAPTERS``; its recordings' folder).
        new_session: a fresh provider session with a default configuration.
        validate_client_frame: the provider's official schema check for frames we send.
        session_cap_close: the close code the provider ends a session with at its time cap,
            or ``None`` when it announces the end with a ``GoAway`` event instead.
    """

    name: str
    new_session: Callable[[], ProviderSession]
    validate_client_frame: Callable[[Dict[str, Any]], Any]
    session_cap_close: Optional[int]


def _openai_case() -> ProviderCase:
    from tests._conformance import validate_client_frame

    return ProviderCase("openai", lambda: openai_realtime(url="ws://127.0.0.1:1/v1/realtime").new_session(),
                        validate_client_frame, 1001)


def _azure_case() -> ProviderCase:
    from realtime_client.adapters import azure_openai_realtime
    from tests._conformance import validate_client_frame

    return ProviderCase("azure", lambda: azure_openai_realtime(
        url="ws://127.0.0.1:1/openai/v1/realtime", deployment="gpt-realtime").new_session(),
        validate_client_frame, 1001)


def _grok_case() -> ProviderCase:
    from realtime_client.adapters import grok_realtime
    from tests._xai_conformance import validate_grok_client_frame

    return ProviderCase("grok", lambda: grok_realtime(url="ws://127.0.0.1:1/v1/realtime").new_session(),
                        validate_grok_client_frame, 1001)


def _elevenlabs_case() -> ProviderCase:
    from realtime_client.adapters import elevenlabs_realtime
    from tests.adapters.elevenlabs_schema import validate_client_frame

    return ProviderCase("elevenlabs", lambda: elevenlabs_realtime(
        "agent_contract", url="ws://127.0.0.1:1/v1/convai/conversation").new_session(),
        validate_client_frame, None)


def _gemini_case() -> ProviderCase:
    from tests._gemini_conformance import validate_client_frame as validate_gemini

    return ProviderCase("gemini", lambda: gemini_realtime(url="ws://127.0.0.1:1").new_session(),
                        validate_gemini, None)


PROVIDERS: List[ProviderCase] = [_openai_case(), _azure_case(), _grok_case(), _elevenlabs_case(),
                                 _gemini_case()]


def recording(provider: str, scenario: str) -> Dict[str, Any]:
    return json.loads((DATA / provider / f"{scenario}.json").read_text())


class Run:
    """A provider session plus the reducer, driven like the client drives them."""

    def __init__(self, case: ProviderCase, conv: Optional[Conversation] = None,
                 resume: Optional[ResumeState] = None) -> None:
        self.case = case
        self.session = case.new_session()
        self.conv = conv or Conversation(SessionConfig())
        self.events: List[Any] = []
        self.sent: List[Dict[str, Any]] = []
        self.notifications: List[Tuple[str, Tuple[Any, ...]]] = []
        self.flushes: List[bool] = []  # by_user_speech of every flush the reducer asked for
        self.received_ms: Dict[str, float] = {}
        self.last_item: Optional[str] = None
        self.tool_output: Any = {"ok": True}
        if conv is None:
            self.conv.reduce(act.Connecting(manual=False))
        self.step(act.SessionOpened(self.session.info))
        self._send_all(self.session.start(self.conv.config, resume))

    # --- driving -------------------------------------------------------------------------------

    def handshake(self) -> None:
        """Play the provider's recorded handshake until the session is ready, then connect."""
        self.play(recording(self.case.name, "handshake")["frames"])
        assert self.conv.ready, "the handshake did not end in Ready"
        self.step(act.Connected(mic_open=True, playback=True))

    def play(self, frames: List[Dict[str, Any]]) -> None:
        for frame in frames:
            if "client" in frame:
                self.client(frame)
            else:
                self.receive(json.dumps(frame))

    def receive(self, frame: str) -> None:
        received = self.session.receive(frame)
        self._send_all(received.replies)
        for event in received.events:
            self.events.append(event)
            self.step(event)

    def client(self, action: Dict[str, Any]) -> None:
        kind = action["client"]
        if kind == "send_text":
            msg = RealtimeMessage(id=f"msg_{len(self.conv.messages)}", role="user",
                                  parts=(TextPart(action["text"]),))
            self.step(act.SendUser(msg))
        elif kind == "interrupt":
            self.step(act.RequestInterrupt(), heard_ms=float(action["heard_ms"]))
        else:
            raise ValueError(f"unknown client action {kind!r}")

    def step(self, item: Any, heard_ms: Optional[float] = None) -> Effects:
        fx = self.conv.reduce(item)
        self._apply(fx)
        if fx.flush:
            self.flushes.append(fx.flush_by_speech)
            played = None
            if self.last_item is not None:
                received = self.received_ms.get(self.last_item, 0.0)
                heard = received / 2 if heard_ms is None else min(heard_ms, received)
                played = PlayedItem(self.last_item, heard, received)
            self._apply(self.conv.reduce(act.Flushed(played, fx.flush_by_speech)))
        return fx

    def _apply(self, fx: Effects) -> None:
        for intent in fx.intents:
            self._send_all(self.session.send(intent))
        self.notifications += fx.notifications
        fmt = self.session.info.output_format
        for item_id, audio in fx.play:
            if item_id not in self.received_ms:
                self.conv.reduce(act.PlaybackStarted(item_id))
            self.received_ms[item_id] = self.received_ms.get(item_id, 0.0) + fmt.duration_ms(len(audio))
            self.last_item = item_id
        for call in fx.tool_calls:
            result = json.dumps(self.tool_output)
            self.step(act.ToolFinished(ToolOutcome(call.call_id, call.name, {}, self.tool_output, result,
                                                   None)))
        take = getattr(self.session, "take_events", None)  # as the client's state owner does
        if fx.intents and callable(take):
            for event in take():
                self.events.append(event)
                self.step(event)

    def _send_all(self, frames: Any) -> None:
        for frame in frames:
            self.case.validate_client_frame(frame)
            self.sent.append(frame)

    # --- reading -------------------------------------------------------------------------------

    def of(self, kind: type) -> List[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def notified(self, name: str) -> List[Tuple[Any, ...]]:
        return [args for n, args in self.notifications if n == name]

    def assistant_messages(self) -> List[RealtimeMessage]:
        return [m for m in self.conv.messages if m.role == "assistant"]


def scenario(case: ProviderCase, name: str) -> Tuple[Run, Dict[str, Any]]:
    """A connected run with the scenario's recording played."""
    run = Run(case)
    run.handshake()
    rec = recording(case.name, name)
    tool_output = rec.get("expect", {}).get("tool_output")
    if tool_output is not None:
        run.tool_output = tool_output
    run.play(rec["frames"])
    return run, rec.get("expect", {})


def _assert_turn_completed(run: Run, text: str) -> RealtimeMessage:
    ended = run.of(ev.TurnEnded)
    assert ended and ended[-1].outcome == "completed", ended
    msg = run.assistant_messages()[-1]
    assert msg.text == text and msg.stop_reason == "completed" and not msg.interrupted
    assert run.conv.mode in (RealtimeMode.LISTENING, RealtimeMode.SPEAKING)
    assert run.notified("on_error") == []
    return msg


def check_text_turn(case: ProviderCase) -> None:
    """A typed message gets one streamed text answer that ends completed."""
    run, expect = scenario(case, "text_turn")
    assert run.of(ev.TurnStarted)
    deltas = [e for e in run.of(ev.AssistantTranscript) if not e.final]
    assert deltas and all(e.kind == "text" for e in deltas)
    _assert_turn_completed(run, expect["assistant_text"])
    assert [m.role for m in run.conv.messages] == ["user", "assistant"]


def check_audio_turn(case: ProviderCase) -> None:
    """Speech is detected, committed and transcribed; the spoken answer plays and completes."""
    run, expect = scenario(case, "audio_turn")
    for kind in (ev.SpeechStarted, ev.SpeechStopped, ev.UserAudioCommitted, ev.AudioChunk):
        assert run.of(kind), kind.__name__
    user = next(m for m in run.conv.messages if m.role == "user")
    assert user.text == expect["user_transcript"]
    msg = _assert_turn_completed(run, expect["assistant_text"])
    assert msg.duration_ms and msg.duration_ms > 0


def check_tool_call(case: ProviderCase) -> None:
    """A tool call is run, its result goes back, and the answer after it completes."""
    run, expect = scenario(case, "tool_call")
    (call,) = run.of(ev.ToolCall)
    assert call.name == expect["tool"] and isinstance(json.loads(call.arguments or "{}"), dict)
    result_frames = [f for f in run.sent if json.dumps(expect["tool_output"]) in json.dumps(f)
                     or json.dumps(json.dumps(expect["tool_output"])) in json.dumps(f)]
    assert result_frames, "the tool result was not sent"
    parts = [p for m in run.assistant_messages() for p in m.parts]
    assert any(isinstance(p, ToolCallPart) and p.output == expect["tool_output"] for p in parts)
    assert any(isinstance(p, ToolResultPart) and p.tool_call_id == call.call_id for p in parts)
    _assert_turn_completed(run, expect["assistant_text"])


def check_server_barge_in(case: ProviderCase) -> None:
    """The user speaking over the assistant flushes playback and ends the turn interrupted."""
    run, _ = scenario(case, "server_barge_in")
    assert run.flushes and run.flushes[0] is True, "the provider's barge-in did not flush playback"
    assert run.notified("on_interrupted")
    msg = run.assistant_messages()[-1]
    assert msg.interrupted and msg.stop_reason == "interrupted"
    assert run.notified("on_error") == []


def check_client_interrupt(case: ProviderCase) -> None:
    """interrupt() cuts the turn off, tells the provider what was heard, and reports no error."""
    run, _ = scenario(case, "client_interrupt")
    assert run.flushes == [False] and run.notified("on_interrupted") == [()]
    msg = run.assistant_messages()[-1]
    assert msg.interrupted and msg.stop_reason == "interrupted"
    assert msg.duration_ms is not None and msg.duration_ms <= 20.0 + 1e-6
    if run.session.info.can_truncate:
        assert any("20" in json.dumps(f) for f in run.sent[-4:]), "the heard position was not sent"
    assert run.notified("on_error") == []


def check_error_race(case: ProviderCase) -> None:
    """Errors answering the client's own housekeeping stay quiet; a real error is reported once."""
    run, expect = scenario(case, "error_race")
    errors = run.notified("on_error")
    assert len(errors) == expect["errors"]
    if errors:
        assert run.conv.error is errors[-1][0]


def check_go_away(case: ProviderCase) -> None:
    """The end of a provider session is announced (go-away) and is a reason to reconnect."""
    session = case.new_session()
    if case.session_cap_close is not None:
        action = session.classify_close(case.session_cap_close, "session cap", None)
        assert action.action == "reconnect" and action.go_away
    else:
        run, _ = scenario(case, "go_away")
        assert run.of(ev.GoAway) and run.notified("on_go_away")


def check_reconnect(case: ProviderCase) -> None:
    """After a drop the next session is seeded with the conversation, then gets what was queued."""
    run, expect = scenario(case, "text_turn")
    resume = run.session.resume_state()
    run.step(act.SessionLost())
    run.step(act.SendUser(RealtimeMessage(id="msg_late", role="user", parts=(TextPart("still there?"),))))
    assert run.conv.queued, "a message sent while reconnecting was not held"
    fresh = Run(case, conv=run.conv, resume=resume)  # the conversation survives, the connection is new
    fresh.handshake()
    fresh.step(act.Resumed(replay=resume.replay))
    wire = json.dumps(fresh.sent)
    if resume.replay:
        assert expect["assistant_text"] in wire or json.dumps(expect["assistant_text"])[1:-1] in wire
    assert "still there?" in wire
    assert wire.index("still there?") > max(wire.find(json.dumps(expect["assistant_text"])[1:-1]), -1)


SCENARIOS: Dict[str, Callable[[ProviderCase], None]] = {
    "text turn": check_text_turn,
    "audio turn": check_audio_turn,
    "tool call": check_tool_call,
    "server barge-in": check_server_barge_in,
    "client interrupt": check_client_interrupt,
    "error race": check_error_race,
    "go-away": check_go_away,
    "reconnect": check_reconnect,
}

__all__ = ["PROVIDERS", "SCENARIOS", "ProviderCase", "Run"]
