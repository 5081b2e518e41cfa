"""The examples, run for real: the Tk chat driven under Xvfb, the scripts as subprocesses.

The Qt chat runs in ``test_examples_qt.py`` (a child process per run, so Qt's exit is seen
too); it shares :func:`converse` and :func:`assert_drawn` with this module. Under ``CI=true``
nothing skips: a missing Xvfb, Tk or pillow fails the test.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests

from realtime_client import RealtimeClient
from realtime_client.adapters import openai_realtime
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.tokens import fetch_token

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI") == "true"


def require(available: bool, what: str) -> None:
    """Skip on a developer machine, fail under ``CI=true``, when ``what`` is missing."""
    if not available:
        if IN_CI:
            pytest.fail(f"{what} is missing; CI=true requires the example tests to run")
        pytest.skip(f"{what} is missing")


def importable(module: str, what: str) -> Any:
    """``module``, imported; skipped or failed (see :func:`require`) when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        require(False, what)


def load_examples(*names: str) -> List[Any]:
    """Import modules from ``examples/`` (which import each other as top-level modules)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(EXAMPLES))


def run_child(module: str, *args: str, timeout: float = 60, **env: str) -> Dict[str, Any]:
    """Run ``python -m module *args``; return its last JSON stdout line plus ``stderr``."""
    proc = subprocess.run([sys.executable, "-m", module, *args], check=False, cwd=ROOT,
                          env=example_env(**env), capture_output=True, text=True, timeout=timeout)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and reports, f"child exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return {**json.loads(reports[-1]), "stderr": proc.stderr}


def example_env(**extra: str) -> Dict[str, str]:
    """The environment for an example subprocess: this checkout first, no OpenAI settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def speech_wav(path: Path, duration_ms: float = 1200) -> Path:
    """A WAV of voice-like sound, the microphone of the push-to-talk turn."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(synthesize_speech(duration_ms, 24000).tobytes())
    return path


def assert_drawn(image: Any) -> None:
    """A screenshot of a drawn window, not a blank frame: many colours and real contrast."""
    from PIL import ImageStat

    rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20) or []
    spread = ImageStat.Stat(rgb.convert("L")).stddev[0]
    assert rgb.width >= 300 and rgb.height >= 200, rgb.size
    assert len(colours) >= 16, f"only {len(colours)} colours: a blank window?"
    assert spread >= 10, f"grey-level spread {spread:.1f}: a blank window?"


def converse(ui: Any, server: FakeRealtimeServer) -> None:
    """Three turns through the window's widgets: typed, spoken (push-to-talk) and interrupted.

    ``ui`` adapts one toolkit: ``app``, ``pump(seconds, until, what)``, ``status()``,
    ``transcript()``, ``click(button)``, ``type(text)``, ``enter()``, ``press(button)``,
    ``release(button)``; it records the meters' peaks while it pumps.
    """
    app = ui.app
    ui.click(app.connect_button)  # connect(wait=False): the window keeps running meanwhile
    ui.pump(until=lambda: ui.status().startswith("connected"), what="the connection")
    ui.type("hello there")
    ui.enter()
    ui.pump(until=lambda: "assistant: You said: hello there" in ui.transcript(), what="the typed answer")
    ui.press(app.talk_button)  # the microphone (a WAV of speech) streams while the button is held
    ui.pump(1.2)
    ui.release(app.talk_button)  # manual VAD: releasing commits the turn
    ui.pump(until=lambda: "assistant: I heard you." in ui.transcript(), what="the spoken answer")
    # Let that answer play out: audio still queued would play before the next answer (and an
    # interrupt would cut that one instead).
    ui.pump(until=lambda: "speaking" in ui.status(), what="the spoken answer playing")
    ui.pump(until=lambda: "speaking" not in ui.status(), what="the spoken answer's audio to end")
    server.script(Reply.audio("Once upon a time there was a very long story. " * 4))
    ui.type("tell me a story")
    ui.click(app.send_button)
    ui.pump(until=lambda: "speaking" in ui.status(), what="the story playing")
    ui.pump(0.3)
    ui.click(app.interrupt_button)
    ui.pump(until=lambda: ui.transcript().endswith("story. [interrupted]"), what="the story cut off")
    server.wait_for_frame("conversation.item.truncate")  # the provider was told what was heard
    ui.pump(until=lambda: "listening" in ui.status() or "idle" in ui.status(), what="the mode after it")


class Pump:
    """Runs a toolkit's events until a condition holds, recording the level meters' peaks."""

    def __init__(self, step: Callable[[], None], meters: Callable[[], List[float]],
                 describe: Callable[[], str]) -> None:
        self._step, self._meters, self._describe = step, meters, describe
        self.peaks = [0.0, 0.0]

    def __call__(self, seconds: float = 10.0, until: Optional[Callable[[], bool]] = None,
                 what: str = "") -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._step()
            self.peaks = [max(p, m) for p, m in zip(self.peaks, self._meters())]
            if until is not None and until():
                return
            time.sleep(0.005)
        if until is not None:
            raise AssertionError(f"timed out waiting for {what}; the window shows {self._describe()}")


# --- Tk under Xvfb ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """A private Xvfb server on a display number it picks itself (``-displayfd``)."""
    require(shutil.which("Xvfb") is not None, "Xvfb (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24",
                             "-nolisten", "tcp"], pass_fds=(write_end,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as announced:
            number = announced.readline().strip()  # Xvfb writes it once it accepts connections
        assert number.isdigit(), f"Xvfb did not start (exit code {proc.poll()})"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(5)


class TkUI:
    """Drives ``examples/tk_voice.py``'s ``App`` as a user would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pump = Pump(app.root.update, self._meters, lambda: f"{self.status()!r}, {self.transcript()!r}")

    def _meters(self) -> List[float]:
        canvas = self.app.meters
        return [(canvas.coords(bar)[2] - canvas.coords(bar)[0]) / 400.0 for bar in self.app.bars]

    def status(self) -> str:
        return str(self.app.status.cget("text"))

    def transcript(self) -> str:
        return str(self.app.transcript.get("1.0", "end-1c"))

    def click(self, button: Any) -> None:
        button.invoke()

    def type(self, text: str) -> None:
        self.app.entry.insert("end", text)

    def enter(self) -> None:
        self.app.entry.focus_force()
        self.app.root.update()
        self.app.entry.event_generate("<Return>")

    def press(self, button: Any) -> None:
        button.event_generate("<ButtonPress-1>", x=5, y=5)

    def release(self, button: Any) -> None:
        button.event_generate("<ButtonRelease-1>", x=5, y=5)


