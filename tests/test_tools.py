"""Tests for realtime_client._tools: the Tool value, @tool schemas and the ToolRunner."""

from __future__ import annotations

import asyncio
import datetime
import enum
import inspect
import json
import logging
import re
import sys
import threading
import time
import types
from typing import Annotated, Any, Dict, List, Literal, Optional, Sequence, Set, Tuple, Union

import pytest

from realtime_client._tools import Tool, ToolOutcome, ToolRunner, as_tool, tool
from tests._conformance import validate_client_frame

# --- helpers ---------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Opaque:
    """A type the schema builder does not know."""


def _tool_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("realtime-tool-")]


def _wait_no_tool_threads(timeout: float = 10.0) -> List[threading.Thread]:
    deadline = time.monotonic() + timeout
    while _tool_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _tool_threads()


class Collector:
    """Collects ToolOutcomes and lets a test wait for a number of them."""

    def __init__(self) -> None:
        self.outcomes: List[ToolOutcome] = []
        self.threads: List[str] = []
        self._cond = threading.Condition()

    def __call__(self, outcome: ToolOutcome) -> None:
        with self._cond:
            self.outcomes.append(outcome)
            self.threads.append(threading.current_thread().name)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 10.0) -> List[ToolOutcome]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.outcomes) >= count, timeout), self.outcomes
            return list(self.outcomes)


@pytest.fixture
def make_runner():
    runners: List[ToolRunner] = []

    def make(tools: Sequence[Any], **kwargs: Any) -> Tuple[ToolRunner, Collector]:
        collector = Collector()
        runner = ToolRunner(tools, on_result=collector, **kwargs)
        runners.append(runner)
        return runner, collector

    yield make
    for runner in runners:
        runner.close(timeout=5.0)
    assert _wait_no_tool_threads() == []


def _params(fn: Any) -> Dict[str, Any]:
    return tool(fn).to_schema()["parameters"]


# --- schema generation -----------------------------------------------------------------------


def test_scalar_types_are_required_properties():
    """str, int, float and bool map to JSON types and parameters without defaults are required."""

    def f(a: str, b: int, c: float, d: bool) -> None: ...

    assert _params(f) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                       "c": {"type": "number"}, "d": {"type": "boolean"}},
        "required": ["a", "b", "c", "d"],
        "additionalProperties": False,
    }


def test_full_schema_of_a_decorated_tool():
    """to_schema returns the function declaration with name, docstring summary and parameters."""

    @tool
    def get_weather(location: str, unit: Literal["c", "f"] = "c") -> dict:
        """Get the current weather
        for a city.

        Only cities on Earth.

        Args:
            location: the city name.
        """
        return {}

    assert get_weather.to_schema() == {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "the city name."},
                "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    }


def test_schema_is_a_valid_openai_function_tool():
    """A generated declaration validates inside a GA session.update with no undeclared fields."""

    @tool
    def book(city: str, nights: int = 1, level: Level = Level.LOW, tags: Optional[List[str]] = None) -> str:
        """Book a hotel."""
        return "ok"

    frame = {"type": "session.update", "session": {"type": "realtime", "tools": [book.to_schema()]}}
    validate_client_frame(json.dumps(frame))


