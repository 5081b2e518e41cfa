"""User input validation: every bad argument or call in the wrong state gets a clear exception."""

from __future__ import annotations

import base64
import re
import sys
from typing import Any, Dict, List

import pytest

from realtime_client import (
    ConnectionFailedError,
    RealtimeClient,
    RealtimeError,
    RealtimeStatus,
    RealtimeToken,
    TokenExpiredError,
)
from realtime_client._validate import MAX_IMAGE_BYTES
from realtime_client.adapters import openai_realtime
from realtime_client.testing import FakeRealtimeServer

LOOPBACK = "ws://127.0.0.1:1/v1/realtime"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PNG = base64.b64encode(PNG_BYTES).decode("ascii")
JPEG_BYTES = b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\0" * 64
GIF_BYTES = b"GIF89a" + b"\0" * 64
WEBP_BYTES = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 64


def offline(**options: Any) -> RealtimeClient:
    """A client that is never connected (construction only)."""
    options.setdefault("get_token", lambda: RealtimeToken(provider="openai", token="ek_offline"))
    options.setdefault("adapter", openai_realtime(url=LOOPBACK))
    options.setdefault("auto_capture", False)
    options.setdefault("auto_playback", False)
    return RealtimeClient(**options)


def sent_types(server: FakeRealtimeServer) -> List[str]:
    return [f.get("type") for f in server.received]


@pytest.fixture
def connected(server, make_client):
    """A connected client without audio devices, and the types the server had received by then."""
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    return client


# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\t  "])
def test_empty_or_blank_text_is_refused_and_nothing_is_sent(server, connected, text):
    """send_text with empty or whitespace-only text raises ValueError; no message, no frame."""
    before = list(server.received)
    with pytest.raises(ValueError, match="non-empty string"):
        connected.send_text(text)
    with pytest.raises(ValueError, match="non-empty string"):
        connected.ask(text, timeout=1)
    assert connected.messages == () and server.received == before


@pytest.mark.parametrize("text", [None, 42, b"hello", ["hi"]])
def test_text_that_is_not_a_string_is_refused(connected, text):
    """send_text with a non-str argument raises an error naming what it needs."""
    with pytest.raises((TypeError, ValueError), match="string"):
        connected.send_text(text)
    assert connected.messages == ()


# --- images -----------------------------------------------------------------------------------


def test_oversized_images_are_refused_with_the_limit_in_the_message(connected):
    """Images over 20 MiB decoded (raw bytes or base64 text) raise ValueError naming the limit."""
    assert MAX_IMAGE_BYTES == 20 * 1024 * 1024
    big = b"\0" * (MAX_IMAGE_BYTES + 1)
    with pytest.raises(ValueError, match=f"limit is {MAX_IMAGE_BYTES}"):
        connected.send_image(big)
    with pytest.raises(ValueError, match=f"{MAX_IMAGE_BYTES + 1} bytes"):
        connected.send_image(base64.b64encode(big).decode("ascii"), "image/jpeg")
    assert connected.messages == ()


def test_an_image_of_exactly_the_limit_passes_validation():
    """A 20 MiB PNG (the limit exactly) passes validation (a disconnected client then fails on state)."""
    client = offline()
    with pytest.raises(ConnectionFailedError, match="not connected"):
        client.send_image(PNG_BYTES + b"\0" * (MAX_IMAGE_BYTES - len(PNG_BYTES)))
    client.destroy()


@pytest.mark.parametrize("mime", ["image/bmp", "image/svg+xml", "text/plain", "", "png"])
def test_unsupported_mime_types_are_refused_listing_the_supported_ones(connected, mime):
    """A declared mime type that names no known image type raises ValueError listing the known ones."""
    expected = (f"unsupported image type '{mime}'; use one of image/png, image/jpeg, image/webp, image/gif "
                "or leave mime_type out (the type is read from the data)")
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        connected.send_image(PNG, mime)
    assert connected.messages == ()


