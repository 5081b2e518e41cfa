"""The state owner: one lock, snapshots, and frames leaving in the order they were decided."""

from __future__ import annotations

import threading
from typing import Any, Dict, List

from realtime_client import RealtimeMessage, TextPart
from realtime_client import _actions as act
from realtime_client import _events as ev
from realtime_client._models import SessionConfig
from realtime_client._state import StateOwner
from realtime_client.adapters import openai_realtime


def connected_owner() -> tuple:
    sent: List[Dict[str, Any]] = []
    calls: List[Any] = []
    owner = StateOwner(SessionConfig(), dispatcher=lambda fn: (calls.append(fn), fn()),
                       callbacks={"on_message": lambda m: None})
    session = openai_realtime(url="ws://127.0.0.1:1/v1/realtime").new_session()
    owner.attach(session, sent.append)
    owner.dispatch(act.Connecting(manual=False))
    owner.dispatch(act.SessionOpened(session.info))
    session.start(owner.conv.config, None)
    for frame in ('{"type":"session.created","event_id":"e1","session":{}}',
                  '{"type":"session.updated","event_id":"e2","session":{}}'):
        for event in owner.receive(session, frame):
            owner.dispatch(event)
    owner.dispatch(act.Connected(mic_open=False))
    owner.flush()
    return owner, session, sent


def test_replies_are_sent_before_later_frames():
    """A provider's reply to a frame (the handshake's session.update) leaves before anything else."""
    owner, _, sent = connected_owner()
    assert [f["type"] for f in sent] == ["session.update"]
    assert owner.conv.ready and owner.state.status == "connected"


def test_frames_from_many_threads_leave_in_the_order_they_were_reduced():
    """Two threads can never reorder frames: the wire order is the order of the reductions."""
    owner, _, sent = connected_owner()
    sent.clear()

    def user(n: int) -> None:
        for i in range(50):
            msg = RealtimeMessage(id=f"msg_{n}_{i}", role="user", parts=(TextPart(f"{n}.{i}"),))
            owner.dispatch(act.SendUser(msg))
            owner.send_frames()

    threads = [threading.Thread(target=user, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    owner.flush()
    on_wire = [f["item"]["id"] for f in sent if f["type"] == "conversation.item.create"]
    assert on_wire == [m.id for m in owner.conv.messages] and len(on_wire) == 200


def test_detaching_drops_frames_of_the_old_connection():
    """Frames queued for a connection that is gone are not sent to the next one."""
    owner, session, sent = connected_owner()
    sent.clear()
    with owner.lock:
        owner.queue_frames_locked([{"type": "input_audio_buffer.clear"}])
    owner.attach(None, None)
    owner.attach(session, sent.append)
    owner.send_frames()
    assert sent == []


def test_a_frame_from_a_replaced_connection_is_ignored():
    """receive() ignores frames of a provider session that is no longer attached."""
    owner, _, _ = connected_owner()
    stale = openai_realtime(url="ws://127.0.0.1:1/v1/realtime").new_session()
    assert owner.receive(stale, '{"type":"response.created","response":{"id":"r"}}') == []


def test_an_update_that_changes_nothing_counts_as_applied():
    """update_session with no wire difference sends nothing and is applied at once."""
    owner, _, sent = connected_owner()
    sent.clear()
    config = owner.conv.config.merged(temperature=0.5)  # never sent to OpenAI GA
    owner.dispatch(act.ChangeConfig("u1", config, ("temperature",)))
    owner.flush()
    assert sent == [] and owner.conv.applied.temperature == 0.5


def test_every_change_makes_one_snapshot_and_status_callbacks():
    """Subscribers get one snapshot per change; the status callback fires on status changes only."""
    seen: List[Any] = []
    statuses: List[Any] = []
    owner = StateOwner(SessionConfig(), dispatcher=lambda fn: fn(),
                       callbacks={"on_status_change": statuses.append})
    owner.subscribers.append(seen.append)
    owner.dispatch(act.Connecting(manual=False))
    owner.dispatch(ev.Ignored("x"))
    owner.flush()
    assert [s.status for s in seen] == ["connecting"] and statuses == ["connecting"]
