"""The WebSocket transport: one connection, one named reader thread, thread-safe sends.

Built on ``websocket-client``. Its ``WebSocket`` guards ``send`` and ``recv`` with separate locks,
so one reader thread plus any number of sending threads is safe. We never call ``ws.close()``
from another thread while the reader is blocked (it races the reader); ``close()`` sends a close
frame, lets the reader see the peer's answer, and shuts the socket down if that takes too long.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Optional, Union
from urllib.parse import urlsplit

import attrs
import websocket

from ._errors import ConnectionFailedError, PermissionDeniedError, RealtimeError
from ._types import ConnectionRequest
from ._util import is_loopback_host
from ._wirelog import log_frame

__all__ = ["CloseInfo", "WebSocketTransport", "is_loopback_host"]

log = logging.getLogger("realtime_client")

NORMAL_CLOSURE = 1000
MESSAGE_TOO_BIG = 1009
NO_STATUS = 1005
ABNORMAL = 1006


@attrs.frozen
class CloseInfo:
    """How a connection ended.

    ``clean`` is true for a close handshake with code 1000 (either side) or one we started;
    ``by_client`` says whether we asked for it; ``error`` holds the cause of an abnormal end.
    """

    code: int
    reason: str = ""
    clean: bool = False
    by_client: bool = False
    error: Optional[RealtimeError] = None


@contextmanager
def _map_ws_errors(url: str) -> Iterator[None]:
    """Translate websocket-client and socket failures at the handshake into RealtimeErrors."""
    where = _safe_url(url)
    try:
        yield
    except websocket.WebSocketBadStatusException as exc:
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            raise PermissionDeniedError(
                f"the server at {where} refused the credentials (HTTP {status})",
                details={"status": status}) from exc
        raise ConnectionFailedError(f"the WebSocket handshake with {where} failed with HTTP {status}",
                                    details={"status": status}) from exc
    except (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError) as exc:
        raise ConnectionFailedError(f"timed out connecting to {where}") from exc
    except ConnectionRefusedError as exc:
        raise ConnectionFailedError(f"connection to {where} was refused (is the server running?)") from exc
    except (websocket.WebSocketException, OSError, ValueError) as exc:
        raise ConnectionFailedError(f"could not connect to {where}: {type(exc).__name__}") from exc


def _safe_url(url: str) -> str:
    """The URL without its query string (query parameters may carry keys for some providers)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


_BURST_BYTES = 16384  # one TLS record; the frame buffer re-joins what it holds at each read


def _read_in_bursts(ws: websocket.WebSocket) -> None:
    """Make the reader take whatever the socket holds in one call.

    websocket-client reads every frame in three exact-size ``recv`` calls (header, length,
    payload), each a wait and a system call or two. Its frame buffer keeps any surplus for the
    next read, so asking for a burst instead costs one call per arrival, however many frames
    it carries.
    """
    frames = getattr(ws, "frame_buffer", None)
    read = getattr(ws, "_recv", None)
    if frames is not None and callable(read) and hasattr(frames, "recv"):
        frames.recv = lambda _size: read(_BURST_BYTES)


FrameSink = Callable[[Union[str, bytes]], None]
CloseSink = Callable[[CloseInfo], None]