def test_mime_type_is_optional_case_insensitive_and_never_trusted(connected):
    """mime_type may be left out or given in any case; the sniffed type is sent; a non-str is a TypeError."""
    assert connected.send_image(PNG, "IMAGE/PNG").parts[0].mime_type == "image/png"
    assert connected.send_image(PNG).parts[0].mime_type == "image/png"
    assert connected.send_image(PNG, "image/gif").parts[0].mime_type == "image/png"
    with pytest.raises(TypeError, match="mime_type must be a string or None, got int"):
        connected.send_image(PNG, 42)


def test_empty_images_and_non_image_data_urls_are_refused(connected):
    """Empty data and data: URLs of other types are refused; wrapped base64 is accepted."""
    for empty in (b"", ""):
        with pytest.raises(ValueError, match="empty"):
            connected.send_image(empty)
    with pytest.raises(ValueError, match="a data: URL of type 'text/html' is not an image"):
        connected.send_image("data:text/html;base64,PGgxPmhpPC9oMT4=")
    with pytest.raises(ValueError, match="payload is not valid base64"):
        connected.send_image("data:image/png;base64,@@@@")
    wrapped = base64.encodebytes(PNG_BYTES + b"\0" * 200).decode()
    assert "\n" in wrapped
    assert "\n" not in connected.send_image(wrapped).parts[0].data


@pytest.mark.parametrize("data", ["not base64!!", "QUJD=extra", "ftp://example.com/cat.png", "   ", "@@@@"])
def test_invalid_base64_is_refused(connected, data):
    """Text that is no file, no base64 and no http(s)/data URL raises ValueError listing what is accepted."""
    with pytest.raises(ValueError, match=r"not valid base64|empty") as info:
        connected.send_image(data)
    assert "empty" in str(info.value) or "send_image accepts raw image bytes, a file path" in str(info.value)
    assert connected.messages == ()


@pytest.mark.parametrize("data", [None, 42, ["x"], {"data": "x"}])
def test_image_data_of_the_wrong_type_is_refused(connected, data):
    """Image data that is neither str, bytes nor a path raises TypeError naming the type and the kinds."""
    with pytest.raises(TypeError, match=f"send_image needs raw image bytes, .*; got {type(data).__name__}"):
        connected.send_image(data)


@pytest.mark.parametrize("name, image", [("GIF", GIF_BYTES), ("WebP", WEBP_BYTES)], ids=["GIF", "WebP"])
def test_gif_and_webp_are_refused_in_every_input_form(connected, tmp_path, name, image):
    """GIF or WebP as bytes, base64, a data URL (whatever its label) or a file raise ValueError naming it."""
    b64 = base64.b64encode(image).decode("ascii")
    path = tmp_path / f"picture.{name.lower()}"
    path.write_bytes(image)
    mime = "image/gif" if name == "GIF" else "image/webp"
    for data in (image, b64, f"data:image/png;base64,{b64}", f"data:{mime};base64,{b64}", path, str(path)):
        with pytest.raises(ValueError, match=f"is {name}; only PNG and JPEG images can be sent to openai "
                                             r"\(convert it first"):
            connected.send_image(data, "image/png")
    assert connected.messages == ()


def test_bytes_that_are_no_image_at_all_are_refused_showing_their_start(server, connected):
    """Base64 of text or bytes that are no image raise ValueError showing their first bytes; none is sent."""
    before = list(server.received)
    with pytest.raises(ValueError, match=r"not a PNG or JPEG image \(it starts with 68 65 6c 6c 6f"):
        connected.send_image("aGVsbG8=", "image/png")
    with pytest.raises(ValueError, match=r"^image data is not a PNG or JPEG image \(it starts with 6e 6f 74"):
        connected.send_image(b"not an image")
    assert connected.messages == () and server.received == before


