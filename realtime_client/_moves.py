"""Moves: leaving a connection on purpose, and the user audio a move or a resume must not lose.

Owned by the reducer (its only caller), like the message log and the turn book. A *move* is a
planned reconnect: the provider warned that it will end the connection (``GoAway``), or a
setting can only change on a new one. The reducer asks for it at a quiet moment, when the
provider's latest resumption point covers everything said (``ResumptionUpdate`` since the
last activity). Audio captured while no connection is live is held and sent once the next one
is; with a resumable provider, audio sent since the last resumption point is sent again too,
since the resumed session starts from that point and never heard it.
"""

from __future__ import annotations

import collections
from typing import Deque, List, Optional, Tuple

from . import _intents as it

__all__ = ["Moves"]


class _AudioQueue:
    """Audio intents with their durations, keeping the newest ``limit_ms``."""

    def __init__(self, limit_ms: float) -> None:
        self.limit_ms = limit_ms
        self.items: Deque[Tuple[it.AppendAudio, float]] = collections.deque()
        self.ms = 0.0

    def add(self, intent: it.AppendAudio, ms: float) -> None:
        self.items.append((intent, ms))
        self.ms += ms
        while self.items and self.ms > self.limit_ms:
            _, old = self.items.popleft()
            self.ms -= old

    def take(self) -> List[Tuple[it.AppendAudio, float]]:
        items = list(self.items)
        self.clear()
        return items

    def clear(self) -> None:
        self.items.clear()
        self.ms = 0.0


class Moves:
    """What a planned reconnect waits for, and audio to carry across connections.

    While a go-away move is due, new user turns are held (the reducer queues them), so the old
    connection goes quiet; they are sent on the new one.

    Attributes:
        wanted: why a move is due (``"go_away"`` or ``"update"``), or ``None``.
        moving: the move was asked for; until the old connection is detached a new user turn
            would reach it (and die with it), so such turns are held too.
        planned: the reconnect in progress is one the client started.
        fresh: the provider's resumption point covers everything this connection has seen.
    """

    HOLD_MS = 30_000.0  # audio captured while reconnecting
    SINCE_MS = 5_000.0  # audio sent since the last resumption point

    def __init__(self) -> None:
        self.wanted: Optional[str] = None
        self.planned = False
        self.held_request = False  # a response request is held (in the reducer's queue) for the move
        self.moving = False  # a move was asked for and the old connection is still attached
        self.fresh = True
        self._held = _AudioQueue(self.HOLD_MS)
        self._since = _AudioQueue(self.SINCE_MS)

    def want(self, reason: str) -> None:
        if self.wanted != "go_away":  # the provider's deadline outranks a settings change
            self.wanted = reason

    def new_connection(self) -> None:
        """A connection is live: nothing of it is unresumable yet."""
        self.wanted = None
        self.moving = False
        self.fresh = True
        self._since.clear()

    def activity(self) -> None:
        """Something happened that the last resumption point does not cover."""
        self.fresh = False

    def resumable_point(self) -> None:
        """The provider can resume from here: audio sent so far needs no re-sending."""
        self.fresh = True
        self._since.clear()

    def sent(self, intent: it.AppendAudio, ms: float) -> None:
        self._since.add(intent, ms)

    def hold(self, intent: it.AppendAudio, ms: float) -> None:
        self._held.add(intent, ms)

    def lost(self, resend_since_point: bool) -> None:
        """The connection is gone; keep what the next one must still hear."""
        if resend_since_point:
            for intent, ms in self._since.take() + self._held.take():
                self._held.add(intent, ms)
        self._since.clear()

    def take_held(self) -> List[it.AppendAudio]:
        """The held audio, oldest first, to send on the new connection."""
        self.planned = False
        return [intent for intent, _ in self._held.take()]

    def end(self) -> None:
        self.wanted = None
        self.moving = False
        self.planned = False
        self.held_request = False
        self._held.clear()
        self._since.clear()
