"""Keys, JSON values and headers as the bytes a Kafka record carries; decoded values as strict JSON."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from kafka_connector.errors import ConnectorInputError


def to_json_text(value: Any) -> str:
    """Compact JSON, non-ASCII kept as UTF-8: the text form of any non-string value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def strict_json_text(value: Any, field: str) -> str:
    """:func:`to_json_text` for what the producer publishes: strict JSON, or an error naming ``field``.

    Python's ``json`` reads and writes ``NaN`` and ``Infinity``, which no other JSON parser
    accepts; a record holding them could not be read by its consumers.
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ConnectorInputError(
            f"'{field}' holds NaN or Infinity, which JSON cannot represent",
            "Send a number, null or a string instead.",
        ) from None


def encode_key(key: Any, field: str = "message.key") -> bytes | None:
    """A string key as is, any other JSON value as its JSON text, no key as ``None``.

    ``None`` never becomes the text ``null``: a record without a key is partitioned
    round-robin, one with the key ``"null"`` always lands on the same partition.
    """
    if key is None:
        return None
    return (key if isinstance(key, str) else strict_json_text(key, field)).encode()


def encode_json_value(value: Any, field: str = "message.value") -> bytes:
    """A string value as UTF-8, anything else as compact (strict) JSON text."""
    return (value if isinstance(value, str) else strict_json_text(value, field)).encode()


def encode_headers(headers: object, field: str = "headers") -> list[tuple[str, bytes]]:
    """Headers as UTF-8 strings only, as the reference connector documents."""
    if headers is None:
        return []
    if not isinstance(headers, Mapping):
        raise ConnectorInputError(f"'{field}' must be an object of string values")
    encoded = []
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ConnectorInputError(
                f"'{field}.{name}' must be a string: only UTF-8 string header values are supported"
            )
        encoded.append((str(name), value.encode()))
    return encoded


#: How a number JSON cannot hold is written in strict JSON: as the text Python's ``json``
#: and Java's Jackson write for it (docs/payloads.md#the-message).
NON_FINITE_TEXT = {"NaN": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def non_finite_text(value: float) -> str:
    """``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` for a float that is not finite."""
    return NON_FINITE_TEXT["NaN" if math.isnan(value) else repr(value)]


def json_compatible(value: Any) -> Any:
    """``value`` made of JSON types only, so that strict JSON can always be written from it.

    Avro values decode to more than JSON has (fastavro): ``bytes`` and ``fixed`` become
    base64 text, ``decimal`` its exact decimal text, ``date``/``time``/``timestamp-*`` ISO
    8601 text, ``uuid`` its text; and a float that is not finite (Avro ``NaN``, or a JSON
    number beyond a double such as ``1e400``) ``"NaN"``/``"Infinity"``/``"-Infinity"``.
    Containers are rebuilt; scalars of JSON types are kept. Recursive: callers bound the
    depth (a decoded value's depth is bounded by the decoder's own recursion).
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else non_finite_text(value)
    if kind is dict or isinstance(value, Mapping):
        return {str(k): json_compatible(v) for k, v in value.items()}
    if kind is list or isinstance(value, list | tuple):
        return [json_compatible(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        if value.is_finite():
            return str(value)
        return "NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | float):  # subclasses (an IntEnum, numpy-like scalars)
        return json_compatible(float(value) if isinstance(value, float) else int(value))
    raise TypeError(f"a {kind.__name__} value has no JSON form")
