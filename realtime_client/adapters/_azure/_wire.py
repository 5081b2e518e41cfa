"""Azure OpenAI realtime wire facts (protocols.md §8.5), shared by the adapter and the fake peer.

The protocol itself is OpenAI GA unchanged (``adapters/_openai/_wire.py``); only the endpoint,
the authentication and the session cap differ. The ``openai`` package's models stay the
independent oracle in the tests.
"""

from __future__ import annotations

from .._credentials import Credentials

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_QUERY",
    "CLIENT_SECRETS_PATH",
    "CREDENTIALS",
    "ENDPOINT_ENV",
    "ENTRA_SCOPE",
    "GA_PATH",
    "KEY_ENV",
    "PREVIEW_PATH",
    "SESSION_CAP_CLOSE_CODE",
    "SESSION_CAP_REASON",
    "SESSION_CAP_SECONDS",
]

# GA: wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>, with NO
# api-version (adding one gives 401). The preview path takes ?api-version=...&deployment=<name>
# and is deprecated since 2026-04-30.
GA_PATH = "/openai/v1/realtime"
PREVIEW_PATH = "/openai/realtime"
CLIENT_SECRETS_PATH = "/openai/v1/realtime/client_secrets"

# Auth: an API key in the api-key header (or ?api-key= for browsers), or an Entra ID bearer
# token for this scope, or an ephemeral client secret (Authorization: Bearer).
API_KEY_HEADER = "api-key"
API_KEY_QUERY = "api-key"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
# The environment variables the openai package's AzureOpenAI client reads.
KEY_ENV = "AZURE_OPENAI_API_KEY"
ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"

# Sessions end after 30 minutes. The close code and reason at the cap are UNCONFIRMED: 1001 and
# a reason worded like OpenAI's are assumed; every drop code reconnects anyway.
SESSION_CAP_SECONDS = 30 * 60.0
SESSION_CAP_CLOSE_CODE = 1001
SESSION_CAP_REASON = "Your session hit the maximum duration of 30 minutes."

#: how scripts and the CLI reach an Azure OpenAI resource with its key; the deployment is named
#: by AZURE_OPENAI_DEPLOYMENT (a realtime model deployment), so ``model=`` does not apply
CREDENTIALS = Credentials(api_key_env=KEY_ENV, minter="azure_openai_realtime_token",
                          settings={"endpoint": ENDPOINT_ENV, "deployment": "AZURE_OPENAI_DEPLOYMENT"},
                          takes_model=False)
