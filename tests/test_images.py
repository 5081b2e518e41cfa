"""Fetching image URLs for send_image against a real loopback HTTP server: types, limits, deadlines."""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List

import pytest
import requests

from realtime_client._errors import ConnectionFailedError
from realtime_client._images import (
    KNOWN_IMAGE_TYPES,
    MAX_IMAGE_BYTES,
    MAX_REDIRECTS,
    fetch_image,
    image_type,
    sniff_image_type,
)
from realtime_client._validate import image_payload
from realtime_client.adapters import openai_realtime
from tests.helpers import frames_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\0" * 64
GIF = b"GIF89a" + b"\0" * 64
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 64
HTML = b"<!DOCTYPE html><html><body>not an image</body></html>"
STOP = threading.Event()  # set at teardown so stalling handlers return
SEEN_ACCEPT: List[str] = []  # the Accept header of every request to /accept.png


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: Dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _stream(handler: BaseHTTPRequestHandler, first: bytes, piece: bytes, pause: float) -> None:
    """Send 200 image/png with no Content-Length, ``first`` and then ``piece`` until the client leaves."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.end_headers()
    handler.wfile.write(first)
    while not STOP.is_set():
        handler.wfile.write(piece)
        handler.wfile.flush()
        if pause:
            STOP.wait(pause)


def _trickle_then_stall(handler: BaseHTTPRequestHandler) -> None:
    """Send a PNG head, then a byte every 50 ms for 0.7 s, then nothing (connection kept open)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Content-Length", str(len(PNG) + 1000))
    handler.end_headers()
    handler.wfile.write(PNG)
    for _ in range(14):
        handler.wfile.write(b"\0")
        handler.wfile.flush()
        if STOP.wait(0.05):
            return
    STOP.wait(30)


def _redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
    _send(handler, 302, b"", {"Location": location, "Content-Length": "0"})


ROUTES: Dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
    "/cat.png": lambda h: _send(h, 200, PNG, {"Content-Type": "image/png"}),
    "/cat.jpg": lambda h: _send(h, 200, JPEG, {"Content-Type": "image/jpeg; charset=binary"}),
    "/octet.png": lambda h: _send(h, 200, PNG, {"Content-Type": "application/octet-stream"}),
    "/untyped.jpg": lambda h: _send(h, 200, JPEG, {}),
    "/anim.gif": lambda h: _send(h, 200, GIF, {"Content-Type": "image/gif"}),
    "/photo.webp": lambda h: _send(h, 200, WEBP, {"Content-Type": "image/webp"}),
    "/accept.png": lambda h: (SEEN_ACCEPT.append(h.headers.get("Accept", "")),
                              _send(h, 200, PNG, {"Content-Type": "image/png"})),
    "/octet.gif": lambda h: _send(h, 200, GIF, {"Content-Type": "application/octet-stream"}),
    "/page.html": lambda h: _send(h, 200, HTML, {"Content-Type": "text/html; charset=utf-8"}),
    "/lying.png": lambda h: _send(h, 200, HTML, {"Content-Type": "image/png"}),
    "/empty.png": lambda h: _send(h, 200, b"", {"Content-Type": "image/png", "Content-Length": "0"}),
    "/missing.png": lambda h: _send(h, 404, b"no such image", {"Content-Type": "text/plain"}),
    "/broken.png": lambda h: _send(h, 500, b"oops", {"Content-Type": "text/plain"}),
    "/to-ftp": lambda h: _redirect(h, "ftp://127.0.0.1/cat.png"),
    "/exact.png": lambda h: _send(h, 200, PNG + b"\0" * (MAX_IMAGE_BYTES - len(PNG)),
                                  {"Content-Type": "image/png"}),
    "/declared-huge.png": lambda h: _send(h, 200, PNG, {"Content-Type": "image/png",
                                                       "Content-Length": str(MAX_IMAGE_BYTES + 1)}),
    "/endless.png": lambda h: _stream(h, PNG, b"\0" * 65536, 0),
    "/trickle.png": lambda h: _stream(h, PNG, b"\0", 0.05),
    "/stall": lambda h: STOP.wait(30),
    "/trickle-then-stall.png": _trickle_then_stall,
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/hop/"):  # /hop/3 -> /hop/2 -> /hop/1 -> /hop/0 -> /cat.png
            left = int(path.rsplit("/", 1)[1])
            _redirect(self, f"/hop/{left - 1}" if left else "/cat.png")
            return
        try:
            ROUTES[path](self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should for an endless body

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """The base URL of a threaded HTTP server on 127.0.0.1 serving the ROUTES above."""
    STOP.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="test-image-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        STOP.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/cat.png?sig=SECRET"


# --- magic bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data, mime", [(PNG, "image/png"), (JPEG, "image/jpeg"),
                                        (bytearray(PNG), "image/png")])
