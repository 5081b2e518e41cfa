"""Client tools: the :class:`Tool` value, the ``@tool`` decorator and the :class:`ToolRunner`.

``@tool`` turns a plain function into a :class:`Tool` whose JSON Schema comes from the
signature, the type hints and a Google-style docstring. The runner executes the model's
tool calls off the socket-reader thread and always produces exactly one result per call,
an ``{"error": ...}`` JSON object when anything goes wrong, so the model is never left waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union, cast, overload

import attrs

from ._tool_schema import coerce_arguments, function_schema, plain

__all__ = ["Tool", "ToolOutcome", "ToolRunner", "as_session_tool", "as_tool", "client_tools", "tool"]

logger = logging.getLogger("realtime_client")

_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _check_name(inst: Any, attr: Any, value: Any) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"tool name must match ^[a-zA-Z0-9_-]{{1,64}}$, got {value!r}")


def _check_timeout(inst: Any, attr: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise ValueError(f"tool timeout must be a positive number of seconds or None, got {value!r}")


def _schema_dict(value: Any) -> Dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"tool parameters must be a JSON Schema mapping, got {type(value).__name__}")
    return plain(value)


def _empty_parameters() -> Dict[str, Any]:
    return {"type": "object", "properties": {}}


@attrs.frozen
class Tool:
    """A function the model may call, with the JSON Schema of its arguments.

    A ``Tool`` is still callable like the function it wraps (``get_weather(location="Oslo")``),
    so tools can be unit-tested directly. Usually built with :func:`tool`.

    Attributes:
        name: what the model calls it; ``^[a-zA-Z0-9_-]{1,64}$``.
        description: tells the model when and how to use it.
        parameters: the JSON Schema of the arguments object (kept as a plain dict).
        handler: a function or coroutine function receiving the arguments as keyword arguments;
            its return value is sent back (a ``str`` as-is, anything else as JSON).
        timeout: seconds the handler may run, overriding the runner's default.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(validator=_check_name)
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    parameters: Dict[str, Any] = attrs.field(factory=_empty_parameters, converter=_schema_dict)
    handler: Optional[Callable[..., Any]] = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.is_callable()))
    timeout: Optional[float] = attrs.field(default=None, validator=_check_timeout)

    def to_schema(self) -> Dict[str, Any]:
        """The function-tool declaration a provider expects (``{"type": "function", ...}``)."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": plain(self.parameters)}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.handler is None:
            raise TypeError(f"tool {self.name!r} has no handler to call")
        return self.handler(*args, **kwargs)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        # Lets inspect.signature() and friends see the original function.
        if self.handler is None:
            raise AttributeError("__wrapped__")
        return self.handler


# --- @tool: schema from signature, hints and docstring ---------------------------------------


@overload
def tool(fn: Callable[..., Any], *, name: Optional[str] = None, description: Optional[str] = None,
         timeout: Optional[float] = None) -> Tool: ...


@overload
def tool(fn: None = None, *, name: Optional[str] = None, description: Optional[str] = None,
         timeout: Optional[float] = None) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Union[Tool, Callable[[Callable[..., Any]], Tool]]:
    """Make a :class:`Tool` from a function; use as ``@tool`` or ``@tool(name=..., timeout=...)``.

    The JSON Schema comes from the signature and type hints: ``str``, ``int``, ``float``,
    ``bool``, ``Optional[X]``, ``Literal[...]``, ``enum.Enum`` subclasses (the handler gets the
    member), ``list``/``List[X]``/``Sequence[X]``/``tuple``/``set``, ``dict``/``Dict[str, X]``,
    unions, nesting, and ``Annotated[X, "description"]``. Parameters with defaults are optional.
    The model's arguments are checked against the hints before the handler runs: a missing or
    unexpected argument, a value of the wrong JSON type (a string for an ``int``, a number for a
    ``list``) or outside its ``Literal``/``Enum`` gets the model an error result naming the
    argument. A whole number written ``2.0`` passes as an ``int``, and an ``int`` as a ``float``.
    Parameter descriptions also come from the docstring's ``Args:`` section; the tool's
    description is the docstring's first paragraph.

    Args:
        fn: the function (sync or ``async``).
        name: the tool name; default ``fn.__name__``.
        description: overrides the docstring summary.
        timeout: seconds the handler may run, overriding the runner's default.

    Returns:
        A :class:`Tool` (or, without ``fn``, a decorator producing one).

    Raises:
        TypeError: ``*args``/``**kwargs``, positional-only parameters or an unsupported hint.
        ValueError: an invalid tool name.

    Example::

        >>> @tool
        ... def add(a: int, b: int = 1) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> add.to_schema()["parameters"]["required"]
        ['a']
        >>> add(2, b=3)
        5

    .. versionadded:: 0.1.0
    """

    def build(func: Callable[..., Any]) -> Tool:
        if isinstance(func, Tool):
            raise TypeError(f"{func.name!r} is already a Tool")
        if not callable(func):
            raise TypeError(f"@tool needs a function, got {type(func).__name__}")
        summary, parameters = function_schema(func)
        tool_name = name if name is not None else getattr(func, "__name__", "")
        return Tool(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=parameters,
            handler=func,
            timeout=timeout,
        )

    if fn is None:
        return build
    return build(fn)


def as_tool(value: Any) -> Tool:
    """A :class:`Tool` for ``value``: a Tool as-is, a plain callable through :func:`tool`."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return tool(cast(Callable[..., Any], value))
    raise TypeError(f"a tool must be a Tool or a function, got {type(value).__name__}")