def test_optional_parameters():
    """Optional[X] gives X's schema; it is required only when it has no default."""

    def f(a: Optional[int] = None, b: Optional[str] = "x", c: Optional[float] = ...) -> None: ...

    def g(a: Optional[int]) -> None: ...

    def h(a: int | None, b: str | None = None) -> None: ...  # PEP 604, resolvable on 3.10+

    assert _params(f) == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string", "default": "x"},
                       "c": {"type": "number"}},
        "additionalProperties": False,
    }
    assert _params(g)["required"] == ["a"]
    if sys.version_info >= (3, 10):
        assert _params(h) == {"type": "object",
                              "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                              "required": ["a"], "additionalProperties": False}


def test_literal_and_enum_parameters():
    """Literal and Enum hints become enums with an inferred type; Enum defaults use their value."""

    def f(a: Literal["x", "y"], b: Literal[1, 2], c: Literal["x", 1], d: Color, e: Level = Level.HIGH,
          g: Literal[1, 2.5] = 1) -> None: ...

    assert _params(f) == {
        "type": "object",
        "properties": {
            "a": {"type": "string", "enum": ["x", "y"]},
            "b": {"type": "integer", "enum": [1, 2]},
            "c": {"enum": ["x", 1]},
            "d": {"type": "string", "enum": ["red", "green"]},
            "e": {"type": "integer", "enum": [1, 2], "default": 2},
            "g": {"type": "number", "enum": [1, 2.5], "default": 1},
        },
        "required": ["a", "b", "c", "d"],
        "additionalProperties": False,
    }


def test_array_parameters():
    """list, List[X], Sequence[X], tuple, Tuple[X, ...], fixed tuples and sets become arrays."""

    def f(a: list, b: List[int], c: Sequence[str], d: tuple, e: Tuple[int, ...], g: Tuple[int, str],
          h: Set[str], i: list[Color]) -> None: ...

    assert _params(f)["properties"] == {
        "a": {"type": "array"},
        "b": {"type": "array", "items": {"type": "integer"}},
        "c": {"type": "array", "items": {"type": "string"}},
        "d": {"type": "array"},
        "e": {"type": "array", "items": {"type": "integer"}},
        "g": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
              "minItems": 2, "maxItems": 2},
        "h": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "i": {"type": "array", "items": {"type": "string", "enum": ["red", "green"]}},
    }


def test_object_and_nested_parameters():
    """dict and Dict[str, X] become objects; hints nest to any depth."""

    def f(a: dict, b: Dict[str, int], c: Dict[str, List[Optional[Literal["on", "off"]]]],
          d: List[Dict[str, Any]]) -> None: ...

    assert _params(f)["properties"] == {
        "a": {"type": "object"},
        "b": {"type": "object", "additionalProperties": {"type": "integer"}},
        "c": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string", "enum": ["on", "off"]}}},
        "d": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
    }


def test_union_any_and_missing_hints():
    """Unions become anyOf; Any and missing hints put no type constraint."""

    def f(a: Union[int, str], b: Any, c, d: Union[int, List[str], None] = None, e=3) -> None: ...

    assert _params(f) == {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "b": {},
            "c": {},
            "d": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
            "e": {"default": 3},
        },
        "required": ["a", "b", "c"],
        "additionalProperties": False,
    }


def test_annotated_and_docstring_descriptions():
    """Annotated strings describe parameters (also nested), before the docstring's Args section."""

    def f(city: Annotated[str, "the city"], days: int = 1, tags: List[Annotated[str, "a tag"]] = (),
          *, verbose: bool = False) -> None:
        """Forecast.

        Args:
            city: overridden by Annotated.
            days (int): how many days,
                counted from today.

            verbose: talk more.

        Returns:
            something.
        """

    summary_schema = tool(f).to_schema()
    assert summary_schema["description"] == "Forecast."
    assert summary_schema["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city"},
            "days": {"type": "integer", "description": "how many days, counted from today.", "default": 1},
            "tags": {"type": "array", "items": {"type": "string", "description": "a tag"}, "default": []},
            "verbose": {"type": "boolean", "description": "talk more.", "default": False},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_defaults_that_are_not_json_are_optional_but_not_advertised():
    """A default that is None or not JSON-serializable leaves the parameter optional without 'default'."""

    def f(a: Optional[int] = None, b: Any = object(), c: float = float("nan")) -> None: ...

    assert _params(f) == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {}, "c": {"type": "number"}},
        "additionalProperties": False,
    }


def test_description_sources():
    """No docstring gives an empty description; description= overrides the docstring."""

    def a() -> None: ...

    def b() -> None:
        """Args:
        x: nothing.
        """

    def c() -> None:
        """Ignored summary."""

    assert tool(a).description == ""
    assert tool(b).description == ""
    assert tool(description="Explicit.")(c).description == "Explicit."
    assert tool(a).parameters == {"type": "object", "properties": {}, "additionalProperties": False}