def test_valid_images_are_sent_as_user_messages_with_their_sniffed_type(server, connected):
    """Raw bytes, base64 text and data URLs each become one input_image typed by their magic bytes."""
    jpeg = base64.b64encode(JPEG_BYTES).decode("ascii")
    connected.send_image(PNG_BYTES, "image/png")
    connected.send_image(PNG, "image/jpeg")
    connected.send_image(jpeg)
    connected.send_image(f"data:image/png;base64,{jpeg}")
    server.wait_for_frame("conversation.item.create", count=4)
    urls = [f["item"]["content"][0]["image_url"] for f in server.received
            if f.get("type") == "conversation.item.create"]
    assert urls == [f"data:image/png;base64,{PNG}", f"data:image/png;base64,{PNG}",
                    f"data:image/jpeg;base64,{jpeg}", f"data:image/jpeg;base64,{jpeg}"]
    # the answers to each image may already be interleaved: look at the user's messages
    assert [m.parts[0].mime_type for m in connected.messages if m.role == "user"] == [
        "image/png", "image/png", "image/jpeg", "image/jpeg"]


# --- constructor options -----------------------------------------------------------------------


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"vad_mode": "always"}, ValueError, "vad_mode must be one of"),
    ({"vad_mode": None}, ValueError, "vad_mode must be one of"),
    ({"tool_timeout": 0}, ValueError, "tool_timeout must be a positive number"),
    ({"tool_timeout": -3}, ValueError, "tool_timeout must be a positive number"),
    ({"echo": "loud"}, ValueError, "echo must be 'off', 'gate' or 'aec'"),
    ({"echo": None}, ValueError, "echo must be"),
    ({"on_message": 42}, TypeError, "on_message must be callable, got int"),
    ({"on_error": "print"}, TypeError, "on_error must be callable, got str"),
    ({"on_status_change": object()}, TypeError, "on_status_change must be callable"),
    ({"on_go_away": [print]}, TypeError, "on_go_away must be callable, got list"),
    ({"dispatcher": 42}, TypeError, "dispatcher must be a callable"),
    ({"get_token": "ek_abc"}, TypeError, "get_token must be a callable"),
    ({"get_token": None}, TypeError, "get_token is required for the openai provider"),
    ({"temperature": 3.5}, ValueError, "temperature must be between"),
    ({"output_modalities": ["video"]}, ValueError, "output_modalities entries must be"),
    ({"semantic_eagerness": "wild"}, ValueError, "semantic_eagerness must be one of"),
    ({"max_output_tokens": 0}, ValueError, "max_output_tokens must be a positive int"),
    ({"vad_config": 42}, TypeError, "vad_config must be a VADConfig or a dict"),
    ({"tools": [42]}, TypeError, "a tool must be a Tool or a function, got int"),
    ({"ping_interval": -1}, ValueError, "ping_interval must be a positive number"),
    ({"max_frame_bytes": -1}, ValueError, "max_frame_bytes must be a positive int"),
    ({"adapter": 42}, TypeError, "adapter must implement the Adapter protocol"),
    ({"instructions": 5}, TypeError, "instructions must be a string"),
    ({"provider_options": 42}, TypeError, "provider_options must be a mapping"),
    ({"audio_output": object()}, TypeError, "audio_output must be an AudioOutput"),
    ({"input_device": 3.5}, TypeError, "input_device must be a device index"),
    ({"token_refresh": "yes"}, TypeError, "token_refresh must be True or False"),
    ({"echo": "loud"}, ValueError, "echo must be"),
])
def test_bad_constructor_options_fail_at_construction(options, error, message):
    """Each invalid option raises at construction time with a message naming the option."""
    with pytest.raises(error, match=message):
        offline(**options)


@pytest.mark.parametrize(("options", "message"), [
    ({"temperature": 0.8}, "temperature cannot be set for OpenAI Realtime"),
    ({"output_modalities": ["audio", "text"]}, r"must be exactly \['audio'\] .* or \['text'\]"),
    ({"max_output_tokens": 5000}, "must be 1 to 4096 or 'inf', got 5000"),
    ({"model": "gpt-realtime-mini", "adapter": openai_realtime(url=LOOPBACK, model="gpt-realtime-2.1")},
     "conflicts with openai_realtime"),
    ({"provider_options": {"turn_detection": None}}, "beta session field"),
], ids=["temperature", "two-modalities", "too-many-tokens", "model-conflict", "beta-field"])
def test_options_openai_cannot_honour_fail_at_construction(options, message):
    """An option the OpenAI adapter cannot honour raises ValueError from RealtimeClient(...) itself."""
    with pytest.raises(ValueError, match=message):
        offline(**options)