def test_png_and_jpeg_are_recognised_by_their_magic_bytes(data, mime):
    """image_type returns image/png or image/jpeg from the first bytes of the data."""
    assert image_type(data) == mime


@pytest.mark.parametrize("data, mime", [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"),
                                        (GIF, "image/gif"), (b"GIF87a" + b"\0" * 8, "image/gif"),
                                        (memoryview(PNG), "image/png"), (b"RIFF\0\0\0\0WAVE", None),
                                        (b"\xff\xd8", None), (b"", None), (b"not an image", None)])
def test_the_sniffer_knows_png_jpeg_webp_and_gif_by_their_magic_numbers(data, mime):
    """sniff_image_type names the four image types by their first bytes and nothing else."""
    assert sniff_image_type(data) == mime


def test_an_adapter_can_accept_more_types_and_gets_them_by_content():
    """image_payload takes WebP and GIF when the adapter's image_types lists them, typed by content."""
    wide = SimpleNamespace(provider="wide", image_types=KNOWN_IMAGE_TYPES)
    assert image_payload(WEBP, adapter=wide)[1] == "image/webp"
    assert image_payload(GIF, "image/png", adapter=wide)[1] == "image/gif"
    narrow = SimpleNamespace(provider="narrow", image_types=("image/jpeg",))
    with pytest.raises(ValueError, match="is PNG; only JPEG images can be sent to narrow"):
        image_payload(PNG, adapter=narrow)
    with pytest.raises(ValueError, match=r"not a PNG, JPEG, WebP or GIF image \(it starts with 00 01"):
        image_payload(b"\0\x01\x02", adapter=wide)


def test_the_openai_adapter_accepts_only_png_and_jpeg():
    """openai_realtime() declares PNG and JPEG, the formats the openai SDK documents for input_image."""
    assert openai_realtime().image_types == ("image/png", "image/jpeg")


@pytest.mark.parametrize("data, named", [
    (GIF, "is GIF"), (b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 16, "is WebP"), (b"BM" + b"\0" * 30, "is BMP"),
    (b"\0\0\0\x1cftypavif" + b"\0" * 16, "is AVIF"), (b"\0\0\0\x18ftypheic" + b"\0" * 16, "is HEIC"),
    (b"II*\0" + b"\0" * 16, "is TIFF"), (HTML, "is HTML"), (b"<svg xmlns='x'/>", "is SVG"),
    (b"hello world", "starts with 68 65 6c 6c 6f 20 77 6f"), (b"", "starts with nothing"),
])
def test_other_formats_are_refused_naming_what_they_are(data, named):
    """Anything but PNG/JPEG raises ValueError naming the format it is, or its first bytes."""
    with pytest.raises(ValueError, match=named):
        image_type(data)


# --- fetching -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, body, mime", [
    ("/cat.png", PNG, "image/png"), ("/cat.jpg", JPEG, "image/jpeg"),
    ("/octet.png", PNG, "image/png"), ("/untyped.jpg", JPEG, "image/jpeg"),
])
def test_png_and_jpeg_urls_are_downloaded_with_their_real_type(http_base, path, body, mime):
    """A PNG or JPEG served as its type, as octet-stream or untyped comes back whole with its real type."""
    assert fetch_image(http_base + path) == (body, mime)


def test_the_accept_header_lists_only_what_the_provider_takes(http_base):
    """A fetch asks for the accepted types only, so a negotiating server sends one of them."""
    SEEN_ACCEPT.clear()
    fetch_image(f"{http_base}/accept.png")
    fetch_image(f"{http_base}/accept.png", accepted=KNOWN_IMAGE_TYPES)
    assert SEEN_ACCEPT == ["image/png, image/jpeg", "image/png, image/jpeg, image/webp, image/gif"]


def test_a_webp_url_is_refused_for_openai_and_fetched_when_accepted(http_base):
    """image/webp is refused by Content-Type under the default types and returned when it is accepted."""
    refused = "Content-Type 'image/webp'; only image/png and image/jpeg can be sent"
    with pytest.raises(ValueError, match=refused):
        fetch_image(f"{http_base}/photo.webp")
    assert fetch_image(f"{http_base}/photo.webp", accepted=KNOWN_IMAGE_TYPES) == (WEBP, "image/webp")


def test_image_payload_inlines_a_url_as_base64(http_base):
    """image_payload turns an http URL into base64 of the served bytes and the sniffed type."""
    expected = (base64.b64encode(JPEG).decode("ascii"), "image/jpeg")
    assert image_payload(f"{http_base}/cat.jpg", "image/png") == expected


