"""xAI Grok voice agent wire facts (protocols.md §2 as corrected by §8.2), shared by the adapter
and the fake server's Grok peer.

The event vocabulary is OpenAI's (``adapters/_openai/_wire.py``); what differs is collected here.
Facts marked UNCONFIRMED name the safe default chosen and the knob that changes it. The session
field list here serves the adapter and the fake; the tests check frames against their own copy of
§8.2, so a mistake here cannot be confirmed by the fake agreeing with it.
"""

from __future__ import annotations

from .._credentials import Credentials

__all__ = [
    "ACTIVE_RESPONSE_MESSAGE",
    "AUDIO_FIELDS",
    "CANCEL_NOT_ACTIVE_MESSAGE",
    "CLIENT_SECRETS_PATH",
    "CONVERSATION_ID_PARAM",
    "CREDENTIALS",
    "DEFAULT_MODEL",
    "DEFAULT_TOKEN_TTL",
    "DEFAULT_TRANSCRIPTION_MODEL",
    "DEFAULT_URL",
    "DEFAULT_VOICE",
    "ENDPOINT_PATH",
    "HISTORY_TTL_SECONDS",
    "KEY_ENV",
    "MAX_TOKEN_TTL",
    "PCM_RATES",
    "REASONING_EFFORTS",
    "SERVER_TOOL_TYPES",
    "SESSION_CAP_SECONDS",
    "SPEED_RANGE",
    "SUBPROTOCOL_KEY_PREFIX",
    "THRESHOLD_RANGE",
    "TOKEN_URL",
    "VOICES",
]

DEFAULT_URL = "wss://api.x.ai/v1/realtime"
ENDPOINT_PATH = "/v1/realtime"
# A reconnect that resumes a conversation adds &conversation_id=<id> (resumption, §8.2).
CONVERSATION_ID_PARAM = "conversation_id"
# Browsers cannot set headers; they offer the subprotocol xai-client-secret.<token>. Python sends
# Authorization: Bearer.
SUBPROTOCOL_KEY_PREFIX = "xai-client-secret."

# Tokens: POST /v1/realtime/client_secrets with {"expires_after": {"seconds": N}} only (no
# session, no anchor); reply top-level {"value", "expires_at"} in seconds. TTL 600 s by default,
# at most 3600 s.
TOKEN_URL = "https://api.x.ai/v1/realtime/client_secrets"
CLIENT_SECRETS_PATH = "/v1/realtime/client_secrets"
DEFAULT_TOKEN_TTL = 600
MAX_TOKEN_TTL = 3600
KEY_ENV = "XAI_API_KEY"

DEFAULT_MODEL = "grok-voice-think-fast-2.0"  # recommended; alias grok-voice-latest; 1.0 ids deprecated
DEFAULT_VOICE = "eve"
VOICES = ("eve", "ara", "rex", "sal", "leo")  # case-insensitive; custom voice ids allowed

# Audio: PCM16 at any of these rates per direction (22050 is UNCONFIRMED: pipecat lists "21050"),
# or G.711 (audio/pcmu, audio/pcma) at 8 kHz. 24 kHz is the default.
PCM_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
SPEED_RANGE = (0.7, 1.5)
THRESHOLD_RANGE = (0.1, 0.9)  # server_vad threshold (server default 0.85)
REASONING_EFFORTS = ("none", "high")
# Interim user transcripts (conversation.item.input_audio_transcription.updated, cumulative) come
# with this transcription model; without a model, whether input is transcribed is UNCONFIRMED, so
# the adapter asks for it (grok_realtime(input_transcription=...) changes or disables it).
DEFAULT_TRANSCRIPTION_MODEL = "grok-transcribe"
# Built-in tools the server runs itself (passed as tool dicts).
SERVER_TOOL_TYPES = ("web_search", "x_search", "file_search", "mcp")

# Race errors come with xAI's own codes (UNCONFIRMED which); these message substrings are what
# pipecat matches, besides OpenAI's codes.
CANCEL_NOT_ACTIVE_MESSAGE = "no active response"
ACTIVE_RESPONSE_MESSAGE = "already has an active response"

# Resumption keeps a conversation's history 30 minutes after it goes idle.
HISTORY_TTL_SECONDS = 30 * 60.0
# The ~1 hour session cap is UNCONFIRMED; a close at it is handled like OpenAI's 1001.
SESSION_CAP_SECONDS = 60 * 60.0

AUDIO_FIELDS = {
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
    "input_audio_buffer.append": "audio",
}

#: how scripts and the CLI reach xAI with an API key
CREDENTIALS = Credentials(api_key_env=KEY_ENV, minter="grok_realtime_token", base_url_env="XAI_BASE_URL")