def test_options_with_no_effect_warn_at_the_callers_line():
    """semantic_eagerness with server VAD constructs, with a UserWarning pointing at the caller's line."""
    with pytest.warns(UserWarning, match="semantic_eagerness has no effect with vad_mode='server'") as record:
        client = offline(semantic_eagerness="low")
    client.destroy()
    assert record[0].filename == __file__


def test_update_session_refuses_what_openai_cannot_honour_at_the_call_site(server, connected):
    """update_session(temperature=...) or two modalities raise at once; config and wire stay unchanged."""
    before, config = list(server.received), connected.session_config
    with pytest.raises(ValueError, match="temperature cannot be set"):
        connected.update_session(temperature=0.5)
    with pytest.raises(ValueError, match="must be exactly"):
        connected.update_session(output_modalities=["audio", "text"], instructions="x")
    assert connected.session_config == config and server.received == before
    with pytest.warns(UserWarning, match="vad_config \\(silence_duration_ms\\) has no effect") as record:
        connected.update_session(vad_mode="manual", vad_config={"silence_duration_ms": 900})
    assert record[0].filename == __file__
    update = server.wait_for_frame("session.update", count=2)
    assert update["session"]["audio"]["input"]["turn_detection"] is None


def test_unknown_options_and_positional_arguments_are_refused():
    """Options are keyword-only and unknown ones are refused by name."""
    with pytest.raises(TypeError, match="bogus"):
        offline(bogus=1)
    with pytest.raises(TypeError, match="positional"):
        RealtimeClient(lambda: None)  # type: ignore[misc]


def test_plain_ws_to_a_remote_host_is_refused():
    """An adapter URL with ws:// to a non-loopback host raises ValueError recommending wss://."""
    with pytest.raises(ValueError, match="wss://"):
        openai_realtime(url="ws://api.example.com/v1/realtime")
    with pytest.raises(ValueError, match="wss://"):
        openai_realtime(url="https://api.example.com/v1/realtime")


def test_bad_session_updates_are_refused_and_nothing_changes(server, connected):
    """update_session with an unknown or invalid option raises and leaves the config and wire alone."""
    before, config = list(server.received), connected.session_config
    with pytest.raises(TypeError, match=r"unknown session option.*bogus"):
        connected.update_session(bogus=1)
    with pytest.raises(ValueError, match="vad_mode must be one of"):
        connected.update_session(vad_mode="sometimes")
    assert connected.session_config == config and server.received == before


def test_on_state_change_needs_a_callable():
    """Subscribing something that is not callable raises TypeError."""
    client = offline()
    with pytest.raises(TypeError, match="callable"):
        client.on_state_change(42)  # type: ignore[arg-type]
    client.destroy()


# --- calls in the wrong state --------------------------------------------------------------------


def test_sending_before_connect_raises_not_connected():
    """send_text, send_image, ask and start_listening before connect() raise, saying the client is idle."""
    client = offline()
    for call in (lambda: client.send_text("hi"), lambda: client.send_image(PNG),
                 lambda: client.ask("hi", timeout=1), client.start_listening):
        with pytest.raises(ConnectionFailedError, match="idle, not connected"):
            call()
    with pytest.raises(RealtimeError, match="no response will come"):
        client.wait_for_response(timeout=1)
    assert client.messages == () and client.status == RealtimeStatus.IDLE
    client.destroy()


def test_harmless_calls_before_connect_do_nothing():
    """interrupt(), stop_listening() and disconnect() on an idle client return quietly."""
    client = offline()
    client.interrupt()
    client.stop_listening()
    client.disconnect()
    assert client.status == RealtimeStatus.IDLE
    client.destroy()