def test_tk_voice_converses_and_draws(xvfb: str, tmp_path: Path) -> None:
    """The Tk chat connects without blocking, answers typed and spoken turns, is interrupted, and draws."""
    pil = importable("PIL.Image", "pillow (pip install pillow)")
    require(importable("PIL.features", "pillow").check("xcb"), "pillow with XCB support")
    shot = tmp_path / "tk_voice.png"
    report = run_child("tests.test_examples", "tk-converse", str(shot), str(speech_wav(tmp_path / "me.wav")),
                       DISPLAY=xvfb)
    text = report["transcript"]
    assert text.count("user: ") == 3 and "assistant: You said: hello there" in text
    assert text.endswith("[interrupted]"), text
    assert report["peaks"][0] > 0.3 and report["peaks"][1] > 0.3, f"meters never moved: {report['peaks']}"
    assert report["threads_after_close"] == []
    assert "Traceback" not in report["stderr"], report["stderr"]
    assert_drawn(pil.open(shot))


def test_tk_voice_device_pickers_and_a_device_that_fails(xvfb: str) -> None:
    """The pickers list the devices; a device that cannot open shows AUDIO_DEVICE and allows a retry."""
    report = run_child("tests.test_examples", "tk-pickers", DISPLAY=xvfb)
    assert report["inputs"] == ["system default", "9998: Gone USB mic"]
    assert report["outputs"] == ["system default", "9999: Gone USB speaker"]
    assert report["pickers_enabled_before"] is True
    assert report["status"] == "error" and "[AUDIO_DEVICE]" in report["notice"]
    assert report["connect_button"] == "Connect" and report["pickers_enabled_after"] is True
    assert report["send_enabled"] is False


