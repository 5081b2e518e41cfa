"""The Azure OpenAI realtime provider: ``azure_openai_realtime(...)``.

Azure speaks OpenAI's GA protocol unchanged (protocols.md §8.5), so the provider session is the
OpenAI session (composition: :class:`AzureSession` holds one and forwards to it) with Azure's own
endpoint, authentication, deployment names and 30-minute session cap.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any, List, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import attrs

from ..._errors import RealtimeError
from ..._intents import Intent
from ..._models import RealtimeToken, SessionConfig
from ..._provider import CloseAction, Received, ResumeState
from ..._types import ConnectionRequest, Frame
from ..._util import is_loopback_host
from .._common import check_ws_url, with_query_param
from .._openai._adapter import IMAGE_TYPES, OpenAIRealtimeAdapter
from .._openai._protocol import OpenAISession
from . import _wire as wire

__all__ = ["AUTH_MODES", "AzureOpenAIRealtimeAdapter", "AzureSession", "azure_openai_realtime"]

AUTH_MODES = ("auto", "api-key", "bearer")
# An Entra ID access token is a JWT (three base64url parts); an ephemeral secret starts "ek_".
_JWT = re.compile(r"^eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*$")


class AzureOpenAIRealtimeAdapter:
    """Azure OpenAI realtime (GA, WebSocket); build it with :func:`azure_openai_realtime`.

    A factory: :meth:`new_session` gives each connection its own :class:`AzureSession`. The
    adapter is immutable, so one adapter may serve several clients.

    .. versionadded:: 0.3.0
    """

    provider = "azure"
    image_types = IMAGE_TYPES

    def __init__(
        self,
        endpoint: Optional[str] = None,
        deployment: Optional[str] = None,
        *,
        api_version: Optional[str] = None,
        url: Optional[str] = None,
        model: Optional[str] = None,
        auth: str = "auto",
        input_transcription: Union[str, Mapping[str, Any], None] = None,
        noise_reduction: Optional[str] = None,
        tool_choice: Union[str, Mapping[str, Any], None] = None,
        speed: Optional[float] = None,
        audio_format: str = "pcm16",
        session_cap: Optional[float] = wire.SESSION_CAP_SECONDS,
    ) -> None:
        for name, value in (("deployment", deployment), ("model", model), ("api_version", api_version)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if deployment is not None and model is not None and deployment != model:
            raise ValueError(f"deployment={deployment!r} and model={model!r} disagree: on Azure the model "
                             "is the deployment; give one of them")
        if auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, got {auth!r}")
        if input_transcription is True:  # type: ignore[comparison-overlap]
            raise ValueError("input_transcription must name your Azure transcription *deployment* "
                             "(e.g. input_transcription='my-whisper'); Azure has no default one")
        if session_cap is not None and (isinstance(session_cap, bool)
                                        or not isinstance(session_cap, (int, float)) or not session_cap > 0):
            raise ValueError(f"session_cap must be a positive number of seconds or None, got {session_cap!r}")
        if url is None:
            endpoint = endpoint if endpoint is not None else os.environ.get(wire.ENDPOINT_ENV, "").strip()
            if not endpoint:
                raise ValueError("azure_openai_realtime needs endpoint='https://<resource>.openai.azure.com' "
                                 f"(or the {wire.ENDPOINT_ENV} environment variable) or an explicit url=")
            url = endpoint_ws_url(endpoint, preview=api_version is not None)
        self.url = check_ws_url(url)
        self.deployment = deployment or model
        self.api_version = api_version
        self.auth = auth
        self.session_cap = None if session_cap is None else float(session_cap)
        # The GA dialect itself: OpenAI's adapter holds the session options and builds sessions.
        self._openai = OpenAIRealtimeAdapter(self.url, self.deployment,
                                             input_transcription=input_transcription,
                                             noise_reduction=noise_reduction, tool_choice=tool_choice,
                                             speed=speed, audio_format=audio_format)

    def __repr__(self) -> str:
        return (f"AzureOpenAIRealtimeAdapter(url={self.url!r}, deployment={self.deployment!r}, "
                f"api_version={self.api_version!r})")

    @property
    def audio_format(self) -> Any:
        """The wire audio format, both ways (24 kHz PCM16, or G.711 at 8 kHz)."""
        return self._openai.audio_format

    @property
    def options(self) -> Any:
        """The GA session options (transcription, noise reduction, tool choice, speed, format)."""
        return self._openai.options

    def new_session(self) -> AzureSession:
        """A fresh protocol session for one connection."""
        return AzureSession(self, self._openai.new_session())

    def check_config(self, config: SessionConfig) -> None:
        """Refuse settings Azure's GA dialect cannot honour; warn about those with no effect.

        The rules are OpenAI GA's (:meth:`OpenAIRealtimeAdapter.check_config`), and ``model``
        names the deployment.

        Raises:
            ValueError: ``model`` differs from the adapter's deployment, or a GA rule is broken.
            TypeError: a tool cannot be encoded.
        """
        if config.model is not None and self.deployment is not None and config.model != self.deployment:
            raise ValueError(f"model={config.model!r} conflicts with azure_openai_realtime(deployment="
                             f"{self.deployment!r}); on Azure the model is the deployment, set it once")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._openai.check_config(attrs.evolve(config, model=None))
        for note in caught:
            warnings.warn(str(note.message), note.category, stacklevel=3)


class AzureSession:
    """One Azure connection: the OpenAI GA session with Azure's URL, auth and session cap.

    Threads: used under the client's state lock only.
    """

    def __init__(self, adapter: AzureOpenAIRealtimeAdapter, inner: OpenAISession) -> None:
        self._adapter = adapter
        self._inner = inner
        self.info = attrs.evolve(inner.info, provider="azure", session_cap=adapter.session_cap)

    def connection_request(self, token: RealtimeToken, config: SessionConfig,
                           resume: Optional[ResumeState]) -> ConnectionRequest:
        """The GA URL ``.../openai/v1/realtime?model=<deployment>`` (no ``api-version``), or the
        preview URL ``.../openai/realtime?api-version=...&deployment=...`` when ``api_version``
        is set; the token in the ``api-key`` header or as ``Authorization: Bearer``.

        The deployment is the adapter's, else ``config.model``, else the token's model. With
        ``auth="auto"`` a token that expires (an ephemeral client secret, an Entra ID token) or
        looks like one (``ek_...``, a JWT) is sent as Bearer; one that never expires is an API key.

        Raises:
            ValueError: no deployment is known, or the token is not a valid header value (the
                message never contains the token).
        """
        deployment = self._adapter.deployment or config.model or token.config.model
        if not deployment:
            raise ValueError("no Azure deployment: pass azure_openai_realtime(deployment=...) or a model")
        # the OpenAI session checks the token (and nothing it builds is used)
        self._inner.connection_request(token, attrs.evolve(config, model=deployment), resume)
        url = self._adapter.url
        if self._adapter.api_version is not None:
            url = with_query_param(url, "api-version", self._adapter.api_version)
            url = with_query_param(url, "deployment", deployment)
        else:
            url = with_query_param(url, "model", deployment)
        if auth_mode(self._adapter.auth, token) == "api-key":
            headers = {wire.API_KEY_HEADER: token.token}
        else:
            headers = {"Authorization": f"Bearer {token.token}"}
        return ConnectionRequest(url=url, headers=headers)

    def start(self, config: SessionConfig, resume: Optional[ResumeState]) -> List[Frame]:
        return self._inner.start(config, resume)

    def receive(self, frame: Union[str, bytes]) -> Received:
        return self._inner.receive(frame)

    def send(self, intent: Intent) -> List[Frame]:
        return self._inner.send(intent)

    def classify_close(self, code: int, reason: str, error: Optional[RealtimeError]) -> CloseAction:
        """As OpenAI: 1000 clean, 1001 the session cap (reconnect with go-away), drops reconnect."""
        return self._inner.classify_close(code, reason, error)

    def resume_state(self) -> ResumeState:
        """Azure cannot resume a session: the next one is seeded with the history."""
        return self._inner.resume_state()


def auth_mode(auth: str, token: RealtimeToken) -> str:
    """``"api-key"`` or ``"bearer"`` for ``token`` under the adapter's ``auth`` setting."""
    if auth != "auto":
        return auth
    secret = token.token
    if secret.startswith("ek_") or _JWT.match(secret) or token.expires_at is not None:
        return "bearer"
    return "api-key"


