"""The WebSocket transport: handshake errors, keep-alive, frame limits, closing, secrets."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
import time
from typing import Iterator, List, Optional

import pytest

from realtime_client import ConnectionFailedError, PermissionDeniedError
from realtime_client._transport import CloseInfo, WebSocketTransport
from realtime_client._types import ConnectionRequest

SECRET = "sk-transport-test-secret-0123456789"


class Sink:
    """Collects frames and the close report from a transport."""

    def __init__(self) -> None:
        self.frames: List[object] = []
        self.closed = threading.Event()
        self.info: Optional[CloseInfo] = None

    def on_frame(self, frame: object) -> None:
        self.frames.append(frame)

    def on_close(self, info: CloseInfo) -> None:
        self.info = info
        self.closed.set()


def transport(sink: Sink, **kw) -> WebSocketTransport:
    return WebSocketTransport(on_frame=sink.on_frame, on_close=sink.on_close, **kw)


def request(url: str) -> ConnectionRequest:
    return ConnectionRequest(url, {"Authorization": f"Bearer {SECRET}"})


class SilentPeer:
    """A WebSocket peer that completes the handshake, sends one text frame, then never answers
    anything again (no pongs, no close): a dead server behind a live TCP connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/v1/realtime"
        self.conns: List[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, name="silent-peer", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in data.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.after_handshake(conn)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    def after_handshake(self, conn: socket.socket) -> None:
        payload = b'{"type":"hello"}'
        conn.sendall(bytes([0x81, len(payload)]) + payload)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()
        self.thread.join(2)


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it, with the 7-, 16- or 64-bit length form."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes([first, n]) + payload
    if n < 65536:
        return bytes([first, 126]) + n.to_bytes(2, "big") + payload
    return bytes([first, 127]) + n.to_bytes(8, "big") + payload


class BurstPeer(SilentPeer):
    """Sends ``wire`` after the handshake in pieces of ``piece`` bytes, ``pause`` s apart."""

    def __init__(self, wire: bytes, piece: int, pause: float = 0.0) -> None:
        self.wire, self.piece, self.pause = wire, piece, pause
        super().__init__()

    def after_handshake(self, conn: socket.socket) -> None:
        for i in range(0, len(self.wire), self.piece):
            conn.sendall(self.wire[i:i + self.piece])
            if self.pause:
                time.sleep(self.pause)


def received(peer: BurstPeer, count: int) -> List[object]:
    sink = Sink()
    t = transport(sink, ping_interval=5)
    t.open(request(peer.url), timeout=5)
    try:
        deadline = time.monotonic() + 10
        while len(sink.frames) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(sink.frames)
    finally:
        t.close(timeout=1)
        peer.close()


def test_many_frames_in_one_burst_arrive_whole_and_in_order():
    """The reader takes what the socket holds at once; every frame in it is still delivered,
    whichever length form it uses, with a ping and a fragmented message among them."""
    big = bytes(range(256)) * 400  # 100 KB: the 64-bit length form
    expected: List[object] = []
    wire = b""
    for i in range(150):
        text = f'{{"type":"delta","n":{i}}}'
        wire += server_frame(0x1, text.encode())
        expected.append(text)
        if i % 50 == 7:
            wire += server_frame(0x2, big)
            expected.append(big)
        if i == 20:
            wire += server_frame(0x9, b"are you there")  # a ping: answered, not delivered
        if i == 30:
            wire += server_frame(0x1, b'{"type":', fin=False) + server_frame(0x0, b'"split"}')
            expected.append('{"type":"split"}')
    assert received(BurstPeer(wire, len(wire)), len(expected)) == expected


def test_a_frame_trickling_in_byte_by_byte_arrives_whole():
    payload = ('{"type":"slow","pad":"' + "x" * 300 + '"}').encode()
    wire = server_frame(0x1, payload) + server_frame(0x1, b'{"type":"next"}')
    assert received(BurstPeer(wire, 1, pause=0.0005), 2) == [payload.decode(), '{"type":"next"}']


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


def test_keepalive_detects_a_dead_peer(silent_peer):
    """With no pong after a ping, the reader reports an abnormal close (1006) with the reason."""
    sink = Sink()
    t = transport(sink, ping_interval=0.2, ping_timeout=0.3)
    t.open(request(silent_peer.url), timeout=2)
    assert sink.closed.wait(3), "the dead peer was not detected"
    assert sink.frames == ['{"type":"hello"}']
    assert sink.info.code == 1006 and not sink.info.clean and "keep-alive" in sink.info.reason
    t.close(timeout=1)


def test_close_completes_when_the_peer_ignores_the_close_frame(silent_peer):
    """close() on a peer that never answers the close handshake still ends the reader in time."""
    sink = Sink()
    t = transport(sink, ping_interval=20)
    t.open(request(silent_peer.url), timeout=2)
    start = time.monotonic()
    t.close(timeout=0.5)
    assert time.monotonic() - start < 0.8
    assert sink.closed.wait(1) and sink.info.by_client and sink.info.clean
    t.close(timeout=0.5)  # idempotent


def test_keepalive_keeps_a_healthy_idle_connection(server):
    """Pings answered by the server keep an idle connection open."""
    sink = Sink()
    t = transport(sink, ping_interval=0.1, ping_timeout=0.5)
    t.open(request(server.url), timeout=2)
    time.sleep(0.8)
    assert not sink.closed.is_set()
    t.close(timeout=1)
    assert sink.info is not None and sink.info.clean and sink.info.by_client


def test_oversized_frame_closes_with_1009(server):
    """A frame over max_frame_bytes ends the connection with code 1009 and a clear error."""
    sink = Sink()
    t = transport(sink, max_frame_bytes=4096)
    t.open(request(server.url), timeout=2)
    server.wait_for_sent("session.created")
    server.send_raw("x" * 10_000)
    assert sink.closed.wait(3)
    assert sink.info.code == 1009 and isinstance(sink.info.error, ConnectionFailedError)
    assert "10000-byte frame" in str(sink.info.error)
    t.close(timeout=1)


def test_send_after_close_raises(server):
    """send() on a closed transport raises CONNECTION_FAILED instead of failing silently."""
    sink = Sink()
    t = transport(sink)
    t.open(request(server.url), timeout=2)
    t.close(timeout=1)
    with pytest.raises(ConnectionFailedError, match="closed"):
        t.send('{"type":"response.create"}')


def test_plain_ws_to_remote_host_is_refused():
    """ws:// to a non-loopback host is refused before any connection attempt."""
    sink = Sink()
    with pytest.raises(ConnectionFailedError, match="wss://"):
        transport(sink).open(request("ws://example.com/v1/realtime"), timeout=1)


def test_handshake_401_is_permission_denied_without_the_secret(server):
    """HTTP 401 at the handshake raises PERMISSION_DENIED; the key is in no message or log."""
    server.reject_next_handshakes(1, status=401)
    with pytest.raises(PermissionDeniedError) as info:
        transport(Sink()).open(request(server.url), timeout=2)
    assert SECRET not in str(info.value) and "401" in str(info.value)


def test_handshake_500_is_connection_failed(server):
    """Any other HTTP status at the handshake raises CONNECTION_FAILED naming the status."""
    server.reject_next_handshakes(1, status=500)
    with pytest.raises(ConnectionFailedError, match="500"):
        transport(Sink()).open(request(server.url), timeout=2)


def test_no_secret_in_debug_logs(server, caplog):
    """Opening, talking and closing at DEBUG level logs nothing that contains the key."""
    caplog.set_level(logging.DEBUG)
    sink = Sink()
    t = transport(sink)
    t.open(request(server.url), timeout=2)
    t.send('{"type":"response.create"}')
    server.wait_for_frame("response.create")
    t.close(timeout=1)
    assert caplog.records, "expected some debug logging to inspect"
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in repr(request(server.url))


def test_server_drop_is_reported_as_abnormal(server):
    """An abrupt TCP drop by the server is reported once, as an abnormal close with an error."""
    sink = Sink()
    t = transport(sink)
    t.open(request(server.url), timeout=2)
    server.wait_for_sent("session.created")
    server.drop_connections()
    assert sink.closed.wait(3)
    assert not sink.info.clean and sink.info.error is not None
    t.close(timeout=1)


def test_wire_log_shows_frames_with_audio_elided_and_no_secret(server, make_client, caplog):
    """With the realtime_client.wire logger at DEBUG, frames are logged without audio or the token."""
    caplog.set_level(logging.DEBUG, logger="realtime_client.wire")
    token = server.token()
    client = make_client(get_token=lambda: token, auto_playback=False)
    client.connect(timeout=5)
    client.ask("hello", timeout=10)
    client.disconnect()
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime_client.wire"]
    assert any(line.startswith("send") and "session.update" in line for line in lines)
    audio = [line for line in lines if "response.output_audio.delta" in line]
    assert audio and all("bytes audio>" in line for line in audio)
    assert all(token.token not in line for line in lines)
    assert max(len(line) for line in lines) <= 2100
