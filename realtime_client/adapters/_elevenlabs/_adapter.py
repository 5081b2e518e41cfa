"""The ElevenLabs Agents provider factory: ``elevenlabs_realtime(agent_id=...)``.

The adapter holds the settings; each connection (each conversation) gets its own
:class:`ElevenLabsSession` (``_protocol.py``).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Mapping, Optional, Sequence, Tuple

from ..._models import SessionConfig
from .._common import check_ws_url, tool_schema, with_query_param
from . import _wire as wire
from ._protocol import ElevenLabsSession

__all__ = ["DEFAULT_URL", "ElevenLabsRealtimeAdapter", "elevenlabs_realtime"]

DEFAULT_URL = wire.DEFAULT_URL


class ElevenLabsRealtimeAdapter:
    """ElevenLabs Agents over WebSocket; build it with :func:`elevenlabs_realtime`.

    A factory: :meth:`new_session` gives each connection its own protocol session. The adapter
    is immutable, so one adapter may serve several clients.

    .. versionadded:: 0.2.0
    """

    provider = "elevenlabs"
    image_types: Tuple[str, ...] = ()
    """ElevenLabs takes no inline images (``multimodal_message`` needs an uploaded file id)."""

    def __init__(self, agent_id: Optional[str] = None, url: Optional[str] = None, *,
                 first_message: Optional[str] = None, language: Optional[str] = None,
                 dynamic_variables: Optional[Mapping[str, Any]] = None, user_id: Optional[str] = None,
                 client_events: Optional[Sequence[str]] = None, text_only: Optional[bool] = None,
                 residency: Optional[str] = None, environment: Optional[str] = None,
                 quiet_reconnect: bool = False, turn_end_pings: int = 1) -> None:
        if agent_id is not None and (not isinstance(agent_id, str) or not agent_id.strip()):
            raise ValueError(f"agent_id must be a non-empty string or None, got {agent_id!r}")
        if residency is not None and residency not in wire.RESIDENCY_HOSTS:
            raise ValueError(f"residency must be one of {tuple(wire.RESIDENCY_HOSTS)}, got {residency!r}")
        if url is not None and residency is not None:
            raise ValueError("give url= or residency=, not both")
        if url is None:
            url = f"wss://{wire.RESIDENCY_HOSTS[residency or 'global']}{wire.ENDPOINT_PATH}"
        self.url = check_ws_url(url)
        if "?" in self.url:
            raise ValueError("url must not have a query string (the adapter adds agent_id)")
        self.agent_id = agent_id.strip() if agent_id else None
        for name, value in (("first_message", first_message), ("language", language),
                            ("user_id", user_id), ("environment", environment)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
        self.first_message = first_message
        self.language = language
        self.user_id = user_id
        self.environment = environment
        if dynamic_variables is not None and not isinstance(dynamic_variables, Mapping):
            raise TypeError("dynamic_variables must be a mapping of names to values")
        self.dynamic_variables = dict(dynamic_variables or {})
        if client_events is not None:
            unknown = [e for e in client_events if e not in wire.CLIENT_EVENTS]
            if unknown or not client_events:
                raise ValueError(f"client_events must be a non-empty list of {wire.CLIENT_EVENTS}, "
                                 f"got unknown {unknown}")
        self.client_events = tuple(client_events) if client_events is not None else None
        if text_only is not None and not isinstance(text_only, bool):
            raise TypeError("text_only must be True, False or None")
        self.text_only = text_only
        self.quiet_reconnect = bool(quiet_reconnect)
        if isinstance(turn_end_pings, bool) or not isinstance(turn_end_pings, int) or turn_end_pings < 1:
            raise ValueError(f"turn_end_pings must be a positive int, got {turn_end_pings!r}")
        self.turn_end_pings = turn_end_pings

    def __repr__(self) -> str:
        return f"ElevenLabsRealtimeAdapter(agent_id={self.agent_id!r}, url={self.url!r})"

    @property
    def requires_token(self) -> bool:
        """A public agent (``agent_id`` given) connects without a token; a private one needs
        a signed URL from ``get_token``."""
        return self.agent_id is None

    def conversation_url(self, token: str) -> str:
        """Where to connect: the signed URL ``token`` as it is, else :attr:`url` with ``?agent_id=``.

        Raises:
            ValueError: no token and no agent id; a token that is not a ws(s) URL.
        """
        if token:
            try:
                check_ws_url(token)
            except (TypeError, ValueError) as exc:
                raise ValueError("an ElevenLabs token must be a signed wss:// URL (from "
                                 f"elevenlabs_realtime_token): {exc}") from None
            return token.strip()
        if self.agent_id is None:
            raise ValueError("elevenlabs_realtime() needs agent_id=, or get_token returning a signed URL")
        url = with_query_param(self.url, "agent_id", self.agent_id)
        if self.environment is not None:
            url = with_query_param(url, "environment", self.environment)
        return url

    def new_session(self) -> ElevenLabsSession:
        """A fresh protocol session for one connection (one conversation)."""
        return ElevenLabsSession(self)

    def check_config(self, config: SessionConfig) -> None:
        """Refuse settings an ElevenLabs agent cannot take; warn about those with no effect.

        Raises:
            ValueError: ``temperature`` or ``max_output_tokens`` (no such override),
                ``vad_mode="semantic"``, ``output_modalities`` other than audio and/or text,
                an empty ``voice``, ``provider_options`` with ``type``, TTS values outside
                the contract's ranges, or values that are not JSON.
            TypeError: a tool that cannot be described.

        Warns:
            UserWarning: ``vad_config`` and ``semantic_eagerness`` (turn-taking is the agent's),
                and ``vad_mode="manual"``: it only gates the microphone; the agent still decides
                when the user's turn is over, and ``stop_listening()`` asks it for nothing.
        """
        if config.temperature is not None:
            raise ValueError("ElevenLabs agents have no temperature override (set it on the agent)")
        if config.max_output_tokens is not None:
            raise ValueError("ElevenLabs agents have no max_output_tokens override (set it on the agent)")
        if config.vad_mode == "semantic":
            raise ValueError("vad_mode='semantic' is not available: ElevenLabs agents decide turns "
                             "themselves; use 'server' (or 'manual' to gate the microphone)")
        modalities = config.output_modalities
        if modalities is not None and (not modalities or set(modalities) - {"audio", "text"}):
            raise ValueError(f"output_modalities must be ['audio'], ['text'] or both, got {modalities!r}")
        if config.voice is not None and not config.voice.strip():
            raise ValueError("voice must be a non-empty ElevenLabs voice id")
        for t in config.tools:
            if not isinstance(t, Mapping):
                tool_schema(t)
        options = config.provider_options
        if "type" in options:
            raise ValueError("provider_options['type'] cannot change the initiation frame's type")
        try:
            json.dumps(dict(options))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"provider_options must be JSON: {exc}") from None
        override = options.get("conversation_config_override")
        tts = override.get("tts") if isinstance(override, Mapping) else None
        if isinstance(tts, Mapping):
            for key, (low, high) in wire.TTS_RANGES.items():
                value = tts.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                          or not low <= value <= high):
                    raise ValueError(f"tts.{key} must be a number between {low:g} and {high:g}, "
                                     f"got {value!r}")
        if config.vad_config is not None:
            warnings.warn("vad_config has no effect with ElevenLabs: the agent's turn-taking settings "
                          "decide", UserWarning, stacklevel=3)
        if config.semantic_eagerness is not None:
            warnings.warn("semantic_eagerness has no effect with ElevenLabs", UserWarning, stacklevel=3)
        if config.vad_mode == "manual":
            warnings.warn("vad_mode='manual' only gates the microphone with ElevenLabs: the agent's own "
                          "turn detection decides when you finished speaking (stop_listening() commits "
                          "nothing and asks for no answer)", UserWarning, stacklevel=3)


def elevenlabs_realtime(
    agent_id: Optional[str] = None,
    url: Optional[str] = None,
    *,
    first_message: Optional[str] = None,
    language: Optional[str] = None,
    dynamic_variables: Optional[Mapping[str, Any]] = None,
    user_id: Optional[str] = None,
    client_events: Optional[Sequence[str]] = None,
    text_only: Optional[bool] = None,
    residency: Optional[str] = None,
    environment: Optional[str] = None,
    quiet_reconnect: bool = False,
    turn_end_pings: int = 1,
) -> ElevenLabsRealtimeAdapter:
    """The ElevenLabs Agents (Conversational AI) provider.

    A public agent needs only ``agent_id`` (leave ``get_token`` out); a private one needs
    ``get_token`` returning a signed URL (``tokens.elevenlabs_realtime_token``).

    Args:
        agent_id: the agent (``agent_...``, or a speech-engine id ``seng_...``).
        url: the WebSocket endpoint without a query string; default
            ``wss://api.elevenlabs.io/v1/convai/conversation``. Plain ``ws://`` only to loopback.
        first_message: the agent's greeting, an override (it must be enabled in the agent's
            security settings, or the conversation is refused with ``override_error``).
        language: the conversation language, an override (enabled like ``first_message``).
        dynamic_variables: values for the agent's ``{{variables}}``.
        user_id: your id for the user, sent with the conversation.
        client_events: the server events to ask for (e.g. add ``"vad_score"``,
            ``"agent_response_correction"``, ``"client_tool_call"``); default: the agent's.
        text_only: chat mode (no audio); default: when ``output_modalities`` has no audio.
        residency: ``"us"``, ``"eu"``, ``"in"`` or ``"sg"``: that data-residency host.
        environment: the agent environment (``?environment=``) for public agents.
        quiet_reconnect: after a drop, start the new conversation without the first message
            (needs the ``first_message`` override enabled on the agent).
        turn_end_pings: end an agent turn after this many server pings without its audio
            (no frame says a turn is over; see docs/providers.md).

    Raises:
        ValueError / TypeError: an invalid option.

    Example::

        client = RealtimeClient(adapter=elevenlabs_realtime(agent_id="agent_123"))

    .. versionadded:: 0.2.0
    """
    return ElevenLabsRealtimeAdapter(agent_id, url, first_message=first_message, language=language,
                                     dynamic_variables=dynamic_variables, user_id=user_id,
                                     client_events=client_events, text_only=text_only,
                                     residency=residency, environment=environment,
                                     quiet_reconnect=quiet_reconnect, turn_end_pings=turn_end_pings)
