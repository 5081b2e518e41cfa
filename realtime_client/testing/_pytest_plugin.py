"""pytest plugin (entry point ``pytest11``): the ``fake_realtime_server`` fixture.

Kept import-light: pytest loads this module for everyone who has the package installed, so the
server (websockets, numpy) is imported only when a test asks for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from ._server import FakeRealtimeServer

__all__ = ["fake_realtime_server"]


@pytest.fixture
def fake_realtime_server() -> Iterator[FakeRealtimeServer]:
    """A started :class:`~realtime_client.testing.FakeRealtimeServer` on a free port, stopped afterwards.

    Threads: the server's threads are joined when the test ends.
    """
    from ._server import FakeRealtimeServer

    server = FakeRealtimeServer().start()
    try:
        yield server
    finally:
        server.stop()
