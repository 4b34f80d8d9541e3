"""JSONata expressions of the consumer: activation conditions, correlation keys, message ids, results.

Users write them the way the reference connector documents them, ``=value.correlationKey``
or ``=(value.itemId = "a4f6j2")``, or wrapped the Step Functions way, ``{% key %}``; the
marker is stripped and the rest is JSONata (SPEC §4).

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
import json
import math
import re
import threading
from collections.abc import Callable
from typing import Any, Final

import jsonatapy

from kafka_connector.errors import ConnectorInputError

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


class ExpressionError(Exception):
    """An expression failed on one message (``$number("x")``, an unknown function, a timeout).

    The configuration is fine (it compiled), so the message is what cannot be processed:
    the consumer treats this as that record's permanent error.
    """

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

    __slots__ = ("fast", "name", "source", "text")

    def __init__(self, source: str, text: str, name: str) -> None:
        self.source = source
        self.text = text
        self.name = name
        self.fast = fast_path(text)

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
        return any(truthy(item) for item in value)
    return False  # functions, regexes: JSONata casts them to false


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


# -- fast paths ------------------------------------------------------------------------------------
#
# Most connector expressions are a path (``value.orderId``, ``key``) or a path compared with a
# literal (``value.amount > 10``, ``(value.itemId = "a4f6j2")``). For those, walking the dict in
# Python is several times cheaper than a call into the engine, and that is per record per
# expression. A fast path answers only when the answer is certain; anything else (arrays, whose
# JSONata semantics map and flatten; mixed types, where JSONata raises; string ordering, where
# JavaScript compares UTF-16 units) returns FALLBACK and the engine decides. tests/test_expressions.py
# checks the two agree on generated data.

FALLBACK: Any = object()
_UNDEFINED: Any = object()
_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)"
_PATH = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_RESERVED = frozenset({"and", "or", "in", "true", "false", "null"})
_COMPARISON = re.compile(
    rf"(?P<path>{_NAME}(?:\.{_NAME})*)\s*(?P<op>!=|<=|>=|=|<|>)\s*"
    r"""(?P<literal>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|"[^"\\]*"|'[^'\\]*'|true|false|null)"""
)


def _segments(path: str) -> tuple[str, ...] | None:
    """The field names of a dotted path; None when a bare name is a JSONata keyword."""
    raw = re.findall(_NAME, path)
    if any(name in _RESERVED for name in raw):
        return None
    return tuple(name[1:-1] if name.startswith("`") else name for name in raw)


def _walk(data: Any, names: tuple[str, ...]) -> Any:
    current = data
    for name in names:
        if isinstance(current, dict):
            if name not in current:
                return _UNDEFINED
            current = current[name]
        elif isinstance(current, list | tuple):
            return FALLBACK  # JSONata maps a path over arrays
        else:
            return _UNDEFINED  # a path into a scalar selects nothing
    return current


_EXACT_INTEGERS = 2**53  # the integers a JSONata (double) number holds exactly


def _is_number(value: Any) -> bool:
    """A number the engine would see unchanged: not a bool, and an integer within double precision."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_EXACT_INTEGERS <= value <= _EXACT_INTEGERS
    return isinstance(value, float)


def _literal(text: str) -> Any:
    if text[0] in "\"'":
        return text[1:-1]
    return (
        {"true": True, "false": False, "null": None}.get(text, _UNDEFINED)
        if text[0].isalpha()
        else json.loads(text)
    )


def _equal(left: Any, right: Any) -> Any:
    if left is None or right is None:
        return left is right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, int) and not isinstance(left, bool):
        return FALLBACK  # beyond double precision: the engine rounds it first
    if type(left) is type(right) and isinstance(left, str | bool):
        return left == right
    if isinstance(left, dict | list | tuple):
        return FALLBACK  # deep equality: leave it to the engine
    return False  # different types are never equal in JSONata


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def fast_path(text: str) -> Callable[[Any], Any] | None:
    """A Python evaluator for ``text`` when it is a plain path or path-vs-literal comparison."""
    body = text.strip()
    while body.startswith("(") and body.endswith(")") and body.count("(") == 1 and body.count(")") == 1:
        body = body[1:-1].strip()
    if _PATH.fullmatch(body):
        names = _segments(body)
        if names is None:
            return None

        def path(data: Any) -> Any:
            found = _walk(data, names)
            if found is _UNDEFINED:
                return None
            # Strings, integers, booleans and null come back from the engine as they went in;
            # floats (1.0 becomes 1) and containers (the same, inside) are left to it.
            if found is None or type(found) in (str, bool) or (type(found) is int and _is_number(found)):
                return found
            return FALLBACK

        return path
    match = _COMPARISON.fullmatch(body)
    if match is None:
        return None
    names = _segments(match.group("path"))
    literal = _literal(match.group("literal"))
    operator = match.group("op")
    if names is None or literal is _UNDEFINED:
        return None
    if operator not in ("=", "!=") and not _is_number(literal):
        return None  # ordering against a string or a boolean: JSONata's rules are the engine's

    def compare(data: Any) -> Any:
        left = _walk(data, names)
        if left is FALLBACK:
            return FALLBACK
        if operator in ("=", "!="):
            if left is _UNDEFINED:
                return False
            equal = _equal(left, literal)
            return equal if equal is FALLBACK or operator == "=" else not equal
        if left is _UNDEFINED:
            return None  # an ordering with undefined is undefined
        if _is_number(left):
            return _ORDERINGS[operator](left, literal)
        return FALLBACK  # strings (UTF-16 order) and type errors: the engine's call

    return compare
