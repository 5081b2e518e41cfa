"""FakeRealtimeServer(provider="elevenlabs"): its knobs and its REST endpoint on the shared hooks.

The fake agent takes ``provider_options`` like every other provider, and its ``get-signed-url``
endpoint (a plain ``GET``) is answered through ``PeerFactory.http``, the same route as the
``client_secrets`` ``POST`` of the Grok and Azure fakes.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from realtime_client.adapters._elevenlabs import _wire as wire
from realtime_client.testing import FakeRealtimeServer


def test_unknown_provider_options_and_formats_are_refused() -> None:
    """provider_options the ElevenLabs peer does not know, or a format it lacks, raise ValueError."""
    with pytest.raises(ValueError, match="unknown elevenlabs provider_options"):
        FakeRealtimeServer(provider="elevenlabs", provider_options={"no_such_knob": 1})
    with pytest.raises(ValueError):
        FakeRealtimeServer(provider="elevenlabs", provider_options={"agent_output_audio_format": "mp3_1"})


def test_get_signed_url_is_a_plain_get_answered_by_the_provider() -> None:
    """GET get-signed-url needs the xi-api-key and an agent_id, mints a URL naming that agent,
    is recorded with the key redacted, and other methods or paths are refused."""
    with FakeRealtimeServer(provider="elevenlabs", api_key="xi-key",
                            provider_options={"agent_id": "agent_x"}) as server:
        url = server.base_url + wire.SIGNED_URL_PATH
        ok = requests.get(url, params={"agent_id": "agent_y"}, headers={"xi-api-key": "xi-key"}, timeout=5)
        assert ok.status_code == 200
        signed = urlsplit(ok.json()["signed_url"])
        assert signed.path == wire.ENDPOINT_PATH and parse_qs(signed.query)["agent_id"] == ["agent_y"]
        assert requests.get(url, params={"agent_id": "a"}, timeout=5).status_code == 401
        assert requests.get(url, params={"agent_id": "a"}, headers={"xi-api-key": "wrong"},
                            timeout=5).status_code == 401
        assert requests.get(url, headers={"xi-api-key": "xi-key"}, timeout=5).status_code == 422
        assert requests.post(url, headers={"xi-api-key": "xi-key"}, timeout=5).status_code == 405
        assert requests.get(server.base_url + "/v1/elsewhere", timeout=5).status_code == 404
        keys = [v for r in server.http_requests for k, v in r.headers if k.lower() == "xi-api-key"]
        assert keys and all(v == "<redacted>" for v in keys)
        token = server.token()
        assert parse_qs(urlsplit(token.token).query)["agent_id"] == ["agent_x"]