@pytest.mark.parametrize("path, message", [
    ("/anim.gif", "Content-Type 'image/gif'; only image/png and image/jpeg"),
    ("/octet.gif", "is GIF; only PNG and JPEG"),
    ("/page.html", "Content-Type 'text/html'"),
    ("/lying.png", "is HTML; only PNG and JPEG"),
    ("/empty.png", "is empty"),
])
def test_non_images_are_refused_with_a_value_error_naming_what_came(http_base, path, message):
    """A GIF, HTML or empty body raises ValueError naming the URL and the type or format received."""
    with pytest.raises(ValueError, match=message) as info:
        fetch_image(http_base + path)
    assert path in str(info.value)


def test_http_error_statuses_raise_connection_failed_without_the_query(http_base):
    """A 404 or 500 raises ConnectionFailedError naming the status and the URL minus its query string."""
    for path, status in (("/missing.png", 404), ("/broken.png", 500)):
        with pytest.raises(ConnectionFailedError, match=f"HTTP {status}") as info:
            fetch_image(f"{http_base}{path}?X-Amz-Signature=SECRET")
        assert f"{http_base}{path}" in str(info.value) and "SECRET" not in str(info.value)
        assert isinstance(info.value.__cause__, requests.HTTPError)
        assert info.value.details["status"] == status


def test_an_unreachable_server_raises_connection_failed_with_the_cause_chained():
    """A refused connection raises ConnectionFailedError chaining the requests error, query hidden."""
    with pytest.raises(ConnectionFailedError, match="connection failed") as info:
        fetch_image(_refused_url(), timeout=5)
    assert "SECRET" not in str(info.value)
    assert isinstance(info.value.__cause__, requests.ConnectionError)


def test_a_redirect_chain_within_the_limit_is_followed(http_base):
    """A chain of MAX_REDIRECTS redirects ending at a PNG is followed to the image."""
    assert fetch_image(f"{http_base}/hop/{MAX_REDIRECTS - 1}") == (PNG, "image/png")
    assert fetch_image(f"{http_base}/hop/1", max_redirects=2) == (PNG, "image/png")


def test_too_many_or_non_http_redirects_raise_connection_failed(http_base):
    """One redirect more than allowed, or a redirect to ftp:, raises ConnectionFailedError saying so."""
    with pytest.raises(ConnectionFailedError, match=f"more than {MAX_REDIRECTS} redirects"):
        fetch_image(f"{http_base}/hop/{MAX_REDIRECTS}")
    with pytest.raises(ConnectionFailedError, match="more than 1 redirects"):
        fetch_image(f"{http_base}/hop/1", max_redirects=1)
    with pytest.raises(ConnectionFailedError, match="non-http"):
        fetch_image(f"{http_base}/to-ftp")


def test_an_image_of_exactly_the_limit_is_accepted(http_base):
    """A 20 MiB PNG body (the limit exactly) is downloaded whole."""
    body, mime = fetch_image(f"{http_base}/exact.png")
    assert len(body) == MAX_IMAGE_BYTES and mime == "image/png"


def test_oversized_bodies_are_refused_without_reading_them_all(http_base):
    """A declared or streamed body over 20 MiB raises ValueError naming the limit; an endless one ends."""
    with pytest.raises(ValueError, match=f"{MAX_IMAGE_BYTES + 1} bytes; the limit is {MAX_IMAGE_BYTES}"):
        fetch_image(f"{http_base}/declared-huge.png")
    start = time.monotonic()
    with pytest.raises(ValueError, match=f"more than {MAX_IMAGE_BYTES} bytes; the limit is"):
        fetch_image(f"{http_base}/endless.png", timeout=20)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("path", ["/stall", "/trickle.png"])
def test_the_deadline_covers_a_stalled_or_trickling_server(http_base, path):
    """A server that never answers, or sends a byte every 50 ms, fails within the total timeout."""
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError, match=r"timed out after 0.5 s") as info:
        fetch_image(http_base + path, timeout=0.5)
    assert time.monotonic() - start < 1.5
    assert info.value.__cause__ is not None


def test_the_deadline_is_total_not_per_read(http_base):
    """A body that trickles for 0.7 s and then stalls fails at the 1 s deadline, not 1 s after the stall."""
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError, match="timed out after 1 s"):
        fetch_image(f"{http_base}/trickle-then-stall.png", timeout=1.0)
    assert time.monotonic() - start < 1.4


def test_image_payload_passes_its_timeout_to_the_fetch(http_base):
    """image_payload(url, timeout=...) bounds the download by that timeout."""
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError, match="timed out"):
        image_payload(f"{http_base}/stall", "image/png", timeout=0.3)
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("url", ["http://", "https:///cat.png", "ftp://example.com/cat.png"])
def test_urls_without_a_host_or_with_another_scheme_are_value_errors(url):
    """fetch_image refuses a URL that is not http(s) with a host, before any network access."""
    with pytest.raises(ValueError, match="must be http"):
        fetch_image(url)