def test_decorator_forms_and_callability():
    """@tool, @tool() and @tool(...) all give a Tool that still calls the original function."""

    @tool
    def plain(x: int) -> int:
        return x + 1

    @tool()
    def empty_call(x: int) -> int:
        return x * 2

    @tool(name="renamed-tool", description="Custom.", timeout=5)
    def custom(x: int, y: int = 1) -> int:
        return x - y

    @tool
    async def coro(x: int) -> int:
        return x * 3

    assert isinstance(plain, Tool) and plain.name == "plain" and plain(1) == 2
    assert isinstance(empty_call, Tool) and empty_call(x=2) == 4
    assert (custom.name, custom.description, custom.timeout) == ("renamed-tool", "Custom.", 5)
    assert custom(5, y=2) == 3
    assert asyncio.run(coro(2)) == 6
    assert str(inspect.signature(custom)) == "(x: 'int', y: 'int' = 1) -> 'int'"
    assert custom.handler is not None and custom.__wrapped__ is custom.handler


def test_decoration_errors():
    """Unsupported signatures and hints fail at decoration time with a clear message."""

    def star(*args: int) -> None: ...

    def kw(a: int, **kwargs: Any) -> None: ...

    def posonly(a: int, /) -> None: ...

    def opaque(a: Opaque) -> None: ...

    def int_keys(a: Dict[int, str]) -> None: ...

    def bad_ref(a: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"\*args is not supported"):
        tool(star)
    with pytest.raises(TypeError, match=r"\*\*kwargs is not supported"):
        tool(kw)
    with pytest.raises(TypeError, match="positional-only"):
        tool(posonly)
    with pytest.raises(TypeError, match="unsupported type hint"):
        tool(opaque)
    with pytest.raises(TypeError, match="dict keys must be str"):
        tool(int_keys)
    with pytest.raises(TypeError, match="cannot resolve its type hints"):
        tool(bad_ref)
    with pytest.raises(ValueError, match="tool name must match"):
        tool(lambda: None)
    with pytest.raises(ValueError, match="tool name must match"):
        tool(name="x" * 65)(lambda_free)
    with pytest.raises(TypeError, match="already a Tool"):
        tool(tool(lambda_free))
    with pytest.raises(ValueError, match="timeout"):
        tool(timeout=0)(lambda_free)


def lambda_free() -> None:
    """A module-level function with a valid name."""


