"""The documentation site: it builds with ``mkdocs build --strict``, its API reference covers
every public name, and the examples marked ``<!-- docs-test -->`` in docs/*.md run.

mkdocs, mkdocs-material and mkdocstrings come with the ``dev`` extra. Without them the build
tests skip on a developer machine, and fail under ``CI=true``.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# The public names of design.md §2 (the contract), by where they live. A name listed here must
# exist (unless it is in NOT_YET_IMPLEMENTED) and must appear in the API reference.
DESIGN_NAMES: Dict[str, Tuple[str, ...]] = {
    "realtime_client": (
        "RealtimeClient", "RealtimeStatus", "RealtimeMode", "ClientState", "RealtimeMessage",
        "TextPart", "AudioPart", "ToolCallPart", "ToolResultPart", "ImagePart", "RealtimeToken",
        "SessionConfig", "VADConfig", "Tool", "tool", "UsageInfo", "RealtimeError",
    ),
    "realtime_client.RealtimeClient": (
        "status", "mode", "messages", "error", "pending_user_transcript",
        "pending_assistant_transcript", "state", "audio", "connect", "disconnect",
        "start_listening", "stop_listening", "interrupt", "send_text", "send_image",
        "update_session", "on_state_change", "ask", "wait_for_response", "wait_for_playback",
        "destroy",
    ),
    "realtime_client.RealtimeMessage": ("text",),
    "realtime_client.RealtimeToken": ("from_dict",),
    "realtime_client.adapters": (
        "openai_realtime", "azure_openai_realtime", "grok_realtime", "gemini_realtime",
        "elevenlabs_realtime", "ADAPTERS",
    ),
    "realtime_client.tokens": (
        "fetch_token", "openai_realtime_token", "azure_openai_realtime_token", "grok_realtime_token",
        "gemini_realtime_token", "elevenlabs_realtime_token",
    ),
    "realtime_client.audio": (
        "PyAudioInput", "PyAudioOutput", "list_devices", "WavFileInput", "BufferOutput",
        "WavFileOutput", "AudioVisualization",
    ),
    "realtime_client.audio.BufferOutput": ("played",),
    "realtime_client.audio.AudioVisualization": (
        "input_level", "output_level", "get_input_frequency_data", "get_output_frequency_data",
        "get_input_time_domain_data", "get_output_time_domain_data", "input_sample_rate",
        "output_sample_rate", "on_input_audio", "on_output_audio",
    ),
    "realtime_client.dispatch": ("tk_dispatcher", "qt_dispatcher"),
    "realtime_client.testing": ("FakeRealtimeServer", "Reply"),
    "realtime_client.testing.FakeRealtimeServer": (
        "url", "base_url", "get_token", "adapter", "ca_file", "script", "drop",
    ),
    "realtime_client.testing.Reply": ("text", "audio", "tool_call", "error", "failed", "sequence"),
}

# Named by design.md but not shipped yet (docs/providers.md). When one lands, the reference
# test insists on its documentation; then drop it from this set.
NOT_YET_IMPLEMENTED: Set[str] = set()

# The modules whose ``__all__`` is public API: each of their names must be in the reference.
PUBLIC_MODULES = ("realtime_client", "realtime_client.adapters", "realtime_client.tokens",
                  "realtime_client.audio", "realtime_client.dispatch", "realtime_client.testing")
# Classes whose every public member (methods, properties, class methods) must be in the reference.
PUBLIC_CLASSES = ("realtime_client.RealtimeClient", "realtime_client.audio.AudioVisualization",
                  "realtime_client.testing.FakeRealtimeServer", "realtime_client.testing.Reply")


def _resolve(path: str) -> Any:
    """The object at dotted ``path``, importing the longest module prefix; AttributeError if absent."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise AttributeError(path)


def _exists(path: str) -> bool:
    try:
        _resolve(path)
    except AttributeError:
        return False
    return True


