"""The state owner: one lock, the reducer, immutable snapshots, and two ordered outboxes.

Every change goes through :meth:`StateOwner.dispatch`: take the lock, reduce, turn the
reducer's intents into frames with the current provider session, append those frames to the
frame outbox, make one snapshot, queue the callbacks; release the lock. Frames then leave
through :meth:`send_frames` (one sender at a time, in outbox order, so two threads can never
reorder them) and callbacks through the notifier, both outside the lock.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Deque, Dict, List, Optional, Union

from ._events import ConfigApplied, Event
from ._intents import UpdateSession
from ._models import ClientState, SessionConfig
from ._notify import Notifier
from ._provider import ProviderSession
from ._reducer import Conversation, Effects
from ._types import Dispatcher, Frame

__all__ = ["StateOwner"]

log = logging.getLogger("realtime_client")

FrameSink = Callable[[Frame], None]


class StateOwner:
    """Holds all conversation state behind one lock; everyone else reads snapshots.

    Threads: every method may be called from any thread; ``*_locked`` helpers assert the lock.
    """

    def __init__(self, config: SessionConfig, dispatcher: Dispatcher,
                 callbacks: Dict[str, Optional[Callable[..., Any]]]) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.conv = Conversation(config)
        self.callbacks = callbacks
        self.subscribers: List[Callable[[ClientState], Any]] = []
        self.provider: Optional[ProviderSession] = None  # the live connection's protocol session
        self._state = self.conv.snapshot()
        self._seen_version = -1
        self._notifier = Notifier(dispatcher)
        self._frames: Deque[Frame] = collections.deque()
        self._sink: Optional[FrameSink] = None
        self._send_lock = threading.Lock()

    @property
    def state(self) -> ClientState:
        """The latest snapshot (immutable; reading it needs no lock)."""
        return self._state

    # --- changing state ----------------------------------------------------------------------

    def dispatch(self, item: Any) -> Effects:
        """Reduce one event or action under the lock; frames and callbacks are queued."""
        with self.lock:
            fx = self.conv.reduce(item)
            self.commit_locked(fx)
        return fx

    def receive(self, provider: ProviderSession, payload: Union[str, bytes]) -> List[Event]:
        """Let ``provider`` read one frame; its replies are queued at once, its events returned
        (to be dispatched one by one, so each one's effects run before the next)."""
        with self.lock:
            if provider is not self.provider:
                return []  # a frame from a connection that has since been replaced
            received = provider.receive(payload)
            self._frames.extend(received.replies)
        return list(received.events)

    def commit_locked(self, fx: Optional[Effects] = None) -> None:
        """Turn the reducer's changes into frames, one snapshot and queued callbacks; then
        reduce (and commit) what the frames' intents caused by themselves."""
        assert self.lock.locked(), "commit_locked needs the state lock"
        provider = self.provider
        self._commit_locked(fx)
        take = getattr(provider, "take_events", None) if fx is not None and fx.intents else None
        if callable(take) and provider is self.provider:
            for event in take():
                caused = self.conv.reduce(event)
                self.commit_locked(caused)
                if fx is not None:
                    fx.absorb(caused)  # the live session acts on the outer effects

    def _commit_locked(self, fx: Optional[Effects]) -> None:
        conv, old = self.conv, self._state
        self.cond.notify_all()  # waiters also watch fields no snapshot shows (ready, ...)
        if fx is not None:
            provider = self.provider
            for intent in fx.intents:
                if provider is None:
                    log.debug("no live session: dropping %s", type(intent).__name__)
                    continue
                try:
                    frames = provider.send(intent)
                except (TypeError, ValueError) as exc:
                    log.warning("could not encode %s: %s", type(intent).__name__, exc)
                    continue
                self._frames.extend(frames)
                if isinstance(intent, UpdateSession) and not frames:
                    conv.reduce(ConfigApplied(intent.update_id))  # nothing to change on the wire
            for name, args in fx.notifications:
                self.notify_locked(name, *args)
        changed = (conv.log.version != self._seen_version or conv.status is not old.status
                   or conv.mode is not old.mode or conv.error is not old.error)
        if not changed:
            return
        new = conv.snapshot()
        self._seen_version = conv.log.version
        self._state = new
        if new.status is not old.status:
            self.notify_locked("on_status_change", new.status)
        if new.mode is not old.mode:
            self.notify_locked("on_mode_change", new.mode)
        for subscriber in self.subscribers:
            self._notifier.queue(subscriber, new)

    def notify_locked(self, name: str, *args: Any) -> None:
        """Queue the user callback ``name`` (if set) with ``args``."""
        assert self.lock.locked(), "notify_locked needs the state lock"
        callback = self.callbacks.get(name)
        if callback is not None:
            self._notifier.queue(callback, *args)

    # --- the outboxes ----------------------------------------------------------------------------

    def attach(self, provider: Optional[ProviderSession], sink: Optional[FrameSink]) -> None:
        """Make ``provider`` the session intents are encoded with and ``sink`` where frames go
        (``None``, ``None`` when no connection is live). Queued frames of the old one are dropped."""
        with self.lock:
            self.provider = provider
            self._sink = sink
            self._frames.clear()

    def queue_frames_locked(self, frames: List[Frame]) -> None:
        assert self.lock.locked(), "queue_frames_locked needs the state lock"
        self._frames.extend(frames)

    def send_frames(self) -> None:
        """Send queued frames in order; one sender at a time. Never raises."""
        with self._send_lock:
            while True:
                with self.lock:
                    if not self._frames:
                        return
                    frame = self._frames.popleft()
                    sink = self._sink
                if sink is None:
                    continue
                try:
                    sink(frame)
                except Exception as exc:
                    log.debug("could not send %s: %s", frame.get("type", "a frame"), exc)

    def flush(self) -> None:
        """Send queued frames, then hand queued callbacks to the dispatcher."""
        self.send_frames()
        self._notifier.flush()