class WebSocketTransport:
    """One WebSocket connection with a ``realtime-reader`` thread.

    Args:
        on_frame: called on the reader thread with each text (``str``) or binary (``bytes``) frame.
        on_close: called once on the reader thread when the connection has ended, however it ended.
        ping_interval: seconds of inbound silence before a WebSocket ping is sent.
        ping_timeout: seconds to wait for the pong before the connection is declared dead.
        max_frame_bytes: frames larger than this close the connection with code 1009.
        audio_fields: the provider's event type -> base64 audio field, for the wire log.

    Threads: ``open``/``close`` from a control thread; ``send`` from any thread.
    """

    def __init__(self, *, on_frame: FrameSink, on_close: CloseSink, ping_interval: float = 20.0,
                 ping_timeout: float = 20.0, max_frame_bytes: int = 32 * 1024 * 1024,
                 audio_fields: Mapping[str, str] = {}, ca_file: Optional[str] = None) -> None:
        self._on_frame = on_frame
        self._ca_file = ca_file
        self._on_close = on_close
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_frame_bytes = max_frame_bytes
        self._audio_fields = audio_fields
        self._ws: Optional[websocket.WebSocket] = None
        self._reader: Optional[threading.Thread] = None
        self._closing = threading.Event()
        self._closed = threading.Event()
        self._close_code = NORMAL_CLOSURE
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------

    def open(self, request: ConnectionRequest, timeout: float) -> None:
        """Connect and finish the handshake within ``timeout`` seconds, then start the reader.

        Raises:
            PermissionDeniedError: HTTP 401/403 at the handshake.
            ConnectionFailedError: refused, timed out, TLS failure, or any other HTTP status.
        """
        parts = urlsplit(request.url)
        if parts.scheme not in ("ws", "wss"):
            raise ConnectionFailedError(f"unsupported URL scheme {parts.scheme!r}: use wss://")
        if parts.scheme == "ws" and not is_loopback_host(parts.hostname or ""):
            raise ConnectionFailedError(
                f"refusing plain ws:// to non-loopback host {parts.hostname!r}: use wss://")
        self.url = request.url
        headers = [f"{k}: {v}" for k, v in request.headers.items()]
        with _map_ws_errors(request.url):
            ws = websocket.create_connection(
                request.url, timeout=max(timeout, 0.001), header=headers,
                subprotocols=list(request.subprotocols) or None,
                enable_multithread=True, skip_utf8_validation=True,
                # verification stays on; ca_file only chooses which authorities are trusted
                sslopt={"ca_certs": self._ca_file} if self._ca_file else None,
            )
        ws.settimeout(self._ping_interval if self._ping_interval > 0 else None)
        _read_in_bursts(ws)
        self._ws = ws
        self._reader = threading.Thread(target=self._read_loop, args=(ws,), name="realtime-reader",
                                        daemon=True)
        self._reader.start()

    def send(self, text: str) -> None:
        """Send one text frame. Safe from any thread.

        Raises:
            ConnectionFailedError: the connection is closed or the send failed.
        """
        ws = self._ws
        if ws is None or self._closed.is_set():
            raise ConnectionFailedError("not connected: the WebSocket is closed")
        log_frame("send", text, self._audio_fields)
        try:
            ws.send(text)
        except (websocket.WebSocketException, OSError) as exc:
            raise ConnectionFailedError(f"sending failed: {type(exc).__name__}: {exc}") from exc

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    def close(self, timeout: float = 1.0, code: int = NORMAL_CLOSURE) -> None:
        """Close the connection and join the reader within ``timeout`` seconds. Idempotent.

        Threads: any thread; from the reader thread itself it only starts the close.
        """
        ws = self._ws
        if ws is None:
            return
        deadline = time.monotonic() + timeout
        if not self._closing.is_set():
            self._closing.set()
            self._close_code = code
            try:
                ws.send_close(code)
            except Exception as exc:  # already gone: the reader will notice
                log.debug("send_close failed: %r", exc)
        reader = self._reader
        if reader is None or reader is threading.current_thread():
            return
        reader.join(max(0.0, min(timeout / 2, deadline - time.monotonic())))
        if reader.is_alive():  # the peer did not answer the close: wake the reader by force
            self._shutdown(ws)
            reader.join(max(0.0, deadline - time.monotonic()))
        if reader.is_alive():
            log.warning("realtime-reader did not stop within %.1f s", timeout)

    # --- reader --------------------------------------------------------------------

    @staticmethod
    def _shutdown(ws: websocket.WebSocket) -> None:
        try:
            if ws.sock is not None:
                ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        info: Optional[CloseInfo] = None
        ping_sent_at: Optional[float] = None
        try:
            while True:
                try:
                    opcode, frame = ws.recv_data_frame(True)
                except websocket.WebSocketTimeoutException:
                    if self._closing.is_set():
                        info = CloseInfo(NO_STATUS, "close handshake timed out", clean=True, by_client=True)
                        break
                    now = time.monotonic()
                    if ping_sent_at is not None and now - ping_sent_at >= self._ping_timeout:
                        info = CloseInfo(ABNORMAL, "keep-alive timeout: no pong from the server")
                        break
                    if ping_sent_at is None:
                        ws.ping()
                        ping_sent_at = now
                    continue
                ping_sent_at = None
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    info = self._close_info(frame.data)
                    break
                if opcode in (websocket.ABNF.OPCODE_PONG, websocket.ABNF.OPCODE_PING):
                    continue
                data = frame.data
                if len(data) > self._max_frame_bytes:
                    log.warning("closing: received a %d-byte frame, over the %d-byte limit", len(data),
                                self._max_frame_bytes)
                    try:
                        ws.send_close(MESSAGE_TOO_BIG)
                    except Exception:
                        pass
                    info = CloseInfo(MESSAGE_TOO_BIG, "frame too large",
                                     error=ConnectionFailedError(
                                         f"the server sent a {len(data)}-byte frame, over the limit of "
                                         f"{self._max_frame_bytes} bytes"))
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    try:
                        payload: Union[str, bytes] = data.decode("utf-8")
                    except UnicodeDecodeError:
                        payload = data
                else:
                    payload = data
                log_frame("recv", payload, self._audio_fields)
                try:
                    self._on_frame(payload)
                except Exception:  # the frame sink is ours; never let it kill the reader
                    log.exception("error while handling a received frame; continuing")
        except websocket.WebSocketConnectionClosedException as exc:
            info = self._ended(exc)
        except (websocket.WebSocketException, OSError) as exc:
            info = self._ended(exc)
        except Exception as exc:  # pragma: no cover - defensive: report, never leak a traceback
            log.exception("realtime-reader failed")
            info = self._ended(exc)
        finally:
            self._closed.set()
            try:
                ws.shutdown()
            except Exception:
                pass
            if info is None:
                info = CloseInfo(ABNORMAL, "connection ended", by_client=self._closing.is_set())
            try:
                self._on_close(info)
            except Exception:
                log.exception("error in the connection-closed handler")

    def _ended(self, exc: BaseException) -> CloseInfo:
        if self._closing.is_set():
            return CloseInfo(self._close_code, "closed by client", clean=True, by_client=True)
        err: RealtimeError = ConnectionFailedError(f"the connection dropped: {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return CloseInfo(ABNORMAL, "connection dropped", error=err)

    def _close_info(self, payload: bytes) -> CloseInfo:
        code = NO_STATUS
        reason = ""
        if len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
            reason = payload[2:].decode("utf-8", "replace")
        by_client = self._closing.is_set()
        clean = by_client or code == NORMAL_CLOSURE
        error = None
        if not clean:
            error = ConnectionFailedError(
                f"the server closed the connection (code {code}{': ' + reason if reason else ''})",
                details={"close_code": code, "close_reason": reason})
        return CloseInfo(code, reason, clean=clean, by_client=by_client, error=error)
