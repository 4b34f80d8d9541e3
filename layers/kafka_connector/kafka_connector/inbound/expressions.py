"""JSONata expressions of the consumer: activation conditions, correlation keys, message ids, results.

Users write them the way the reference connector documents them, ``=value.correlationKey``
or ``=(value.itemId = "a4f6j2")``, or wrapped the Step Functions way, ``{% key %}``; the
marker is stripped and the rest is JSONata (docs/payloads.md#expressions).

The engine is jsonatapy (Rust). ``bench/jsonata_conformance.py`` runs the official JSONata
test suite through it and through jsonata-python: 1672 of 1675 cases against 1608, the
three misses being an error raised with another code, and 50-80x the speed on the
connector's own expressions. Two properties of jsonatapy shape this module:

* A compiled jsonatapy expression is a PyO3 *unsendable* object: calling it from any
  thread but the one that compiled it raises ``pyo3_runtime.PanicException`` (a
  ``BaseException``, so it escapes ``except Exception``), and dropping it on another
  thread leaks it. :class:`Expression` therefore holds only text; the compiled objects
  live in a per-thread cache, created, used and dropped by one thread. Compiling costs
  about 2 µs, so a thread that meets an expression for the first time hardly notices.
* It evaluates plain paths without copying the input, and its results may *be* parts of
  the input (``$`` returns the very dict it was given): callers must not mutate a result
  they do not own.

A syntax error is the deployer's mistake and surfaces at cold start as
:class:`~kafka_connector.errors.ConnectorInputError`; an error while evaluating is the
record's, raised as :class:`ExpressionError`, so the consumer can dead-letter that record
and go on with the partition.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable
from typing import Any, Final

import jsonatapy

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import PermanentRecordError
from kafka_connector.inbound.fast_paths import FALLBACK, exact_path, fast_path

#: Wall-clock bound of one evaluation. A non-terminating expression then fails the record
#: (JSONata code D1012) instead of running the function into its timeout, which would
#: retry the same batch for ever and block the partition.
EVALUATION_TIMEOUT_MS: Final = 2_000

#: Distinct expressions kept compiled, per thread and as :class:`Expression` objects. Each
#: subscription may bring its own activation condition, so this bounds memory, not use.
CACHE_SIZE: Final = 512

_WRAPPED = re.compile(r"\{%(.*)%\}", re.DOTALL)
_CODE = re.compile(r"\b([STDU]\d{4})\b")
_INT64 = (-(2**63), 2**63 - 1)


class ExpressionError(PermanentRecordError):
    """An expression failed on one message (``$number("x")``, an unknown function, a timeout).

    The configuration is fine (it compiled), so the message is what cannot be processed:
    the consumer treats this as that record's permanent error. ``code`` is JSONata's
    error code when the engine gave one (``D3030``).
    """

    error = "ExpressionError"

    def __init__(self, name: str, reason: str, code: str | None = None) -> None:
        self.name = name
        self.reason = reason
        self.code = code
        super().__init__(f"{name}: expression failed: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.reason, self.code))


class Expression:
    """A compiled expression, safe to share between threads and to evaluate many times.

    ``source`` is the text as configured (for messages), ``text`` the JSONata actually
    compiled, ``name`` the configuration variable it came from (for error messages).
    """

    __slots__ = ("exact", "fast", "name", "source", "text")

    def __init__(self, source: str, text: str, name: str) -> None:
        self.source = source
        self.text = text
        self.name = name
        self.fast = fast_path(text)
        self.exact = exact_path(text)

    def __repr__(self) -> str:
        return f"Expression({self.name}={self.source!r})"

    def evaluate(self, data: Any) -> Any:
        """The result for ``data`` (JSON-like Python values); JSONata ``undefined`` and ``null`` are ``None``.

        Neither the connector nor Step Functions can tell the two apart in a payload,
        so they are not told apart here either.
        """
        if self.fast is not None:
            result = self.fast(data)
            if result is not FALLBACK:
                return result
        try:
            return _compiled(self.text).evaluate(data)
        except TypeError as error:
            # Python ints are unbounded, the engine's are 64-bit. JSONata numbers are
            # doubles anyway, so such a number is what jsonata-js would see as a float.
            if "too big" not in str(error):
                raise self._failed(error) from None
            try:
                return _compiled(self.text).evaluate(_ints_to_doubles(data))
            except Exception as retry_error:
                raise self._failed(retry_error) from None
        except Exception as error:
            raise self._failed(error) from None
        except BaseException as error:
            # A Rust panic on some input would recur on every retry of the batch; it is
            # that record's error. Anything else (KeyboardInterrupt, SystemExit) goes on.
            if type(error).__name__ != "PanicException":
                raise
            raise self._failed(error) from None

    def evaluate_key(self, data: Any) -> Any:
        """:meth:`evaluate` for a correlation key or a message id: a plain path selects the value exactly.

        ``value.orderId`` on ``{"orderId": 1234567890123456789}`` gives that integer, not the
        engine's double ``1234567890123456768`` (docs/correlation-table.md#correlation-keys).
        Any other expression is the engine's, numbers as doubles, as in jsonata-js.
        """
        if self.exact is not None:
            result = self.exact(data)
            if result is not FALLBACK:
                return result
        return self.evaluate(data)

    def is_true(self, data: Any) -> bool:
        """Whether the result counts as true, by JSONata's own ``$boolean`` rules (see :func:`truthy`)."""
        return truthy(self.evaluate(data))

    def _failed(self, error: BaseException) -> ExpressionError:
        reason = str(error) or type(error).__name__
        match = _CODE.search(reason)
        return ExpressionError(self.name, reason, match.group(1) if match else None)


