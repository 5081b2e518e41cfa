"""The ``realtime-client`` command line, run as a real process (``python -m realtime_client``).

Script-mode chat talks to the embedded fake server over loopback; ``token`` mints from a
stand-in for OpenAI's ``/v1/realtime/client_secrets`` whose tokens the fake server accepts;
``devices`` lists PortAudio's view of an ALSA configuration written for the test.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from realtime_client import RealtimeClient, RealtimeToken, SessionConfig, VADConfig
from realtime_client.adapters import ADAPTERS
from realtime_client.cli import build_parser
from realtime_client.cli._token import token_json
from realtime_client.testing import FakeRealtimeServer

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-test-cli-0123456789"
_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def cli_env(**extra: str) -> Dict[str, str]:
    """The environment for a CLI process: this checkout first on the path, no provider keys."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def run_cli(*args: str, stdin: str = "", timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m realtime_client ARGS`` to completion with ``stdin`` piped in."""
    return subprocess.run([sys.executable, "-m", "realtime_client", *args], check=False, input=stdin,
                          cwd=ROOT, env=cli_env(**env), capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 1 and a single ``realtime-client: ...`` line on stderr naming ``words``."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("realtime-client:")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SecretsEndpoint:
    """A stand-in for ``POST /v1/realtime/client_secrets`` minting tokens the fake server accepts."""

    def __init__(self, fake: FakeRealtimeServer) -> None:
        self.fake = fake
        self.requests: List[Dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                endpoint.requests.append(body)
                if self.path != "/v1/realtime/client_secrets":
                    return self._answer(404, {"error": {"message": "not found", "code": "not_found"}})
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._answer(401, {"error": {"message": "Incorrect API key provided.",
                                                        "type": "invalid_request_error",
                                                        "code": "invalid_api_key"}})
                token = endpoint.fake.token(ttl=body["expires_after"]["seconds"])
                self._answer(200, {"value": token.token, "expires_at": int(token.expires_at or 0),
                                   "session": {"type": "realtime", "model": body["session"]["model"]}})

            def _answer(self, status: int, data: Dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="test-secrets", daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def secrets_endpoint() -> Iterator[SecretsEndpoint]:
    """A fake server plus an OpenAI-style token endpoint for it."""
    with FakeRealtimeServer() as fake:
        endpoint = SecretsEndpoint(fake)
        try:
            yield endpoint
        finally:
            endpoint.close()


# -- chat, script mode ----------------------------------------------------------------------------


def test_piped_chat_prints_each_answer_and_exits() -> None:
    """Each stdin line is sent as a text message; the answers are printed and the process exits 0."""
    done = run_cli("chat", "--no-audio", stdin="hi\nwhat time is it\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["You said: hi", "You said: what time is it"]
    notes = done.stderr.splitlines()
    assert len(notes) == 1 and "OPENAI_API_KEY is not set" in notes[0] and "fake server" in notes[0]
    assert "espeak" not in notes[0] and "pocketsphinx" not in notes[0]  # no audio: no voice to speak of


def test_piped_chat_in_text_mode_skips_blank_lines() -> None:
    """--text asks for text answers; blank lines send nothing; --fake ignores a configured key."""
    done = run_cli("chat", "--no-audio", "--text", "--fake", stdin="\nfirst\n\n  second  \n",
                   OPENAI_API_KEY="sk-never-used")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["You said: first", "You said: second"]
    assert "--fake" in done.stderr


def test_piped_chat_with_no_input_connects_and_exits() -> None:
    """Empty standard input: connect, send nothing, exit 0 with nothing printed."""
    done = run_cli("chat", "--no-audio", stdin="")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_chat_without_network_prints_one_line() -> None:
    """A key but an unreachable API: one clear line, exit 1, no traceback."""
    done = run_cli("chat", "--no-audio", stdin="hi\n", OPENAI_API_KEY=API_KEY,
                   OPENAI_BASE_URL=f"http://127.0.0.1:{_closed_port()}/v1")
    assert_one_line_error(done, "could not reach token endpoint")


def test_chat_with_a_bad_key_prints_one_line(secrets_endpoint: SecretsEndpoint) -> None:
    """A key the provider refuses: one line naming the refusal, exit 1."""
    done = run_cli("chat", "--no-audio", stdin="hi\n", OPENAI_API_KEY="sk-wrong-key",
                   OPENAI_BASE_URL=secrets_endpoint.base_url)
    assert_one_line_error(done, "401")
    assert "sk-wrong-key" not in done.stderr


def test_chat_ctrl_c_exits_130_without_a_traceback() -> None:
    """SIGINT while chat waits for input: it disconnects and exits 130, quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "realtime_client", "chat", "--no-audio"], cwd=ROOT,
                            env=cli_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "You said: ping"  # connected and idle now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_chat_with_a_missing_device_says_how_to_go_on() -> None:
    done = run_cli("chat", "--output-device", "no such speaker", stdin="hi\n")
    assert_one_line_error(done, "no such speaker", "realtime-client devices", "--no-audio")


def test_provider_choices_come_from_the_adapter_registry() -> None:
    """--provider offers exactly ADAPTERS' names; an unknown one is a usage error (exit 2)."""
    parser = build_parser()
    chat = next(a for a in parser._subparsers._group_actions[0].choices["chat"]._actions  # type: ignore
                if "--provider" in a.option_strings)
    assert sorted(chat.choices) == sorted(ADAPTERS)
    done = run_cli("chat", "--provider", "no-such-provider")
    assert done.returncode == 2 and "invalid choice" in done.stderr


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(timeout: str) -> None:
    """--timeout 0 is refused before connecting (it failed later as 'timed out connecting')."""
    done = run_cli("chat", "--no-audio", "--timeout", timeout, stdin="")
    assert done.returncode == 2 and "--timeout must be a positive number" in done.stderr


def test_record_without_audio_is_a_usage_error() -> None:
    """--record needs audio devices, so --no-audio with it is refused before connecting."""
    done = run_cli("chat", "--no-audio", "--record", "x.wav")
    assert done.returncode == 2 and "--record" in done.stderr


# -- demo -------------------------------------------------------------------------------------------


def test_demo_live_without_network_prints_one_line() -> None:
    """demo --live with an unreachable API: one clear line and exit 1 (not a chained traceback)."""
    done = run_cli("demo", "--live", OPENAI_API_KEY=API_KEY,
                   OPENAI_BASE_URL=f"http://127.0.0.1:{_closed_port()}/v1")
    assert_one_line_error(done, "could not reach token endpoint")
    assert len(done.stderr.splitlines()) == 1


def test_demo_live_without_a_key_says_so() -> None:
    """demo --live without OPENAI_API_KEY: one line naming the variable, exit 2."""
    done = run_cli("demo", "--live")
    assert done.returncode == 2 and done.stderr.strip().endswith("needs OPENAI_API_KEY in the environment")


# -- token ------------------------------------------------------------------------------------------


def test_token_prints_tanstack_json_the_fake_accepts(secrets_endpoint: SecretsEndpoint) -> None:
    """token mints at --base-url and prints TanStack JSON; the token then opens a real session."""
    fake = secrets_endpoint.fake
    fake.api_key = "only-minted-tokens-pass"  # a made-up credential would be refused now
    before = time.time()
    done = run_cli("token", "--base-url", secrets_endpoint.base_url, "--model", fake.model,
                   "--expires-after", "120", OPENAI_API_KEY=API_KEY)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"provider", "token", "expiresAt", "config"}
    assert data["provider"] == "openai" and data["config"] == {"model": fake.model}
    assert before + 100 <= data["expiresAt"] / 1000 <= time.time() + 130  # milliseconds
    assert secrets_endpoint.requests[0]["expires_after"]["seconds"] == 120
    token = RealtimeToken.from_dict(data)
    with RealtimeClient(get_token=lambda: token, adapter=fake.adapter(), auto_capture=False,
                        auto_playback=False) as client:
        assert client.ask("hello", timeout=20).text == "You said: hello"


def test_token_reads_the_base_url_from_the_environment(secrets_endpoint: SecretsEndpoint) -> None:
    """Without --base-url, OPENAI_BASE_URL points the minting elsewhere."""
    done = run_cli("token", OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=secrets_endpoint.base_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["token"].startswith("ek_fake_")


def test_token_errors_are_one_line(secrets_endpoint: SecretsEndpoint) -> None:
    """No key, a refused key, or no network: each one line and exit 1, secrets never shown."""
    assert_one_line_error(run_cli("token"), "OPENAI_API_KEY")
    refused = run_cli("token", "--base-url", secrets_endpoint.base_url, OPENAI_API_KEY="sk-wrong-key")
    assert_one_line_error(refused, "401")
    assert "sk-wrong-key" not in refused.stderr
    offline = run_cli("token", "--base-url", f"http://127.0.0.1:{_closed_port()}/v1", OPENAI_API_KEY=API_KEY)
    assert_one_line_error(offline, "could not reach")


def test_token_json_round_trips_through_from_dict() -> None:
    """token_json writes camelCase non-default settings that RealtimeToken.from_dict reads back."""
    config = SessionConfig(model="m", voice="marin", vad_mode="semantic", semantic_eagerness="high",
                           vad_config=VADConfig(threshold=0.7, silence_duration_ms=300),
                           output_modalities=("text",), max_output_tokens=200,
                           provider_options={"speed": 1.2})
    token = RealtimeToken(provider="openai", token="ek_x", expires_at=1_900_000_000.25, config=config)
    data = token_json(token)
    assert data["expiresAt"] == 1_900_000_000_250
    assert data["config"]["vadMode"] == "semantic" and data["config"]["vadConfig"]["silenceDurationMs"] == 300
    assert "tools" not in data["config"] and "temperature" not in data["config"]
    assert RealtimeToken.from_dict(json.loads(json.dumps(data))) == token


# -- devices ----------------------------------------------------------------------------------------


def _need_portaudio() -> None:
    missing: Optional[str] = None
    if not ctypes.util.find_library("portaudio"):
        missing = "libportaudio is not installed (apt-get install portaudio19-dev)"
    else:
        try:
            import pyaudio  # noqa: F401
        except ImportError:
            missing = "PyAudio is not installed"
    if missing:
        if _IN_CI:
            pytest.fail(f"{missing}; CI=true requires the device listing test to run")
        pytest.skip(missing)


def test_devices_lists_inputs_and_outputs_with_default_rates(tmp_path: Path) -> None:
    """devices shows each PCM of an ALSA configuration as input and output with its default rate."""
    _need_portaudio()
    config = tmp_path / "asound.conf"
    config.write_text("pcm.!default { type null }\npcm.bench_out { type null }\n")
    done = run_cli("devices", ALSA_CONFIG_PATH=str(config))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    inputs, outputs = out.split("output devices")
    for section in (inputs, outputs):
        assert "default" in section and "bench_out" in section
        assert "default 44100 Hz" in section and "24000" in section
        assert any(line.lstrip().startswith("*") for line in section.splitlines())



# --- every provider's credentials come from its own folder (adapters.CREDENTIALS) ----------


def test_token_for_grok_reads_xais_key_variable() -> None:
    with FakeRealtimeServer("grok") as fake:
        done = run_cli("token", "--provider", "grok", "--base-url", fake.base_url + "/v1",
                       XAI_API_KEY="xai-test-key")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["provider"] == "grok"
    assert "xai-test-key" not in done.stdout + done.stderr


def test_azure_token_and_chat_use_the_resource_settings() -> None:
    """AZURE_OPENAI_ENDPOINT / _DEPLOYMENT / _API_KEY: the token command mints, chat connects."""
    with FakeRealtimeServer("azure") as fake:
        env = dict(AZURE_OPENAI_API_KEY="az-test-key", AZURE_OPENAI_ENDPOINT=fake.base_url,
                   AZURE_OPENAI_DEPLOYMENT="gpt-realtime")
        done = run_cli("token", "--provider", "azure", **env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["provider"] == "azure"
        chat = run_cli("chat", "--provider", "azure", "--no-audio", stdin="hello azure\n", **env)
        assert chat.returncode == 0, chat.stderr
        assert chat.stdout.splitlines() == ["You said: hello azure"]
        assert "embedded fake server" not in chat.stderr  # the key path, not the fallback


def test_missing_provider_settings_are_named() -> None:
    done = run_cli("token", "--provider", "azure", AZURE_OPENAI_API_KEY="k")
    assert_one_line_error(done, "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT")
    done = run_cli("token", "--provider", "elevenlabs", ELEVENLABS_API_KEY="k")
    assert_one_line_error(done, "ELEVENLABS_AGENT_ID")
    done = run_cli("token", "--provider", "elevenlabs", "--model", "x", ELEVENLABS_API_KEY="k",
                   ELEVENLABS_AGENT_ID="agent_1")
    assert done.returncode != 0 and "--model does not apply" in done.stderr


def test_every_adapter_declares_its_credentials() -> None:
    from realtime_client import tokens
    from realtime_client.adapters import ADAPTERS, CREDENTIALS

    for name in ADAPTERS:
        if name in CREDENTIALS:
            assert callable(getattr(tokens, CREDENTIALS[name].minter)), name
    assert {"openai", "azure", "grok", "elevenlabs"} <= set(CREDENTIALS)