def test_tk_voice_script_quits_cleanly_on_ctrl_c(xvfb: str) -> None:
    """``python examples/tk_voice.py`` opens its window and connects; Ctrl+C closes it without a traceback."""
    importable("tkinter", "Tk (the python3-tk package)")
    child = Child("tk_voice.py", "--no-audio", DISPLAY=xvfb)
    child.expect("talking to the embedded fake server, without audio devices")
    time.sleep(1.0)  # the window connects meanwhile
    err = child.stop()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


# --- the scripts ---------------------------------------------------------------------------------


def run_example(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / args[0]), *args[1:]], check=False, cwd=ROOT,
                          env=example_env(**env), capture_output=True, text=True, timeout=timeout)


def test_script_ask_prints_each_answer_and_exits() -> None:
    """script_ask.py asks its questions against the embedded fake server, prints the answers, exits 0."""
    proc = run_example("script_ask.py", "--no-audio", "What is 2 + 2?", "And 3 + 3?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "talking to the embedded fake server, without audio devices",
        "you: What is 2 + 2?", "assistant: You said: What is 2 + 2?",
        "you: And 3 + 3?", "assistant: You said: And 3 + 3?"]
    assert "Traceback" not in proc.stderr


def test_script_ask_with_whatever_audio_there_is() -> None:
    """Without --no-audio the script uses the sound card there is, or none, and still answers."""
    proc = run_example("script_ask.py", "Hello?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("talking to the embedded fake server")
    assert "assistant: You said: Hello?" in proc.stdout


class Child:
    """A long-running example process whose stdout lines are read as they come."""

    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / args[0]), *args[1:]], cwd=ROOT,
                                     env=example_env(**env), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._read, name="test-child-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 15.0) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; got {self.seen}")

    def stop(self) -> str:
        """Ctrl+C, as a user would; returns stderr. The process must exit cleanly."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"still running 10 s after Ctrl+C:\n{err}") from None
        assert self.proc.returncode == 0, err
        return err


def test_token_server_mints_for_its_embedded_fake_server() -> None:
    """token_server.py serves TanStack token JSON that a client's fetch_token uses to connect."""
    child = Child("token_server.py", "--port", "0")
    try:
        ws_url = child.expect(r"realtime endpoint: (ws://\S+)").group(1)
        token_url = child.expect(r"token endpoint: (http://\S+)").group(1)
        body = requests.post(token_url, json={}, timeout=5).json()
        assert set(body) == {"provider", "token", "expiresAt", "config"}
        assert body["provider"] == "openai" and body["token"].startswith("ek_")
        assert body["expiresAt"] > time.time() * 1000 + 60_000  # milliseconds, minutes ahead
        client = RealtimeClient(get_token=fetch_token(token_url), adapter=openai_realtime(url=ws_url),
                                auto_capture=False, auto_playback=False)
        try:
            client.connect(timeout=10)
            assert client.ask("Are you there?", timeout=10).text == "You said: Are you there?"
        finally:
            client.destroy()
        child.expect(r"POST /token -> 200")  # the client fetched its own token
        assert requests.post(token_url.replace("/token", "/nope"), timeout=5).status_code == 404
    finally:
        err = child.stop()
    assert "Traceback" not in err


