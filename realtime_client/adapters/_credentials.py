"""Where a provider's server-side credentials live: for scripts, token endpoints and the CLI.

Each provider folder declares one :class:`Credentials` (its environment variables and its
token minter in :mod:`realtime_client.tokens`); :data:`realtime_client.adapters.CREDENTIALS`
collects them, so nothing outside a provider's folder spells its variable names.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Tuple

import attrs

__all__ = ["Credentials"]


@attrs.frozen
class Credentials:
    """How to reach a provider with its own API key.

    Attributes:
        api_key_env: the environment variable holding the API key (``OPENAI_API_KEY``).
        minter: the name of the token-minting factory in :mod:`realtime_client.tokens`.
        settings: keyword -> environment variable for what both the minter and the adapter
            need besides the key (Azure's ``endpoint``/``deployment``, an ElevenLabs
            ``agent_id``); all of them must be set.
        base_url_env: the variable that may point minting at another API base, if supported.
        takes_model: whether ``model=`` means something for this provider.
    """

    api_key_env: str
    minter: str
    settings: Mapping[str, str] = attrs.field(factory=dict)
    base_url_env: Optional[str] = None
    takes_model: bool = True

    def has_key(self, environ: Mapping[str, str] = os.environ) -> bool:
        """Whether the API key is set (non-blank) in ``environ``."""
        return bool(environ.get(self.api_key_env, "").strip())

    def read_settings(self, environ: Mapping[str, str] = os.environ
                      ) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
        """The settings found in ``environ``, and the names of the variables that are missing."""
        found = {key: environ[var].strip() for key, var in self.settings.items()
                 if environ.get(var, "").strip()}
        missing = tuple(var for key, var in self.settings.items() if key not in found)
        return found, missing

    def base_url(self, environ: Mapping[str, str] = os.environ) -> Optional[str]:
        """The API base override from ``environ``, if this provider has one and it is set."""
        if self.base_url_env is None:
            return None
        return environ.get(self.base_url_env, "").strip() or None