def truthy(value: Any) -> bool:
    """JSONata's effective boolean value (jsonata-js ``$boolean``), with ``undefined`` as false.

    Activation conditions use the same rule as JSONata's own predicates and ``? :``, so
    an expression behaves alike in the connector and in a JSONata playground. It differs
    from Python's and JavaScript's truthiness on purpose: an empty object ``{}`` is false,
    and an array is true when any member is (``[0, ""]`` is false, ``[]`` too).
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | dict):
        return len(value) > 0
    if isinstance(value, list | tuple):
        # Iterative: a condition may select an array nested thousands deep.
        stack = [iter(value)]
        while stack:
            item = next(stack[-1], _END)
            if item is _END:
                stack.pop()
            elif isinstance(item, list | tuple):
                stack.append(iter(item))
            elif truthy(item):
                return True
        return False
    return False  # functions, regexes: JSONata casts them to false


_END: Any = object()


def strip_markers(source: str) -> str:
    """The JSONata inside ``source``: without a leading ``=`` or a ``{% … %}`` wrapper.

    ``=`` is the reference connector's (FEEL) marker and ``{% %}`` the one Step Functions
    uses for JSONata in state definitions; users will paste both. Neither can begin a
    valid JSONata expression, so stripping them never changes a meaning.
    """
    text = source.strip()
    wrapped = _WRAPPED.fullmatch(text)
    if wrapped:
        return wrapped.group(1).strip()
    if text.startswith("="):
        return text[1:].strip()
    return text


def compile_expression(source: str | None, *, name: str) -> Expression | None:
    """Compile ``source`` (configuration variable ``name``); ``None`` when there is nothing to compile.

    Empty means "not configured": no source, blanks, or a bare ``=`` (what a workflow
    modeler stores for an empty FEEL field). A syntax error raises
    :class:`ConnectorInputError` naming ``name`` and the parser's reason, so a bad
    configuration fails at cold start, before any record is read.
    """
    if source is None:
        return None
    if not isinstance(source, str):
        raise ConnectorInputError(
            f"'{name}' must be a JSONata expression string, not {type(source).__name__}: {source!r}"[:400]
        )
    return _compile_cached(source, name)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_cached(source: str, name: str) -> Expression | None:
    """Expression objects by (source, name): the consumer compiles per-subscription conditions on the fly."""
    text = strip_markers(source)
    if not text:
        return None
    try:
        _compiled(text)  # compiles in this thread, so a syntax error surfaces here
    except ValueError as error:
        raise ConnectorInputError(
            f"'{name}' is not a valid JSONata expression: {error}",
            f"{name}={source[:300]!r}",
        ) from None
    return Expression(source, text, name)


_per_thread = threading.local()


def _compiled(text: str) -> Any:
    """This thread's compiled engine object for ``text`` (see the module docstring for why per thread)."""
    try:
        compile_: Callable[[str], Any] = _per_thread.compile
    except AttributeError:
        compile_ = _per_thread.compile = functools.lru_cache(maxsize=CACHE_SIZE)(_engine_compile)
    return compile_(text)


def _engine_compile(text: str) -> Any:
    return jsonatapy.compile(text, timeout=EVALUATION_TIMEOUT_MS)


def _ints_to_doubles(value: Any) -> Any:
    """``value`` with every integer outside the engine's 64-bit range made a float."""
    if type(value) is int and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    if isinstance(value, dict):
        return {k: _ints_to_doubles(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ints_to_doubles(v) for v in value]
    return value
