"""OpenAI Realtime (GA) wire facts, shared by the adapter and the fake server's OpenAI peer.

Only facts live here: endpoints, the default model, event type names, error codes, close codes
and limits (protocols.md §1 and §8.1). The ``openai`` package's models stay the independent
oracle in the tests, so a mistake here cannot be confirmed by the fake agreeing with it.
"""

from __future__ import annotations

from .._credentials import Credentials

__all__ = [
    "ACTIVE_RESPONSE",
    "AUDIO_FIELDS",
    "CANCEL_NOT_ACTIVE",
    "CANNOT_UPDATE_VOICE",
    "COMMIT_EMPTY",
    "COMMIT_MIN_MS",
    "CREDENTIALS",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "DEFAULT_VOICE",
    "ENDPOINT_PATH",
    "FATAL_CODES",
    "G711_RATE",
    "MAX_APPEND_BYTES",
    "MAX_OUTPUT_TOKENS",
    "PCM_RATE",
    "RATE_LIMIT_EXCEEDED",
    "RECONNECT_CLOSE_CODES",
    "SESSION_CAP_CLOSE_CODE",
    "SESSION_CAP_REASON",
    "SESSION_CAP_SECONDS",
    "SUBPROTOCOL",
    "SUBPROTOCOL_KEY_PREFIX",
    "UNKNOWN_PARAMETER",
    "UNLIMITED_OUTPUT_TOKENS",
    "VOICES",
]

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
ENDPOINT_PATH = "/v1/realtime"  # the path of DEFAULT_URL, served by any base URL
# Browsers cannot set headers: they offer the subprotocols "realtime" and
# "openai-insecure-api-key.<key>"; the server selects "realtime".
SUBPROTOCOL = "realtime"
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
# gpt-realtime is deprecated (shutdown announced for 2027-01-20); the openai package and
# openai-agents recommend gpt-realtime-2.1. One constant, so the next change is one line.
DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_VOICE = "marin"
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")

# Audio: PCM16 mono at 24 kHz only; G.711 (audio/pcmu, audio/pcma) at 8 kHz, one byte a sample.
PCM_RATE = 24000
G711_RATE = 8000
COMMIT_MIN_MS = 100  # a shorter commit is answered with COMMIT_EMPTY
MAX_APPEND_BYTES = 15 * 1024 * 1024
MAX_OUTPUT_TOKENS = 4096
UNLIMITED_OUTPUT_TOKENS = "inf"  # the default max_output_tokens: no limit

# Error codes (``error.code``).
CANCEL_NOT_ACTIVE = "response_cancel_not_active"
ACTIVE_RESPONSE = "conversation_already_has_active_response"
COMMIT_EMPTY = "input_audio_buffer_commit_empty"
UNKNOWN_PARAMETER = "unknown_parameter"
CANNOT_UPDATE_VOICE = "cannot_update_voice"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
# After these the session cannot usefully go on: retrying will not help.
FATAL_CODES = frozenset({"insufficient_quota", "invalid_api_key", "account_deactivated",
                         "billing_hard_limit_reached"})

# Close codes. 1001 ends the 60-minute session; the others are drops worth reconnecting after
# (no status, abnormal drop, server error, service restart, try again later, bad gateway).
SESSION_CAP_CLOSE_CODE = 1001
SESSION_CAP_REASON = "Your session hit the maximum duration of 60 minutes."
SESSION_CAP_SECONDS = 60 * 60.0
RECONNECT_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})

# Which field of which event carries base64 audio (the wire log elides them).
AUDIO_FIELDS = {
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
    "input_audio_buffer.append": "audio",
    "output_audio_buffer.append": "audio",
}

#: how scripts and the CLI reach OpenAI with an API key
CREDENTIALS = Credentials(api_key_env="OPENAI_API_KEY", minter="openai_realtime_token",
                          base_url_env="OPENAI_BASE_URL")
