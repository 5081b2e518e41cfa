"""Gemini Live (BidiGenerateContent) wire facts, shared by the adapter and the fake server's peer.

Only facts live here: hosts, paths, methods, rates, close codes, enum values and defaults
(protocols.md §3, corrected by §8.3). google-genai's pydantic models (``LiveClientMessage``,
``LiveServerMessage``) stay the independent oracle in the tests, so a mistake here cannot be
confirmed by the fake agreeing with it.
"""

from __future__ import annotations

from .._credentials import Credentials

__all__ = [
    "API_VERSIONS",
    "AUTH_TOKENS_PATH",
    "CLIENT_KEYS",
    "CLOSE_INTERNAL",
    "CLOSE_INVALID_ARGUMENT",
    "CLOSE_POLICY",
    "CONSTRAINED_METHOD",
    "CONTEXT_UPDATE_MODEL_PREFIXES",
    "CREDENTIALS",
    "DEFAULT_API_VERSION",
    "DEFAULT_MODEL",
    "EPHEMERAL_API_VERSION",
    "EPHEMERAL_PREFIX",
    "HOST",
    "INPUT_MIME",
    "INPUT_RATE",
    "METHOD",
    "MIN_PING_TIMEOUT",
    "OUTPUT_RATE",
    "RECONNECT_CLOSE_CODES",
    "REST_BASE",
    "SERVER_KEYS",
    "VOICES",
    "endpoint_path",
]

HOST = "generativelanguage.googleapis.com"
REST_BASE = f"https://{HOST}"
METHOD = "BidiGenerateContent"
# Ephemeral tokens are accepted only on this method, and only on v1alpha (GENAI-PY live.py).
CONSTRAINED_METHOD = "BidiGenerateContentConstrained"
EPHEMERAL_PREFIX = "auth_tokens/"
API_VERSIONS = ("v1", "v1beta", "v1alpha")
# The raw WebSocket guide documents v1beta; google-genai >= 3 uses v1. Either serves the Live
# API; v1beta is the one the protocol documentation itself shows (configurable: api_version=).
DEFAULT_API_VERSION = "v1beta"
EPHEMERAL_API_VERSION = "v1alpha"
AUTH_TOKENS_PATH = "/v1alpha/auth_tokens"

# gemini-3.1-flash-live-preview is now a "legacy preview"; the docs recommend gemini-3.8-live.
# Availability changes fast: one constant, so the next change is one line.
DEFAULT_MODEL = "gemini-3.8-live"
# Models that take ``contextUpdate {systemInstruction, tools}`` on an open connection (3.8-live);
# on others the setup cannot change without a new connection (resumed with the handle).
CONTEXT_UPDATE_MODEL_PREFIXES = ("gemini-3.8",)

# Where a script or ``realtime-client chat/token`` finds the key (gemini_realtime_token also
# reads GOOGLE_API_KEY first, as google-genai does); GEMINI_BASE_URL points minting elsewhere.
CREDENTIALS = Credentials(api_key_env="GEMINI_API_KEY", minter="gemini_realtime_token",
                          base_url_env="GEMINI_BASE_URL")

# Audio: PCM16 LE mono, 16 kHz in (the rate goes in the MIME type), 24 kHz out.
INPUT_RATE = 16000
OUTPUT_RATE = 24000
INPUT_MIME = f"audio/pcm;rate={INPUT_RATE}"

# Errors are close frames (there is no JSON error event).
CLOSE_INVALID_ARGUMENT = 1007  # "Request contains an invalid argument." (also: a refused handle)
CLOSE_POLICY = 1008  # auth refused ("Method doesn't allow unregistered callers"), policy
CLOSE_INTERNAL = 1011  # internal error, "Deadline expired" (the connection cap after goAway)
# Drops worth resuming after: going away, no status, abnormal drop, internal error / deadline
# expired, service restart, try again later, bad gateway.
RECONNECT_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})

# WebSocket pongs were measured at 8-30 s: a 20 s ping timeout kills sessions with 1011.
MIN_PING_TIMEOUT = 60.0

# Top-level keys of client and server messages, camelCase as documented. The SDK sends some
# in snake_case (realtime_input, client_content, tool_response): peers accept both.
CLIENT_KEYS = ("setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate")
SERVER_KEYS = ("setupComplete", "serverContent", "toolCall", "toolCallCancellation", "usageMetadata",
               "goAway", "sessionResumptionUpdate", "voiceActivityDetectionSignal", "voiceActivity")

# The 30 prebuilt voices (protocols.md §3.3).
VOICES = ("Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe",
          "Charon", "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore",
          "Laomedeia", "Leda", "Orus", "Pulcherrima", "Puck", "Rasalgethi", "Sadachbia",
          "Sadaltager", "Schedar", "Sulafat", "Umbriel", "Vindemiatrix", "Zephyr", "Zubenelgenubi")


def endpoint_path(version: str, method: str = METHOD) -> str:
    """``/ws/google.ai.generativelanguage.<version>.GenerativeService.<method>``."""
    return f"/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"