def as_session_tool(value: Any) -> Any:
    """A tool for ``SessionConfig.tools``: a :class:`Tool` (run by the client), or a dict the
    provider runs itself (e.g. ``{"type": "mcp", ...}``, ``{"type": "web_search"}``), kept as
    a copy.

    Raises:
        TypeError: not a Tool, a function or a provider tool dict; or a ``function`` dict
            (the client could not run it: use :func:`tool`).
    """
    if isinstance(value, Mapping):
        kind = value.get("type")
        if not isinstance(kind, str) or not kind:
            raise TypeError("a provider tool dict needs a string 'type' (e.g. 'mcp')")
        if kind == "function":
            raise TypeError(f"function tool {value.get('name')!r} given as a dict has no handler: "
                            "decorate the function with @tool (or pass it as is)")
        return dict(value)
    return as_tool(value)


def client_tools(tools: Sequence[Any]) -> List[Tool]:
    """The tools the client runs itself (provider tool dicts are left to the provider)."""
    return [t for t in tools if isinstance(t, Tool)]


# --- running calls --------------------------------------------------------------------------


@attrs.frozen
class ToolOutcome:
    """The result of one tool call, ready to send.

    Attributes:
        call_id: the provider's call id.
        name: the tool name the model asked for.
        input: the parsed arguments (``None`` when they were not valid JSON).
        output: the handler's raw return value (``None`` on failure).
        result: the string that goes on the wire: a ``str`` result as-is, anything else as
            JSON, ``{"error": "..."}`` on failure.
        error: ``None`` on success, else what went wrong.
    """

    call_id: str
    name: str
    input: Any
    output: Any
    result: str
    error: Optional[str] = None


class _CallFailed(Exception):
    """A call cannot run; the message is what the model will read."""


class _HandlerTimedOut(Exception):
    pass


@attrs.define
class _Call:
    n: int
    call_id: str
    name: str
    arguments: Any
    wake: threading.Event = attrs.field(factory=threading.Event)  # handler done, or close() gave up
    parsed: Any = None


_thread_numbers = itertools.count(1)
_numbers_lock = threading.Lock()