class _ClientSecrets(BaseHTTPRequestHandler):
    """OpenAI's ``POST /v1/realtime/client_secrets``, minting the test's fake server's tokens."""

    server: Any

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization"), body))
        token = self.server.fake.token(ttl=body["expires_after"]["seconds"])
        reply = json.dumps({"value": token.token, "expires_at": token.expires_at,
                            "session": {"type": "realtime", "model": body["session"]["model"]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_token_server_mints_openai_client_secrets_with_the_api_key() -> None:
    """With OPENAI_API_KEY, token_server.py mints client secrets (openai_realtime_token) that connect."""
    with FakeRealtimeServer(api_key="sk-only-this-key") as fake:
        api = ThreadingHTTPServer(("127.0.0.1", 0), _ClientSecrets)
        api.fake, api.requests = fake, []  # type: ignore[attr-defined]
        threading.Thread(target=api.serve_forever, name="test-client-secrets", daemon=True).start()
        child = Child("token_server.py", "--port", "0", OPENAI_API_KEY="sk-test-key",
                      OPENAI_BASE_URL=f"http://127.0.0.1:{api.server_address[1]}/v1")
        try:
            child.expect(r"minting OpenAI client secrets")
            token_url = child.expect(r"token endpoint: (http://\S+)").group(1)
            client = RealtimeClient(get_token=fetch_token(token_url), adapter=fake.adapter(),
                                    auto_capture=False, auto_playback=False)
            try:
                client.connect(timeout=10)
                assert client.ask("Hi", timeout=10).text == "You said: Hi"
            finally:
                client.destroy()
        finally:
            err = child.stop()
            api.shutdown()
            api.server_close()
    path, auth, body = api.requests[0]  # type: ignore[attr-defined]
    assert (path, auth) == ("/v1/realtime/client_secrets", "Bearer sk-test-key")
    assert body["session"]["type"] == "realtime" and body["expires_after"]["seconds"] == 600
    assert "sk-test-key" not in err


# --- the Tk children (Tk keeps its X connection until the process exits, so each run gets its own) ---


def drive_tk_example(shot: str, speech: str) -> Dict[str, Any]:
    import tkinter

    from PIL import ImageGrab

    from realtime_client.audio import WavFileInput

    tk_voice, common = load_examples("tk_voice", "_common")
    root = tkinter.Tk()
    with FakeRealtimeServer() as server:
        backend = common.Backend(server.get_token, server.adapter(), "the test's fake server", lambda: None)
        app = tk_voice.App(root, backend, devices=[], audio_input=WavFileInput(speech))
        try:
            ui = TkUI(app)
            converse(ui, server)
            transcript = ui.transcript()
            root.update()
            x, y = root.winfo_rootx(), root.winfo_rooty()
            box = (x, y, x + root.winfo_width(), y + root.winfo_height())
            ImageGrab.grab(bbox=box, xdisplay=os.environ["DISPLAY"]).save(shot)
        finally:
            app.close()  # what the window's close button does: destroy the client, then the window
    return {"transcript": transcript, "peaks": ui.pump.peaks, "threads_after_close": client_threads()}


def check_tk_pickers() -> Dict[str, Any]:
    import tkinter

    from realtime_client.audio import AudioDevice

    tk_voice, common = load_examples("tk_voice", "_common")

    def device(index: int, name: str, inputs: int, outputs: int) -> AudioDevice:
        return AudioDevice(index=index, name=name, max_input_channels=inputs, max_output_channels=outputs,
                           default_sample_rate=48000.0, supported_rates=(48000,), is_default_input=False,
                           is_default_output=False)

    devices = [device(9998, "Gone USB mic", 1, 0), device(9999, "Gone USB speaker", 0, 2)]
    root = tkinter.Tk()
    with FakeRealtimeServer() as server:
        app = tk_voice.App(root, common.Backend(server.get_token, server.adapter(), "test", lambda: None),
                           devices=devices)
        try:
            report: Dict[str, Any] = {"inputs": list(app.input_picker["values"]),
                                      "outputs": list(app.output_picker["values"]),
                                      "pickers_enabled_before": not app.input_picker.instate(["disabled"])}
            app.input_picker.current(1)
            app.output_picker.current(1)
            ui = TkUI(app)
            ui.click(app.connect_button)
            ui.pump(until=lambda: ui.status() == "error", what="the device error")
            report.update(status=ui.status(), notice=str(app.notice.cget("text")),
                          connect_button=str(app.connect_button.cget("text")),
                          pickers_enabled_after=not app.input_picker.instate(["disabled"]),
                          send_enabled=not app.send_button.instate(["disabled"]))
        finally:
            app.close()
    return report


def client_threads() -> List[str]:
    """The client's ``realtime-*`` threads still alive (the fake server's excluded)."""
    end = time.monotonic() + 2.0
    while True:
        alive = [t.name for t in threading.enumerate()
                 if t.name.startswith("realtime-") and not t.name.startswith("realtime-fake")]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.02)


if __name__ == "__main__":
    children = {"tk-converse": drive_tk_example, "tk-pickers": check_tk_pickers}
    print(json.dumps(children[sys.argv[1]](*sys.argv[2:])), flush=True)