def test_every_call_after_destroy_says_the_client_was_destroyed(server, make_client):
    """After destroy(), every method but disconnect()/destroy() raises 'destroyed' (interrupt,
    stop_listening and wait_for_playback used to return as if nothing were wrong)."""
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    client.destroy()
    calls: Dict[str, Any] = {
        "connect": lambda: client.connect(timeout=1), "send_text": lambda: client.send_text("hi"),
        "send_image": lambda: client.send_image(PNG), "ask": lambda: client.ask("hi", timeout=1),
        "update_session": lambda: client.update_session(instructions="x"),
        "start_listening": client.start_listening, "stop_listening": client.stop_listening,
        "interrupt": client.interrupt, "wait_for_playback": lambda: client.wait_for_playback(timeout=1),
        "wait_for_response": lambda: client.wait_for_response(timeout=1),
        "send_context": lambda: client.send_context("x"), "signal_activity": client.signal_activity,
    }
    for name, call in calls.items():
        with pytest.raises(RealtimeError, match="destroyed; create a new one"):
            call()
        assert name in calls
    client.disconnect()
    client.destroy()
    assert client.status == RealtimeStatus.IDLE


def test_start_listening_without_an_input_device_is_an_audio_error(connected):
    """start_listening on a client with no audio input raises AUDIO_DEVICE naming audio_input."""
    with pytest.raises(RealtimeError, match="audio_input") as info:
        connected.start_listening()
    assert info.value.code == "AUDIO_DEVICE"


def test_start_listening_with_auto_capture_off_opens_the_default_microphone(make_client):
    """auto_capture=False only defers the microphone: start_listening() opens the PyAudio one
    (here a device name that matches nothing, so the error names it)."""
    client = make_client(input_device="no such microphone")
    client.connect(timeout=5)
    assert client.status == "connected"  # nothing was opened at connect
    with pytest.raises(RealtimeError, match="no such microphone") as info:
        client.start_listening()
    assert info.value.code == "AUDIO_DEVICE"
    assert client.status == "connected"


def test_connect_twice_is_a_no_op(server, connected):
    """connect() on a connected client returns without opening a second connection."""
    connected.connect(timeout=5)
    assert len(server.connections) == 1 and connected.status == RealtimeStatus.CONNECTED


# --- bad tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "message"), [
    ({"provider": "openai"}, "no non-empty 'token' string"),
    ("ek_just_a_string", "must be a JSON object"),
    ({"provider": "openai", "token": "ek_x", "expiresAt": "soon"}, "must be a number"),
])
def test_malformed_tokens_fail_connect_with_a_clear_error(server, make_client, token, message):
    """get_token returning a malformed token makes connect() raise CONNECTION_FAILED saying why."""
    client = make_client(get_token=lambda: token, auto_playback=False)
    with pytest.raises(ConnectionFailedError, match=message):
        client.connect(timeout=5)
    assert client.status == RealtimeStatus.ERROR and server.connections == []


def test_an_expired_token_fails_connect_without_leaking_it(server, make_client):
    """An already-expired token raises TOKEN_EXPIRED before connecting; the token is in no message."""
    secret = "ek_expired_secret_value"
    client = make_client(get_token=lambda: RealtimeToken(provider="openai", token=secret, expires_at=1.0),
                         auto_playback=False)
    with pytest.raises(TokenExpiredError, match="already expired") as info:
        client.connect(timeout=5)
    assert secret not in str(info.value) and secret not in repr(client) and server.connections == []


def test_a_failing_get_token_is_chained_into_connection_failed(make_client):
    """An exception raised by get_token becomes CONNECTION_FAILED with the cause chained."""
    def broken() -> RealtimeToken:
        raise OSError("token endpoint unreachable")

    client = make_client(get_token=broken, auto_playback=False)
    with pytest.raises(ConnectionFailedError, match="get_token failed: OSError") as info:
        client.connect(timeout=5)
    assert isinstance(info.value.__cause__, OSError)


def test_aec_without_livekit_fails_at_construction(monkeypatch):
    """echo='aec' without the livekit package is an ImportError naming the extra, on the caller's line."""
    monkeypatch.setitem(sys.modules, "livekit", None)  # makes `import livekit` fail
    with pytest.raises(ImportError, match=r"pip install 'realtime-client\[aec\]'"):
        offline(echo="aec")