# --- end to end -----------------------------------------------------------------------------------


def test_send_image_with_a_url_sends_a_png_data_uri(http_base, server, make_client):
    """send_image(url) on a connected client sends data:image/png;base64 of the served bytes."""
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    message = client.send_image(f"{http_base}/cat.png?token=abc")
    item = server.wait_for_frame("conversation.item.create")["item"]
    url = item["content"][0]["image_url"]
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")
    assert message.parts[0].mime_type == "image/png"
    client.wait_for_response(timeout=10)


def test_send_image_with_a_bad_url_raises_and_sends_nothing(http_base, server, make_client):
    """A URL serving HTML or a 404 raises on the caller's line and no user message is sent."""
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    before = list(server.received)
    with pytest.raises(ValueError, match="text/html"):
        client.send_image(f"{http_base}/page.html")
    with pytest.raises(ConnectionFailedError, match="HTTP 404"):
        client.send_image(f"{http_base}/missing.png")
    assert client.messages == () and server.received == before



def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _image_urls(server) -> List[str]:
    return [part["image_url"] for f in frames_of(server, "conversation.item.create")
            for part in f["item"].get("content", []) if part.get("type") == "input_image"]


def test_send_image_reads_a_file_path_given_as_str_or_path(tmp_path, server, make_client):
    """A str path and a pathlib.Path are read from disk; the data URI is typed by content, not the name."""
    png_file, jpeg_named_png = tmp_path / "cat.png", tmp_path / "dog.png"
    png_file.write_bytes(PNG)
    jpeg_named_png.write_bytes(JPEG)
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    first = client.send_image(str(png_file))
    second = client.send_image(jpeg_named_png, "image/png")
    server.wait_for_frame("conversation.item.create", count=2)
    assert _image_urls(server) == [f"data:image/png;base64,{_b64(PNG)}",
                                   f"data:image/jpeg;base64,{_b64(JPEG)}"]
    assert (first.parts[0].mime_type, second.parts[0].mime_type) == ("image/png", "image/jpeg")


def test_a_str_that_is_both_an_existing_file_and_base64_is_read_as_the_file(tmp_path, monkeypatch,
                                                                              server, make_client):
    """'QUJD' is valid base64 (b'ABC'); when a file of that name exists its content is what is sent."""
    monkeypatch.chdir(tmp_path)
    Path("QUJD").write_bytes(JPEG)
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    message = client.send_image("QUJD")
    server.wait_for_frame("conversation.item.create")
    assert _image_urls(server) == [f"data:image/jpeg;base64,{_b64(JPEG)}"]
    assert message.parts[0].mime_type == "image/jpeg"


def test_paths_that_cannot_be_read_are_refused_and_nothing_is_sent(tmp_path, server, make_client):
    """A missing file, a directory, a non-image file or an oversized file raise ValueError naming the path."""
    (tmp_path / "notes.txt").write_bytes(b"shopping list")
    with (tmp_path / "huge.png").open("wb") as huge:
        huge.truncate(MAX_IMAGE_BYTES + 1)  # sparse: the size is refused before anything is read
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    before = list(server.received)
    cases = [
        (str(tmp_path / "missing" / "cat.png"),
         "no image file .*missing/cat.png' exists, and the text is not valid base64"),
        ("cat.png", "no image file 'cat.png' exists"),
        (tmp_path / "missing.png", "cannot read image file .*missing.png': No such file or directory"),
        (str(tmp_path), "is a directory, not an image file"),
        (tmp_path / "notes.txt",
         r"image file .*notes.txt' is not a PNG or JPEG image \(it starts with 73 68"),
        (tmp_path / "huge.png", f"huge.png' is {MAX_IMAGE_BYTES + 1} bytes; the limit is {MAX_IMAGE_BYTES}"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            client.send_image(data)
    assert client.messages == () and server.received == before


def test_send_image_asks_for_a_response_unless_respond_is_false(server, make_client):
    """By default an image is followed by response.create; respond=False sends only the item."""
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    client.send_image(PNG, respond=False)
    server.wait_for_frame("conversation.item.create")
    assert client.mode == "listening" and frames_of(server, "response.create") == []
    answer = client.ask("What is in the picture?", timeout=10)
    assert answer.role == "assistant"
    kinds = [(f["type"], f.get("item", {}).get("content", [{}])[0].get("type"))
             for f in server.received if f["type"] in ("conversation.item.create", "response.create")]
    assert kinds == [("conversation.item.create", "input_image"), ("conversation.item.create", "input_text"),
                     ("response.create", None)]
    client.send_image(JPEG)
    server.wait_for_frame("response.create", count=2)
    client.wait_for_response(timeout=10)
    with pytest.raises(TypeError, match="respond must be True or False"):
        client.send_image(PNG, respond="no")