def test_tool_value_object():
    """Tool validates its fields, copies parameters into plain dicts and refuses calls without a handler."""
    params = types.MappingProxyType({"type": "object", "properties": {"q": {"type": "string"}},
                                     "required": ("q",)})
    t = Tool(name="search", description="Search.", parameters=params)
    assert type(t.parameters) is dict and t.parameters["required"] == ["q"]
    assert t.to_schema() == {"type": "function", "name": "search", "description": "Search.",
                             "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                            "required": ["q"]}}
    assert Tool(name="n").parameters == {"type": "object", "properties": {}}
    with pytest.raises(TypeError, match="no handler"):
        t()
    with pytest.raises(ValueError):
        Tool(name="has space")
    with pytest.raises(TypeError):
        Tool(name="x", parameters=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Tool(name="x", timeout=-1)
    assert as_tool(t) is t
    assert as_tool(lambda_free).name == "lambda_free"
    with pytest.raises(TypeError):
        as_tool(42)


# --- the runner ------------------------------------------------------------------------------


@tool
def add(a: int, b: int = 1) -> dict:
    """Add numbers."""
    return {"sum": a + b}


@tool
def greet(name: str) -> str:
    """Greet someone."""
    return f"hello {name}"


@tool
async def async_add(a: int, b: int) -> int:
    """Add numbers asynchronously."""
    await asyncio.sleep(0.01)
    return a + b


@tool
def paint(color: Color, levels: List[Level] = (), pair: Optional[Tuple[Color, Level]] = None) -> dict:
    """Paint with enums."""
    return {"color": color, "levels": levels, "pair": pair,
            "types": [type(color).__name__, type(levels).__name__, type(pair).__name__]}


def test_sync_success_with_dict_result(make_runner):
    """A sync tool's dict result is JSON-encoded; input and raw output are kept."""
    runner, got = make_runner([add])
    runner.submit("call_1", "add", '{"a": 2, "b": 3}')
    (outcome,) = got.wait(1)
    assert outcome == ToolOutcome(call_id="call_1", name="add", input={"a": 2, "b": 3},
                                  output={"sum": 5}, result='{"sum": 5}', error=None)
    assert re.fullmatch(r"realtime-tool-\d+", got.threads[0])


def test_str_result_is_sent_as_is_and_other_values_as_json(make_runner):
    """A str result goes on the wire unchanged; other values use json.dumps with default=str."""
    when = datetime.date(2024, 5, 1)
    runner, got = make_runner([greet, tool(name="when")(lambda: when), tool(name="nothing")(lambda: None)])
    runner.submit("c1", "greet", '{"name": "Ada"}')
    runner.submit("c2", "when", "{}")
    runner.submit("c3", "nothing", "")
    by_id = {o.call_id: o for o in got.wait(3)}
    assert (by_id["c1"].result, by_id["c1"].output) == ("hello Ada", "hello Ada")
    assert (by_id["c2"].result, by_id["c2"].output) == ('"2024-05-01"', when)
    assert (by_id["c3"].result, by_id["c3"].input, by_id["c3"].error) == ("null", {}, None)


def test_async_success(make_runner):
    """An async tool runs to completion on its handler thread."""
    runner, got = make_runner([async_add])
    runner.submit("c1", "async_add", '{"a": 20, "b": 22}')
    (outcome,) = got.wait(1)
    assert (outcome.output, outcome.result, outcome.error) == (42, "42", None)


def test_handler_runs_on_named_daemon_worker_thread(make_runner):
    """The handler runs on a daemon thread named realtime-tool-<n>-handler."""
    seen: Dict[str, Any] = {}

    @tool
    def where() -> str:
        seen["name"] = threading.current_thread().name
        seen["daemon"] = threading.current_thread().daemon
        return "ok"

    runner, got = make_runner([where])
    runner.submit("c1", "where", "{}")
    got.wait(1)
    assert re.fullmatch(r"realtime-tool-\d+-handler", seen["name"]) and seen["daemon"] is True


def test_enum_arguments_are_converted(make_runner):
    """Enum-typed arguments (also inside lists and tuples) reach the handler as members."""
    runner, got = make_runner([paint])
    runner.submit("c1", "paint", json.dumps({"color": "green", "levels": [1, 2], "pair": ["red", 2]}))
    (outcome,) = got.wait(1)
    assert outcome.error is None
    assert outcome.output["color"] is Color.GREEN
    assert outcome.output["levels"] == [Level.LOW, Level.HIGH]
    assert outcome.output["pair"] == (Color.RED, Level.HIGH)
    assert json.loads(outcome.result)["types"] == ["Color", "list", "tuple"]


def test_bad_enum_value_is_an_error_result(make_runner):
    """A value outside the Enum gives an error naming the argument and the allowed values."""
    runner, got = make_runner([paint])
    runner.submit("c1", "paint", '{"color": "purple"}')
    (outcome,) = got.wait(1)
    assert outcome.error == ("tool 'paint': bad value for argument 'color': "
                             "'purple' is not one of ['red', 'green']")
    assert json.loads(outcome.result) == {"error": outcome.error}
    assert outcome.output is None


@pytest.mark.parametrize("arguments, problem", [
    ({"a": "2"}, "bad value for argument 'a': expected an integer, got a string ('2')"),
    ({"a": True}, "bad value for argument 'a': expected an integer, got a boolean (True)"),
    ({"a": 2.5}, "bad value for argument 'a': expected an integer, got a number (2.5)"),
    ({"a": [2]}, "bad value for argument 'a': expected an integer, got an array ([2])"),
])
def test_an_argument_of_the_wrong_json_type_is_an_error_result(make_runner, arguments, problem):
    """The schema says integer and the model sent something else: an error result naming the
    argument, the handler never called with it (it got the string '2' as if it were a number)."""
    runner, got = make_runner([add])
    runner.submit("c1", "add", json.dumps(arguments))
    (outcome,) = got.wait(1)
    assert outcome.error == f"tool 'add': {problem}" and outcome.output is None


def test_json_numbers_reach_the_handler_as_the_hinted_type(make_runner):
    """A whole number written 2.0 is an int for an int parameter; an int is a float for a float one."""
    @tool
    def scale(n: int, by: float, tags: List[str], on: bool = True) -> dict:
        """Scale."""
        return {"types": [type(n).__name__, type(by).__name__], "n": n, "by": by}

    runner, got = make_runner([scale])
    runner.submit("c1", "scale", json.dumps({"n": 2.0, "by": 3, "tags": ["x"]}))
    (outcome,) = got.wait(1)
    assert outcome.error is None and outcome.output == {"types": ["int", "float"], "n": 2, "by": 3.0}
    runner.submit("c2", "scale", json.dumps({"n": 1, "by": 1, "tags": "x"}))
    (_, outcome) = got.wait(2)
    assert outcome.error == ("tool 'scale': bad value for argument 'tags': "
                             "expected an array, got a string ('x')")


def test_literal_arguments_match_the_values_the_schema_lists(make_runner):
    """A Literal of Enum members is listed by value in the schema, so the model's 'red' is the
    member; a Literal of ints takes 2.0 as 2 but not True as 1."""
    @tool
    def pick(color: Literal[Color.RED, Color.GREEN], size: Literal[1, 2, 3] = 1) -> dict:
        """Pick."""
        return {"color": color, "size": size}

    runner, got = make_runner([pick])
    runner.submit("c1", "pick", json.dumps({"color": "red", "size": 2.0}))
    runner.submit("c2", "pick", json.dumps({"color": "red", "size": True}))
    first, second = sorted(got.wait(2), key=lambda o: o.call_id)  # handlers run concurrently
    assert first.error is None and first.output == {"color": Color.RED, "size": 2}
    assert second.error == "tool 'pick': bad value for argument 'size': True is not one of [1, 2, 3]"


def test_unknown_tool(make_runner):
    """An unknown tool name gives an error result listing the available tools."""
    runner, got = make_runner([add, greet])
    runner.submit("c1", "nope", '{"a": 1}')
    (outcome,) = got.wait(1)
    assert outcome.error == "unknown tool 'nope'; available tools: add, greet"
    assert json.loads(outcome.result) == {"error": outcome.error}
    assert outcome.input == {"a": 1}


def test_invalid_json_arguments(make_runner):
    """Arguments that are not JSON give an error result with no parsed input."""
    runner, got = make_runner([add])
    runner.submit("c1", "add", '{"a": 1')
    (outcome,) = got.wait(1)
    assert outcome.error.startswith("arguments are not valid JSON")
    assert outcome.input is None and outcome.output is None
    assert json.loads(outcome.result) == {"error": outcome.error}


def test_non_object_json_arguments(make_runner):
    """JSON arguments that are not an object give an error result saying what they were."""
    runner, got = make_runner([add])
    runner.submit("c1", "add", "[1, 2]")
    runner.submit("c2", "add", '"text"')
    by_id = {o.call_id: o for o in got.wait(2)}
    assert by_id["c1"].error == "arguments for tool 'add' must be a JSON object, got an array"
    assert by_id["c1"].input == [1, 2]
    assert by_id["c2"].error == "arguments for tool 'add' must be a JSON object, got a string"


def test_missing_and_unexpected_arguments(make_runner):
    """Arguments that do not bind give an error naming the missing and unexpected ones."""
    runner, got = make_runner([add])
    runner.submit("c1", "add", '{"b": 2}')
    runner.submit("c2", "add", '{"a": 1, "z": 2, "y": 3}')
    runner.submit("c3", "add", '{"c": 1}')
    by_id = {o.call_id: o for o in got.wait(3)}
    assert by_id["c1"].error == "bad arguments for tool 'add': missing required argument(s): 'a'"
    assert by_id["c2"].error == "bad arguments for tool 'add': unexpected argument(s): 'z', 'y'"
    assert by_id["c3"].error == ("bad arguments for tool 'add': missing required argument(s): 'a'; "
                                 "unexpected argument(s): 'c'")


def test_handler_accepting_kwargs_receives_everything(make_runner):
    """A hand-built Tool whose handler takes **kwargs gets every argument unchanged."""
    t = Tool(name="echo", handler=lambda **kw: kw)
    runner, got = make_runner([t])
    runner.submit("c1", "echo", '{"x": 1, "y": [2]}')
    (outcome,) = got.wait(1)
    assert outcome.output == {"x": 1, "y": [2]}


def test_exception_gives_error_and_logs_traceback(make_runner, caplog):
    """A raising handler gives '<ExcType>: <msg>' and its traceback is logged at WARNING."""

    @tool
    def explode(x: int) -> None:
        raise ValueError(f"boom {x}")

    runner, got = make_runner([explode])
    with caplog.at_level(logging.WARNING, logger="realtime_client"):
        runner.submit("c1", "explode", '{"x": 7}')
        (outcome,) = got.wait(1)
    assert outcome.error == "ValueError: boom 7"
    assert json.loads(outcome.result) == {"error": "ValueError: boom 7"}
    records = [r for r in caplog.records if r.name == "realtime_client" and r.levelno == logging.WARNING]
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in records)
    assert "Traceback" in caplog.text and "boom 7" in caplog.text


def test_sync_timeout_abandons_handler(make_runner, caplog):
    """A handler running past its timeout gives a timeout error while its thread is abandoned."""
    release = threading.Event()

    @tool(timeout=0.2)
    def hang() -> str:
        release.wait(30)
        return "late"

    runner, got = make_runner([hang], default_timeout=30)
    try:
        with caplog.at_level(logging.WARNING, logger="realtime_client"):
            runner.submit("c1", "hang", "{}")
            (outcome,) = got.wait(1)
        assert outcome.error == "tool 'hang' timed out after 0.2 s"
        assert json.loads(outcome.result) == {"error": outcome.error}
        assert "timed out" in caplog.text
        assert any(t.name.endswith("-handler") for t in _tool_threads())
    finally:
        release.set()
    assert _wait_no_tool_threads() == []
    assert len(got.outcomes) == 1


def test_async_timeout_cancels_coroutine(make_runner):
    """An async handler past the default timeout is cancelled and reported as timed out."""
    cancelled = threading.Event()

    @tool
    async def slow() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    runner, got = make_runner([slow], default_timeout=0.2)
    runner.submit("c1", "slow", "{}")
    (outcome,) = got.wait(1)
    assert outcome.error == "tool 'slow' timed out after 0.2 s"
    assert cancelled.wait(5)


def test_timeout_error_raised_by_handler_is_not_a_timeout(make_runner):
    """A TimeoutError the handler raises itself is reported as an exception, not as our timeout."""

    @tool
    async def flaky() -> None:
        raise TimeoutError("upstream slow")

    runner, got = make_runner([flaky])
    runner.submit("c1", "flaky", "{}")
    (outcome,) = got.wait(1)
    assert outcome.error == "TimeoutError: upstream slow"


def test_result_not_json_serializable(make_runner):
    """Results json.dumps cannot encode even with default=str give an error result."""
    circular: Dict[str, Any] = {}
    circular["self"] = circular
    runner, got = make_runner([tool(name="circ")(lambda: circular), tool(name="nan")(lambda: [float("nan")]),
                               tool(name="keys")(lambda: {(1, 2): "tuple key"})])
    runner.submit("c1", "circ", "{}")
    runner.submit("c2", "nan", "{}")
    runner.submit("c3", "keys", "{}")
    by_id = {o.call_id: o for o in got.wait(3)}
    for call_id, name in (("c1", "circ"), ("c2", "nan"), ("c3", "keys")):
        outcome = by_id[call_id]
        assert outcome.error.startswith(f"tool {name!r} returned a result that is not JSON-serializable")
        assert json.loads(outcome.result) == {"error": outcome.error}
        assert outcome.output is None


def test_on_result_called_exactly_once_per_call(make_runner):
    """Every submitted call, good or bad, produces exactly one outcome."""
    runner, got = make_runner([add, greet, async_add], default_timeout=5)
    calls = []
    for i in range(30):
        kind = i % 5
        args = ['{"a": 1}', '{"name": "x"}', '{"a": 1, "b": 2}', "not json", '{"q": 1}'][kind]
        name = ["add", "greet", "async_add", "add", "missing"][kind]
        calls.append(f"call_{i}")
        runner.submit(f"call_{i}", name, args)
    got.wait(30)
    runner.close(timeout=5)
    assert sorted(o.call_id for o in got.outcomes) == sorted(calls)
    assert sum(o.error is None for o in got.outcomes) == 18


def test_on_result_exception_is_logged_and_runner_continues(caplog):
    """An on_result that raises is logged and later calls still run."""
    seen: List[str] = []

    def on_result(outcome: ToolOutcome) -> None:
        seen.append(outcome.call_id)
        if outcome.call_id == "c1":
            raise RuntimeError("consumer failed")

    runner = ToolRunner([add], on_result=on_result)
    with caplog.at_level(logging.ERROR, logger="realtime_client"):
        runner.submit("c1", "add", '{"a": 1}')
        runner.close(timeout=5)
    assert "on_result failed" in caplog.text and "consumer failed" in caplog.text
    runner2 = ToolRunner([add], on_result=on_result)
    runner2.submit("c2", "add", '{"a": 1}')
    runner2.close(timeout=5)
    assert seen == ["c1", "c2"]
    assert _wait_no_tool_threads() == []


def test_close_joins_runner_threads():
    """close() waits for running calls, leaves no realtime-tool-* thread, and is idempotent."""
    got = Collector()

    @tool
    def nap(seconds: float) -> str:
        time.sleep(seconds)
        return "rested"

    runner = ToolRunner([nap], on_result=got)
    for i in range(5):
        runner.submit(f"c{i}", "nap", '{"seconds": 0.1}')
    runner.close(timeout=5)
    assert _tool_threads() == []
    assert [o.result for o in got.outcomes] == ["rested"] * 5
    runner.close()


def test_close_abandons_hung_handler(caplog):
    """close() gives up on a hung handler: the call reports an error and a warning names the thread."""
    got = Collector()
    started, release = threading.Event(), threading.Event()

    @tool
    def hang() -> str:
        started.set()
        release.wait(30)
        return "late"

    runner = ToolRunner([hang], on_result=got, default_timeout=30)
    try:
        runner.submit("c1", "hang", "{}")
        assert started.wait(10)
        with caplog.at_level(logging.WARNING, logger="realtime_client"):
            runner.close(timeout=0.1)
        (outcome,) = got.outcomes
        assert outcome.error == "tool 'hang' was abandoned because the client closed"
        live = _tool_threads()
        assert len(live) == 1 and live[0].name.endswith("-handler") and live[0].daemon
        assert "still running" in caplog.text and live[0].name in caplog.text
    finally:
        release.set()
    assert _wait_no_tool_threads() == []
    assert len(got.outcomes) == 1


def test_submit_after_close_is_ignored(caplog):
    """A call submitted after close() produces no outcome and no thread, only a debug log."""
    got = Collector()
    runner = ToolRunner([add], on_result=got)
    runner.close()
    with caplog.at_level(logging.DEBUG, logger="realtime_client"):
        runner.submit("late", "add", '{"a": 1}')
    assert got.outcomes == [] and _tool_threads() == []
    assert any(r.levelno == logging.DEBUG and "late" in r.getMessage() for r in caplog.records)


def test_update_tools_and_duplicate_names(make_runner):
    """update_tools replaces the tool set; duplicate names are refused."""
    runner, got = make_runner([add])
    runner.update_tools([greet, lambda_free])
    runner.submit("c1", "greet", '{"name": "Bo"}')
    runner.submit("c2", "add", '{"a": 1}')
    by_id = {o.call_id: o for o in got.wait(2)}
    assert by_id["c1"].result == "hello Bo"
    assert by_id["c2"].error == "unknown tool 'add'; available tools: greet, lambda_free"
    with pytest.raises(ValueError, match="duplicate tool name 'add'"):
        runner.update_tools([add, add])
    with pytest.raises(ValueError, match="duplicate"):
        ToolRunner([add, add], on_result=print)
    with pytest.raises(ValueError, match="timeout"):
        ToolRunner([add], on_result=print, default_timeout=0)


def test_tool_timeout_overrides_default(make_runner):
    """A tool's own timeout wins over the runner's default."""
    release = threading.Event()

    @tool(timeout=5)
    def patient() -> str:
        release.wait(0.4)
        return "done"

    runner, got = make_runner([patient], default_timeout=0.1)
    runner.submit("c1", "patient", "{}")
    (outcome,) = got.wait(1)
    assert (outcome.error, outcome.result) == (None, "done")
