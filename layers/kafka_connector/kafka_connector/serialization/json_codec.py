"""Keys, JSON values and headers as the bytes a Kafka record carries."""

from __future__ import annotations

import json
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