def endpoint_ws_url(endpoint: str, *, preview: bool = False) -> str:
    """The realtime WebSocket URL of an Azure resource endpoint (``https://<res>.openai.azure.com``).

    ``https`` becomes ``wss``; plain ``http`` is accepted for loopback hosts only (tests). A path
    the endpoint already has (``/``, ``/openai``, ``/openai/v1``) is replaced.

    Raises:
        ValueError: not an http(s) URL, or http to a non-loopback host.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a string, got {type(endpoint).__name__}")
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be https://<resource>.openai.azure.com, got scheme "
                         f"{parts.scheme!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("endpoint must use https:// (http:// is accepted for loopback hosts only)")
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = wire.PREVIEW_PATH if preview else wire.GA_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def azure_openai_realtime(
    endpoint: Optional[str] = None,
    deployment: Optional[str] = None,
    *,
    api_version: Optional[str] = None,
    url: Optional[str] = None,
    model: Optional[str] = None,
    auth: str = "auto",
    input_transcription: Union[str, Mapping[str, Any], None] = None,
    noise_reduction: Optional[str] = None,
    tool_choice: Union[str, Mapping[str, Any], None] = None,
    speed: Optional[float] = None,
    audio_format: str = "pcm16",
    session_cap: Optional[float] = wire.SESSION_CAP_SECONDS,
) -> AzureOpenAIRealtimeAdapter:
    """The Azure OpenAI realtime provider (GA protocol over WebSocket).

    Args:
        endpoint: the resource endpoint, ``https://<resource>.openai.azure.com``; default the
            ``AZURE_OPENAI_ENDPOINT`` environment variable. Not needed with ``url=``.
        deployment: the realtime model *deployment* name, sent as ``?model=``; default the
            session config's or the token's model.
        api_version: use the deprecated preview endpoint ``/openai/realtime?api-version=...
            &deployment=...`` instead of the GA ``/openai/v1/realtime`` (which refuses an
            ``api-version`` with 401).
        url: the WebSocket endpoint without a query string, used as given (``ws://`` only to
            loopback hosts).
        model: another name for ``deployment`` (generic code passes ``model=``).
        auth: how the token is sent: ``"api-key"`` (the ``api-key`` header: a resource key),
            ``"bearer"`` (``Authorization: Bearer``: an Entra ID token or an ephemeral client
            secret), or ``"auto"`` (default: a token that expires, or looks like ``ek_...`` or a
            JWT, is a bearer token; one that never expires is an API key).
        input_transcription: transcribe the user's speech with this transcription
            *deployment* (a name, or a full transcription mapping); default off, since
            OpenAI's model names are not deployment names on Azure.
        noise_reduction: as :func:`openai_realtime`.
        tool_choice: as :func:`openai_realtime`.
        speed: as :func:`openai_realtime`.
        audio_format: as :func:`openai_realtime`.
        session_cap: Azure's session limit in seconds (30 minutes); with reconnect on, the client
            recycles the connection at a quiet moment shortly before it. ``None`` turns that off.

    Raises:
        ValueError: no endpoint and no url, an invalid URL or option value.

    Example::

        from realtime_client.tokens import azure_openai_realtime_token
        client = RealtimeClient(
            get_token=azure_openai_realtime_token(endpoint=ENDPOINT, deployment="gpt-realtime"),
            adapter=azure_openai_realtime(endpoint=ENDPOINT, deployment="gpt-realtime"))

    .. versionadded:: 0.3.0
    """
    return AzureOpenAIRealtimeAdapter(endpoint, deployment, api_version=api_version, url=url, model=model,
                                      auth=auth, input_transcription=input_transcription,
                                      noise_reduction=noise_reduction, tool_choice=tool_choice, speed=speed,
                                      audio_format=audio_format, session_cap=session_cap)
