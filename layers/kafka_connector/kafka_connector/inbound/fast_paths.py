"""Fast paths: plain JSONata paths and path-vs-literal comparisons, answered in Python.

Most connector expressions are a path (``value.orderId``, ``key``) or a path compared with a
literal (``value.amount > 10``, ``(value.itemId = "a4f6j2")``). For those, walking the dict
in Python is several times cheaper than a call into the engine, and that is per record per
expression. A fast path answers only when the answer is certain; anything else (arrays,
whose JSONata semantics map and flatten; mixed types, where JSONata raises; string ordering,
where JavaScript compares UTF-16 units) returns FALLBACK and the engine decides.
tests/unit/test_expressions.py checks the two agree on generated data.

:func:`exact_path` is the one place that differs from the engine on purpose: for
correlation keys and message ids it gives what a plain path selects exactly as the record
holds it — an integer of any size exact, where the engine rounds it to a double.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

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


def _body(text: str) -> str:
    body = text.strip()
    while body.startswith("(") and body.endswith(")") and body.count("(") == 1 and body.count(")") == 1:
        body = body[1:-1].strip()
    return body


def exact_path(text: str) -> Callable[[Any], Any] | None:
    """For a plain path: what it selects, exactly as the record holds it (``None`` when undefined).

    The engine's numbers are doubles: ``1234567890123456789`` comes back as
    ``1234567890123456768``, and two ids that differ in their last digits would correlate
    or be named alike. A key is text compared for equality, so it must be the record's own
    value. Arrays along the path are JSONata's to map and flatten: FALLBACK.
    """
    body = _body(text)
    segments = _segments(body) if _PATH.fullmatch(body) else None
    if segments is None:
        return None

    def path(data: Any) -> Any:
        found = _walk(data, segments)
        return None if found is _UNDEFINED else found

    return path


def fast_path(text: str) -> Callable[[Any], Any] | None:
    """A Python evaluator for ``text`` when it is a plain path or path-vs-literal comparison."""
    body = _body(text)
    if _PATH.fullmatch(body):
        segments = _segments(body)
        if segments is None:
            return None

        def path(data: Any) -> Any:
            found = _walk(data, segments)
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