def required_names() -> List[str]:
    """Every dotted name the API reference must document."""
    names: List[str] = []
    for owner, members in DESIGN_NAMES.items():
        names += [f"{owner}.{m}" for m in members]
    for module in PUBLIC_MODULES:
        names += [f"{module}.{n}" for n in importlib.import_module(module).__all__]
    for path in PUBLIC_CLASSES:
        cls = _resolve(path)
        names += [f"{path}.{n}" for n in vars(cls) if not n.startswith("_")]
    return sorted(set(names))


def _mkdocs_missing() -> str:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return ""


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, int, str]]:
    """The site built once with ``mkdocs build --strict`` into a temporary directory."""
    missing = _mkdocs_missing()
    if missing:
        reason = f"{missing} is not installed (pip install -e '.[dev]')"
        if _IN_CI:
            pytest.fail(f"{reason}; CI=true requires the docs build to run")
        pytest.skip(reason)
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # material's banner about MkDocs 2.0
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    yield site, proc.returncode, proc.stdout + proc.stderr


def test_docs_build_strict_without_warnings(built_site: Tuple[Path, int, str]) -> None:
    """`mkdocs build --strict` succeeds and logs no warning (broken links, bad docstrings, ...)."""
    site, returncode, output = built_site
    assert returncode == 0, output
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    assert (site / "index.html").is_file()
    assert (site / "reference" / "client.html").is_file()


def test_api_reference_documents_every_public_name(built_site: Tuple[Path, int, str]) -> None:
    """Every public name (design.md §2, each public module's __all__, public class members) has
    an entry in the API reference; a new public name without one fails here."""
    site, returncode, output = built_site
    assert returncode == 0, output
    anchors: Set[str] = set()
    for page in (site / "reference").glob("*.html"):
        anchors.update(html.unescape(a) for a in re.findall(r'\bid="([^"]+)"', page.read_text("utf-8")))
    absent_from_code = [n for n in required_names() if n not in NOT_YET_IMPLEMENTED and not _exists(n)]
    assert not absent_from_code, f"design.md names missing from the package: {absent_from_code}"
    undocumented = [n for n in required_names() if _exists(n) and n not in anchors]
    assert not undocumented, ("public names missing from the API reference (add them to a page under "
                              f"docs/reference/): {undocumented}")


def _own_docstring(owner: Any, name: str) -> Any:
    """The docstring ``name`` itself carries (not one inherited), or None if it is not a
    class, function, method or property (constants have no docstring of their own)."""
    raw = vars(owner).get(name) if inspect.isclass(owner) else getattr(owner, name)
    if isinstance(raw, property):
        return (raw.fget.__doc__ if raw.fget is not None else None) or ""
    if isinstance(raw, (classmethod, staticmethod)):
        raw = raw.__func__
    if inspect.isclass(raw):
        return raw.__dict__.get("__doc__") or ""
    if inspect.isfunction(raw) or inspect.ismethod(raw):
        return raw.__doc__ or ""
    return None


def test_public_names_have_docstrings() -> None:
    """Every public class, function, method and property has a docstring of its own, so the
    API reference never shows a bare signature."""
    bare = []
    for name in required_names():
        if not _exists(name):
            continue
        owner_path, attr = name.rsplit(".", 1)
        doc = _own_docstring(_resolve(owner_path), attr)
        if doc is not None and not doc.strip():
            bare.append(name)
    assert not bare, f"public names without a docstring: {bare}"


def test_not_yet_implemented_list_is_current() -> None:
    """Names in NOT_YET_IMPLEMENTED really are absent (once shipped, they leave the list)."""
    shipped = sorted(n for n in NOT_YET_IMPLEMENTED if _exists(n))
    assert not shipped, f"these now exist: remove them from NOT_YET_IMPLEMENTED: {shipped}"


def _examples() -> List[Any]:
    cases = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text("utf-8")
        for n, match in enumerate(re.finditer(r"<!-- docs-test -->\n```python\n(.*?)\n```", text, re.S)):
            cases.append(pytest.param(match.group(1), id=f"{page.name}#{n + 1}"))
    return cases


@pytest.mark.parametrize("code", _examples())
def test_docs_example_runs(code: str) -> None:
    """An example marked <!-- docs-test --> in docs/*.md runs as printed (against the fake server)."""
    namespace: Dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, "<docs example>", "exec"), namespace)