class ToolRunner:
    """Runs tool calls off the reader thread, each in its own daemon thread.

    Args:
        tools: the tools the model may call (``Tool`` objects or plain functions).
        default_timeout: seconds a handler may run unless its tool sets ``timeout``.
        on_result: receives one :class:`ToolOutcome` per submitted call. It runs on the call's
            runner thread and must not block for long.

    Threads: ``submit``, ``update_tools`` and ``close`` may be called from any thread. Each
    call gets a runner thread ``realtime-tool-<n>`` that runs the handler in a worker thread
    ``realtime-tool-<n>-handler``, so a hung handler can be abandoned at its timeout.
    """

    def __init__(
        self,
        tools: Sequence[Any] = (),
        *,
        default_timeout: float = 30.0,
        on_result: Callable[[ToolOutcome], None],
    ) -> None:
        _check_timeout(None, None, default_timeout)
        if default_timeout is None:
            raise ValueError("default_timeout must be a positive number of seconds")
        self._default_timeout = float(default_timeout)
        self._on_result = on_result
        self._lock = threading.Lock()
        self._tools = self._index(tools)
        self._closed = False
        self._runners: Dict[threading.Thread, threading.Event] = {}  # runner -> its wake-up event
        self._handlers: List[threading.Thread] = []

    @staticmethod
    def _index(tools: Sequence[Any]) -> Dict[str, Tool]:
        index: Dict[str, Tool] = {}
        for item in tools:
            if isinstance(item, Mapping):
                continue  # a provider-run tool (MCP, web search): nothing to run here
            t = as_tool(item)
            if t.name in index:
                raise ValueError(f"duplicate tool name {t.name!r}")
            index[t.name] = t
        return index

    def update_tools(self, tools: Sequence[Any]) -> None:
        """Replace the tool set; calls already running keep the tool they started with."""
        index = self._index(tools)
        with self._lock:
            self._tools = index

    def submit(self, call_id: str, name: str, arguments: str) -> None:
        """Start running a call; returns at once and never raises.

        After :meth:`close` the call is ignored (logged at debug level).
        """
        call = _Call(0, call_id, name, arguments)
        try:
            with self._lock:
                if self._closed:
                    logger.debug("tool call %s (%s) ignored: the tool runner is closed", call_id, name)
                    return
                with _numbers_lock:
                    call.n = next(_thread_numbers)
                runner = threading.Thread(target=self._run, args=(call,), name=f"realtime-tool-{call.n}",
                                          daemon=True)
                self._runners[runner] = call.wake
                runner.start()  # under the lock, so close() never joins an unstarted thread
        except Exception as exc:
            logger.error("could not start a thread for tool call %s (%s): %s", call_id, name, exc)
            with self._lock:
                self._runners = {t: e for t, e in self._runners.items() if t.is_alive()}
            self._deliver(_error_outcome(call, f"the client could not run tool {name!r}"))

    def close(self, timeout: float = 1.0) -> None:
        """Stop accepting calls and join the runner threads within ``timeout`` seconds.

        Calls still running at the deadline are abandoned: each still reports an error
        outcome, and a handler that keeps running is left behind as a daemon thread (logged).
        Idempotent.
        """
        with self._lock:
            self._closed = True
            runners = dict(self._runners)
        deadline = time.monotonic() + max(0.0, timeout)
        me = threading.current_thread()
        for runner in runners:
            if runner is not me:
                runner.join(max(0.0, deadline - time.monotonic()))
        late = [r for r in runners if r.is_alive() and r is not me]
        for runner in late:
            runners[runner].set()  # stop waiting for the handler; the call reports "abandoned"
        grace = time.monotonic() + 0.5  # delivering the "abandoned" outcome is quick
        for runner in late:
            runner.join(max(0.0, grace - time.monotonic()))
            if runner.is_alive():
                logger.warning("tool runner thread %s is still running after close()", runner.name)
        with self._lock:
            hung = self._handlers = [h for h in self._handlers if h.is_alive()]
        for handler in hung:
            if handler is not me:  # a handler that called disconnect() itself is still in its call
                logger.warning("tool handler thread %s is still running; it was abandoned", handler.name)

    # -- per call, on the runner thread --

    def _run(self, call: _Call) -> None:
        try:
            outcome = self._execute(call)
        except _CallFailed as exc:
            outcome = _error_outcome(call, str(exc))
        except Exception as exc:  # a bug of ours; the model must still get an answer
            logger.exception("tool call %s (%s) failed inside the runner", call.call_id, call.name)
            outcome = _error_outcome(call, f"internal error: {type(exc).__name__}")
        self._deliver(outcome)
        with self._lock:
            self._runners.pop(threading.current_thread(), None)

    def _deliver(self, outcome: ToolOutcome) -> None:
        try:
            self._on_result(outcome)
        except Exception:
            logger.exception("on_result failed for tool call %s (%s)", outcome.call_id, outcome.name)

    def _execute(self, call: _Call) -> ToolOutcome:
        name = call.name
        with self._lock:
            found = self._tools.get(name)
            known = ", ".join(sorted(self._tools)) or "none"
        call.parsed = _parse_arguments(call.arguments)
        if found is None:
            raise _CallFailed(f"unknown tool {name!r}; available tools: {known}")
        if not isinstance(call.parsed, dict):
            kind = _json_kind(call.parsed)
            raise _CallFailed(f"arguments for tool {name!r} must be a JSON object, got {kind}")
        if found.handler is None:
            raise _CallFailed(f"tool {name!r} has no handler")
        kwargs = _bind(found, call.parsed)
        timeout = found.timeout if found.timeout is not None else self._default_timeout
        box: Dict[str, Any] = {}
        worker = threading.Thread(target=_work, args=(found.handler, kwargs, timeout, box, call.wake),
                                  name=f"realtime-tool-{call.n}-handler", daemon=True)
        with self._lock:
            self._handlers = [h for h in self._handlers if h.is_alive()]
            self._handlers.append(worker)
        worker.start()
        # A coroutine is cancelled at its own deadline; the grace lets that finish its thread cleanly.
        call.wake.wait(timeout + (1.0 if inspect.iscoroutinefunction(found.handler) else 0.0))
        if "exc" in box:
            exc = box["exc"]
            if isinstance(exc, _HandlerTimedOut):
                logger.warning("%s; it was cancelled", _timeout_message(name, timeout))
                raise _CallFailed(_timeout_message(name, timeout))
            logger.warning("tool %r (call %s) raised %s", name, call.call_id, type(exc).__name__,
                           exc_info=(type(exc), exc, exc.__traceback__))
            raise _CallFailed(f"{type(exc).__name__}: {exc}")
        if "value" not in box:
            if call.wake.is_set():
                raise _CallFailed(f"tool {name!r} was abandoned because the client closed")
            logger.warning("%s; its handler thread is abandoned", _timeout_message(name, timeout))
            raise _CallFailed(_timeout_message(name, timeout))
        value = box["value"]
        if isinstance(value, str):
            return ToolOutcome(call.call_id, name, call.parsed, value, value)
        try:
            result = json.dumps(value, default=str, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _CallFailed(f"tool {name!r} returned a result that is not JSON-serializable "
                              f"({type(value).__name__}: {exc})") from exc
        return ToolOutcome(call.call_id, name, call.parsed, value, result)


def _work(handler: Callable[..., Any], kwargs: Dict[str, Any], timeout: float,
          box: Dict[str, Any], done: threading.Event) -> None:
    """The handler thread: run the handler, leave its value or exception in ``box``."""
    try:
        value = handler(**kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_bounded(value, timeout))
        box["value"] = value
    except BaseException as exc:  # reported to the model, never re-raised
        box["exc"] = exc
    finally:
        done.set()


async def _bounded(awaitable: Any, timeout: float) -> Any:
    # Like asyncio.wait_for, but a timeout is distinguishable from a TimeoutError the handler raised.
    task = asyncio.ensure_future(awaitable)
    finished, _ = await asyncio.wait({task}, timeout=timeout)
    if not finished:
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
        raise _HandlerTimedOut()
    return task.result()


def _parse_arguments(arguments: Any) -> Any:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        return json.loads(arguments)
    except (TypeError, ValueError) as exc:
        raise _CallFailed(f"arguments are not valid JSON ({exc})") from exc


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _bind(found: Tool, args: Dict[str, Any]) -> Dict[str, Any]:
    """Check ``args`` against the handler's signature and convert Enum-typed values."""
    handler = found.handler
    try:
        sig = inspect.signature(handler)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return args  # no introspectable signature: let the call itself decide
    params = sig.parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    keyword_ok = {k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unexpected = [] if takes_any else [k for k in args if k not in keyword_ok]
    missing = [k for k in keyword_ok if params[k].default is params[k].empty and k not in args]
    problems = []
    if missing:
        problems.append("missing required argument(s): " + ", ".join(repr(k) for k in missing))
    if unexpected:
        problems.append("unexpected argument(s): " + ", ".join(repr(k) for k in unexpected))
    if problems:
        raise _CallFailed(f"bad arguments for tool {found.name!r}: " + "; ".join(problems))
    try:
        return coerce_arguments(handler, args)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _CallFailed(f"tool {found.name!r}: {exc}") from exc


def _error_outcome(call: _Call, message: str) -> ToolOutcome:
    return ToolOutcome(call.call_id, call.name, call.parsed, None, json.dumps({"error": message}), message)


def _timeout_message(name: str, timeout: float) -> str:
    return f"tool {name!r} timed out after {timeout:g} s"
