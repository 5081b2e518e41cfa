"""ElevenLabs Agents (Conversational AI) wire facts, shared by the adapter and the fake peer.

Only facts live here: hosts, paths, event and error names, close codes, audio formats and
limits (protocols.md §4 and §8.4, which wins; EL-ASYNC is ``elevenlabs/packages`` @ 2a9057e
``packages/types/schemas/agent.asyncapi.yaml``, EL-PY the official ``elevenlabs`` package
2.78.0). The vendored AsyncAPI contract (``tests/adapters/data/elevenlabs/schema/``) stays
the independent oracle in the tests, so a mistake here cannot be confirmed by the fake
agreeing with it. Each UNCONFIRMED fact is a named constant holding the safe choice.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Tuple

from .._credentials import Credentials

__all__ = [
    "API_HOST",
    "AUDIO_FIELDS",
    "AUDIO_FORMATS",
    "CLEAN_END_ERROR_TYPES",
    "CLIENT_EVENTS",
    "CLOSE_BAD_INPUT",
    "CLOSE_INTERNAL",
    "CLOSE_NORMAL",
    "CLOSE_OPERATIONAL",
    "CREDENTIALS",
    "DEFAULT_CLIENT_EVENTS",
    "DEFAULT_FORMAT",
    "DEFAULT_URL",
    "DROP_AT_OR_BELOW",
    "ENDPOINT_PATH",
    "ERROR_CLOSE_CODES",
    "ERROR_TYPES",
    "INPUT_CHUNK_MS",
    "RESIDENCY_HOSTS",
    "SIGNED_URL_PATH",
    "SIGNED_URL_TTL",
    "SOURCE",
    "TTS_RANGES",
    "parse_format",
]

# --- endpoints (EL-ASYNC servers; EL-PY environment.py; §8.4 adds sg) ---------------------------
API_HOST = "api.elevenlabs.io"
RESIDENCY_HOSTS: Dict[str, str] = {
    "global": API_HOST,
    "us": "api.us.elevenlabs.io",
    "eu": "api.eu.residency.elevenlabs.io",
    "in": "api.in.residency.elevenlabs.io",
    "sg": "api.sg.residency.elevenlabs.io",
}
ENDPOINT_PATH = "/v1/convai/conversation"
DEFAULT_URL = f"wss://{API_HOST}{ENDPOINT_PATH}"
SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"
#: a signed URL lets a conversation *start* within 15 minutes (EL-DOC-AUTH; TanStack's 30 is wrong)
SIGNED_URL_TTL = 15 * 60
#: what the client says it is, in ``source_info`` (EL-PY sends ``python_sdk``)
SOURCE = "realtime_client"

# --- audio (EL-ASYNC AudioFormat; parsed as <codec>_<rate>, EL-JS parseFormat) ----------------
AUDIO_FORMATS: Tuple[str, ...] = ("pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100",
                                  "pcm_48000", "ulaw_8000")
DEFAULT_FORMAT = "pcm_16000"
# Microphone audio per user_audio_chunk. The official Python SDK sends 250 ms (its PyAudio
# callback size); 100 ms keeps the agent's voice detection prompt at a fifth of the frames
# (and of the CPU) of 20 ms chunks.
INPUT_CHUNK_MS = 100


def parse_format(name: str) -> Tuple[str, int]:
    """``("pcm16" | "g711_ulaw", rate)`` for an ElevenLabs format name such as ``pcm_16000``.

    Raises:
        ValueError: not one of :data:`AUDIO_FORMATS`.
    """
    if name not in AUDIO_FORMATS:
        raise ValueError(f"unknown ElevenLabs audio format {name!r}; known: {', '.join(AUDIO_FORMATS)}")
    codec, rate = name.split("_")
    return ("pcm16" if codec == "pcm" else "g711_ulaw"), int(rate)


#: which field of which frame carries base64 audio ("" = the untyped user_audio_chunk)
AUDIO_FIELDS = {"audio": "audio_base_64", "": "user_audio_chunk"}

# --- events ---------------------------------------------------------------------------------------
#: the server events an agent may be asked to send (EL-ASYNC ClientEvent)
CLIENT_EVENTS: Tuple[str, ...] = (
    "audio", "agent_response", "agent_response_correction", "agent_chat_response_part",
    "agent_reasoning_response_part", "interruption", "user_transcript", "tentative_user_transcript",
    "conversation_initiation_metadata", "client_tool_call", "rich_content", "agent_tool_request",
    "agent_tool_response", "agent_tool_response_full_payload", "mcp_tool_call", "mcp_connection_status",
    "vad_score", "ping", "context_usage", "asr_initiation_metadata", "guardrail_triggered",
    "internal_turn_probability", "internal_tentative_agent_response", "agent_typing",
    "external_agent_connected", "external_agent_disconnected")
#: what an agent sends when its configuration names no client_events (EL-ASYNC)
DEFAULT_CLIENT_EVENTS: Tuple[str, ...] = (
    "audio", "interruption", "agent_response", "user_transcript", "tentative_user_transcript",
    "conversation_initiation_metadata", "ping")

#: UNCONFIRMED which SDK is right on equality (EL-PY drops event_id <= last interruption,
#: EL-JS only <): dropping "at or below" is the safe side, since the cut turn carries that id.
DROP_AT_OR_BELOW = True

# --- errors and close codes (EL-ASYNC ErrorType, WebSocketCloseCode; §8.4: 26 types) -----------
CLOSE_NORMAL = 1000       # agent ended the conversation, max duration exceeded
CLOSE_OPERATIONAL = 1002  # timeouts, policy violations, LLM/TTS/ASR failures
CLOSE_BAD_INPUT = 1008    # invalid messages, auth, overrides
CLOSE_INTERNAL = 1011     # unexpected server errors

ERROR_CLOSE_CODES: Dict[str, int] = {
    "unknown": CLOSE_INTERNAL, "invalid_message": CLOSE_BAD_INPUT,
    "telephony_agent_error": CLOSE_BAD_INPUT, "mcp_tool_error": CLOSE_BAD_INPUT,
    "mcp_https_error": CLOSE_BAD_INPUT, "value_error": CLOSE_BAD_INPUT,
    "missing_fields": CLOSE_BAD_INPUT, "override_error": CLOSE_BAD_INPUT,
    "missing_dynamic_variable_transfer": CLOSE_BAD_INPUT, "missing_dynamic_variable": CLOSE_BAD_INPUT,
    "websocket_disconnect": CLOSE_INTERNAL, "safety_violation": CLOSE_OPERATIONAL,
    "llm_timeout": CLOSE_OPERATIONAL, "transport_receive_timeout": CLOSE_OPERATIONAL,
    "asyncio_timeout": CLOSE_OPERATIONAL, "http_exception": CLOSE_OPERATIONAL,
    "max_duration_exceeded": CLOSE_NORMAL, "llm_error": CLOSE_OPERATIONAL,
    "custom_llm_error": CLOSE_OPERATIONAL, "cascade_brain_error": CLOSE_OPERATIONAL,
    "asr_transcription_error": CLOSE_OPERATIONAL, "vad_error": CLOSE_OPERATIONAL,
    "turn_probability_error": CLOSE_OPERATIONAL, "tts_cascade_error": CLOSE_OPERATIONAL,
    "redis_timeout_error": CLOSE_OPERATIONAL, "unknown_websocket_crash": CLOSE_INTERNAL,
}
ERROR_TYPES: Tuple[str, ...] = tuple(ERROR_CLOSE_CODES)
#: errors that end the conversation as planned, not as a failure: reconnecting would only
#: start a conversation the user did not ask for
CLEAN_END_ERROR_TYPES: FrozenSet[str] = frozenset({"max_duration_exceeded", "transport_receive_timeout"})
#: error types after which the credentials or the configuration are at fault, not the network
PERMISSION_ERROR_TYPES: FrozenSet[str] = frozenset({"override_error"})

# --- override ranges (EL-ASYNC TTSConversationalConfigOverride) ---------------------------------
TTS_RANGES: Dict[str, Tuple[float, float]] = {"speed": (0.7, 5.0), "stability": (0.0, 1.0),
                                              "similarity_boost": (0.0, 1.0)}

#: how scripts and the CLI reach a private ElevenLabs agent: its API key and the agent's id
#: (the agent's own settings choose its LLM, so ``model=`` does not apply)
CREDENTIALS = Credentials(api_key_env="ELEVENLABS_API_KEY", minter="elevenlabs_realtime_token",
                          settings={"agent_id": "ELEVENLABS_AGENT_ID"}, base_url_env="ELEVENLABS_BASE_URL",
                          takes_model=False)
