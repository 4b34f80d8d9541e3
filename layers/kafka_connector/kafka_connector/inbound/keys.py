"""The correlation table's key scheme: which item and which attribute a message or a waiter uses.

Every name is a hash of what it stands for, so any text (a task token of kilobytes, a
message id with ``#`` in it) makes a valid, fixed-length DynamoDB name; the subscribe
function, the consumer and a state machine subscribing directly (``States.Hash``) all
compute the same one. See docs/correlation-table.md.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

SUBSCRIPTION_PREFIX = "sub_"
MESSAGE_PREFIX = "msg_"
BODY_PREFIX = "msg#"


def correlation_key_text(value: Any) -> str:
    """The correlation key as stored: one text on both sides (docs/correlation-table.md#correlation-keys).

    A string is itself. Any other JSON value is its *canonical* compact JSON, so that the same
    JSON value is the same key whatever its spelling and whichever side read it:

    * a number with an integer value is its exact decimal integer: ``1``, ``1.0``, ``1e0`` and
      ``10E-1`` are all ``1``, ``-0`` is ``0``, ``1e21`` is ``1000000000000000000000``, and
      ``1234567890123456789`` stays exactly that (as long as it reaches here as an integer:
      the consumer evaluates a plain path key without the engine's doubles);
    * any other number is the shortest text that reads back as the same double, written as
      JavaScript writes it (``0.1``, ``-2.5``, ``1e-7``);
    * ``true``, ``false``; arrays in order; objects with their members sorted by name;
      no blanks, non-ASCII kept;
    * ``NaN``/``Infinity`` (which records may hold and the consumer reads as text) are the
      strings ``NaN``, ``Infinity``, ``-Infinity``.

    Cheap for the usual keys: a string is returned at once, an int is ``str()``.
    """
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return _canonical(value)


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, Mapping):
        members = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_string(k)}:{_canonical_json(v)}" for k, v in members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical_json(v) for v in value) + "]"
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def _canonical_json(value: Any) -> str:
    """Inside an array or object a string is JSON text (quoted); everything else as at the top."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _string(_number_text(value))
    return _canonical(value)


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _number_text(value: float) -> str:
    """A double as canonical key text: an integer exactly, else ECMAScript's ``Number::toString``."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value.is_integer():
        return str(int(value))
    # repr() gives the shortest digits that read back as the same double ("1.5e-07",
    # "0.001"); they are laid out again the way JavaScript does: value = 0.DIGITS × 10**point.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(significant))
    digits = significant.rstrip("0")
    if 0 < point <= 21:
        text = digits[:point].ljust(point, "0") + ("." + digits[point:] if len(digits) > point else "")
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        power = point - 1
        text = (
            digits[0]
            + ("." + digits[1:] if len(digits) > 1 else "")
            + f"e{'+' if power > 0 else '-'}{abs(power)}"
        )
    return ("-" if value < 0 else "") + text


def head_key(message_name: str, correlation_key: str) -> str:
    return f"{message_name}#{correlation_key}"


def subscription_attribute(task_token: str) -> str:
    return SUBSCRIPTION_PREFIX + hashlib.sha256(task_token.encode()).hexdigest()


def message_attribute(message_id: str) -> str:
    return MESSAGE_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()


def body_key(head: str, message_id: str) -> str:
    return BODY_PREFIX + hashlib.sha256(json.dumps([head, message_id]).encode()).hexdigest()
