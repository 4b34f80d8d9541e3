"""Target addresses: ``topic``, ``topic/key`` and ``topic#partition``.

The format is the Kafka target address users know from the reference connection
document. The first separator decides what follows it, so ``orders/a#1`` has the key
``a#1`` and ``orders#1/a`` is a bad partition, never both a key and a partition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kafka_connector.errors import ConnectorInputError
from kafka_connector.redaction import shown

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_SEPARATOR = re.compile(r"[/#]")


@dataclass(frozen=True, slots=True)
class TargetAddress:
    topic: str
    key: str | None = None
    partition: int | None = None


def validate_topic_name(name: object, field: str) -> str:
    """Kafka's own topic name rule: 1–249 of ``[A-Za-z0-9._-]``, and not ``.`` or ``..``."""
    if not isinstance(name, str) or not name:
        raise ConnectorInputError(f"'{field}' is required: the topic name")
    if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
        raise ConnectorInputError(
            f"'{field}' is not a valid topic name: {shown(name, 300)}",
            "Topic names are 1-249 characters of letters, digits, '.', '_' and '-', and not '.' or '..'.",
        )
    return name


def parse_address(address: object, field: str = "address") -> TargetAddress:
    """Split a target address into topic and, at most one of, key or partition."""
    if not isinstance(address, str) or not address:
        raise ConnectorInputError(
            f"'{field}' must be a non-empty string such as 'orders', 'orders/key' or 'orders#0'"
        )
    match = _SEPARATOR.search(address)
    if match is None:
        return TargetAddress(validate_topic_name(address, field))
    topic = validate_topic_name(address[: match.start()], field)
    rest = address[match.end() :]
    if match.group() == "/":
        if not rest:
            raise ConnectorInputError(f"'{field}' has an empty key after '/': {shown(address, 300)}")
        return TargetAddress(topic, key=rest)
    if not rest.isascii() or not rest.isdigit():
        raise ConnectorInputError(
            f"'{field}' needs a non-negative integer partition after '#': {shown(address, 300)}",
        )
    return TargetAddress(topic, partition=int(rest))
