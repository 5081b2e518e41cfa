"""The Gemini Live provider factory: ``gemini_realtime(...)``.

The adapter holds the settings; each connection gets its own :class:`GeminiSession`
(``_protocol.py``).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from ..._models import SessionConfig
from .._common import check_ws_url
from . import _wire as wire
from ._protocol import GeminiSession
from ._setup import GeminiOptions, check_config

__all__ = ["DEFAULT_MODEL", "GeminiRealtimeAdapter", "gemini_realtime"]

DEFAULT_MODEL = wire.DEFAULT_MODEL
# realtimeInput.video takes JPEG frames (documented); PNG is accepted by Gemini's image input
# generally, but unconfirmed for the Live API's video channel. WebP/GIF are refused.
IMAGE_TYPES = ("image/jpeg", "image/png")


class GeminiRealtimeAdapter:
    """Gemini Live (BidiGenerateContent) over WebSocket; build it with :func:`gemini_realtime`.

    A factory: :meth:`new_session` gives each connection its own protocol session. The adapter
    itself is immutable, so one adapter may serve several clients.

    .. versionadded:: 0.2.0
    """

    provider = "gemini"
    image_types = IMAGE_TYPES
    """The image mime types ``send_image`` may send (others are refused, never converted)."""

    def __init__(self, model: Optional[str] = None, url: Optional[str] = None,
                 api_version: Optional[str] = None, *, input_transcription: bool = True,
                 output_transcription: bool = True, session_resumption: bool = True,
                 context_compression: Union[bool, Mapping[str, Any]] = True,
                 context_update: Optional[bool] = None, ping_interval: Optional[float] = None,
                 ping_timeout: float = wire.MIN_PING_TIMEOUT) -> None:
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        self.model = model.strip() if model is not None else None
        if api_version is not None and api_version not in wire.API_VERSIONS:
            raise ValueError(f"api_version must be one of {wire.API_VERSIONS}, got {api_version!r}")
        self.api_version = api_version
        self.url = None if url is None else check_ws_url(url)
        if self.url is not None and urlsplit(self.url).query:
            raise ValueError("url must not carry a query string: the credential goes in a header")
        for name, value in (("input_transcription", input_transcription),
                            ("output_transcription", output_transcription),
                            ("session_resumption", session_resumption)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        if context_update is not None and not isinstance(context_update, bool):
            raise TypeError(f"context_update must be True, False or None (by model), got {context_update!r}")
        self.context_update = context_update
        if ping_interval is not None:
            if isinstance(ping_interval, bool) or not isinstance(ping_interval, (int, float)) \
                    or ping_interval <= 0:
                raise ValueError("ping_interval must be a positive number of seconds or None, "
                                 f"got {ping_interval!r}")
            if isinstance(ping_timeout, bool) or not isinstance(ping_timeout, (int, float)) \
                    or ping_timeout < wire.MIN_PING_TIMEOUT:
                raise ValueError(f"ping_timeout must be at least {wire.MIN_PING_TIMEOUT:g} s: Gemini's "
                                 "pongs take 8-30 s and a shorter timeout ends sessions with 1011, "
                                 f"got {ping_timeout!r}")
        self.ping_interval = None if ping_interval is None else float(ping_interval)
        self.ping_timeout = float(ping_timeout)
        self.options = GeminiOptions(input_transcription=input_transcription,
                                     output_transcription=output_transcription,
                                     session_resumption=session_resumption,
                                     context_compression=_compression(context_compression))

    def __repr__(self) -> str:
        return f"GeminiRealtimeAdapter(model={self.model!r}, url={self.url!r})"

    def context_update_for(self, model: Optional[str]) -> bool:
        """Whether ``contextUpdate`` can change instructions and tools live for ``model``."""
        if self.context_update is not None:
            return self.context_update
        name = (model or wire.DEFAULT_MODEL).split("/")[-1]
        return name.startswith(wire.CONTEXT_UPDATE_MODEL_PREFIXES)

    def endpoint(self, ephemeral: bool) -> str:
        """The WebSocket URL for an API key (``ephemeral=False``) or an ``auth_tokens/`` token."""
        version = self.api_version or (wire.EPHEMERAL_API_VERSION if ephemeral else wire.DEFAULT_API_VERSION)
        method = wire.CONSTRAINED_METHOD if ephemeral else wire.METHOD
        if self.url is None:
            return f"wss://{wire.HOST}{wire.endpoint_path(version, method)}"
        parts = urlsplit(self.url)
        if parts.path not in ("", "/"):
            return self.url  # an explicit endpoint is used as given
        return urlunsplit((parts.scheme, parts.netloc, wire.endpoint_path(version, method), "", ""))

    def new_session(self) -> GeminiSession:
        """A fresh protocol session for one connection."""
        return GeminiSession(self)

    def check_config(self, config: SessionConfig) -> None:
        """Refuse settings Gemini Live cannot honour; warn about those with no effect.

        ``RealtimeClient`` calls this at construction and in ``update_session``.
        ``docs/providers.md`` lists what happens to each option.

        Raises:
            ValueError: ``vad_mode='semantic'``; ``output_modalities`` not exactly ``["audio"]``
                or ``["text"]``; a ``model`` that conflicts with the adapter's; an empty voice;
                ``provider_options`` setting ``model``, ``sessionResumption`` or
                ``historyConfig`` (the adapter manages them).
            TypeError: ``provider_options["tools"]`` is not a list, or a tool cannot be encoded.

        Warns:
            UserWarning: a setting kept but without effect (``vad_config.threshold``, ...).
        """
        for note in check_config(config, self.model):
            warnings.warn(note, UserWarning, stacklevel=3)


def _compression(value: Union[bool, Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    if value is True:
        return {"slidingWindow": {}}
    if value is False or value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError("context_compression must be True, False or a contextWindowCompression dict, "
                    f"got {value!r}")


def gemini_realtime(
    model: Optional[str] = None,
    url: Optional[str] = None,
    api_version: Optional[str] = None,
    *,
    input_transcription: bool = True,
    output_transcription: bool = True,
    session_resumption: bool = True,
    context_compression: Union[bool, Mapping[str, Any]] = True,
    context_update: Optional[bool] = None,
    ping_interval: Optional[float] = None,
    ping_timeout: float = wire.MIN_PING_TIMEOUT,
) -> GeminiRealtimeAdapter:
    """The Gemini Live API (``BidiGenerateContent`` over WebSocket) provider.

    Audio is 16 kHz PCM16 in and 24 kHz out (the audio engine resamples). The session opens with
    ``setup`` and is live at ``setupComplete``. A ``RealtimeToken`` whose token starts
    ``auth_tokens/`` is ephemeral (``Authorization: Token``, ``v1alpha``,
    ``BidiGenerateContentConstrained``); any other is an API key (``x-goog-api-key``).

    Args:
        model: the model id, e.g. ``"gemini-3.8-live"``; default: the session config's or the
            token's model, else :data:`DEFAULT_MODEL`.
        url: the WebSocket endpoint without a query string, used as given; a URL with no path
            (``wss://host:port``) gets the standard path for the credential. Default:
            ``wss://generativelanguage.googleapis.com/ws/...``. Plain ``ws://`` is refused unless
            the host is loopback.
        api_version: ``"v1"``, ``"v1beta"`` or ``"v1alpha"``; default ``v1beta`` for API keys
            and ``v1alpha`` for ephemeral tokens (the only version that takes them).
        input_transcription: transcribe the user's speech (on by default, so user voice
            messages carry text).
        output_transcription: transcribe the model's speech (on by default).
        session_resumption: ask for resumption handles and resume with them after a drop and,
            proactively, after ``goAway`` (on by default).
        context_compression: ``True`` (default: a sliding window with the server's defaults,
            so a session can outlive the 15-minute audio cap), ``False``, or a
            ``contextWindowCompression`` dict such as ``{"triggerTokens": 25600,
            "slidingWindow": {"targetTokens": 12800}}``.
        context_update: whether the model takes ``contextUpdate`` (instructions and tools on an
            open connection); ``None`` (default) decides by model (``gemini-3.8*``). Without it
            ``update_session`` reconnects with the resumption handle and the new setup.
        ping_interval: WebSocket keep-alive pings; ``None`` (default) sends none: Gemini's
            pongs take 8-30 s and short timeouts end sessions with 1011.
        ping_timeout: with pings, how long to wait for a pong; at least 60 s.

    Raises:
        ValueError / TypeError: an invalid URL or option value.

    Example::

        client = RealtimeClient(get_token=gemini_realtime_token(), adapter=gemini_realtime())

    .. versionadded:: 0.2.0
    """
    return GeminiRealtimeAdapter(model, url, api_version, input_transcription=input_transcription,
                                 output_transcription=output_transcription,
                                 session_resumption=session_resumption,
                                 context_compression=context_compression, context_update=context_update,
                                 ping_interval=ping_interval, ping_timeout=ping_timeout)
