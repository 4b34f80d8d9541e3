"""What every function's input must be before anything is encoded: valid Unicode, bounded depth.

A JSON text can carry a lone surrogate (``"\\ud83d"``, what ``JSON.stringify`` writes for a
string cut inside an emoji) and Python decodes it into a ``str`` that cannot be encoded as
UTF-8; it would fail deep inside kafka-python or botocore as an "unexpected
UnicodeEncodeError", retried in vain. Values nested thousands deep would exhaust Python's
recursion in the JSON encoder or fastavro the same way. Both are the input's fault, so the
boundary checks them first, with an iterative walk that no depth can exhaust, and names the
field: ``'message.value.note'``, ``'headers.x-trace'``, ``'items[3]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka_connector.errors import ConnectorInputError
from kafka_connector.limits import MAX_NESTING_DEPTH


def shown(text: str) -> str:
    """``text`` safe to put in a message: anything UTF-8 cannot carry is backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid_text(path: str) -> ConnectorInputError:
    return ConnectorInputError(
        f"'{path}' is not valid Unicode text: it holds a lone surrogate (such as \\ud83d,"
        " a string cut inside an emoji)",
        "Send text that is valid UTF-8; cut strings at character boundaries.",
    )


def check_input(value: object, root: str = "") -> None:
    """Raise :class:`ConnectorInputError` for the first field that is not valid text or nests too deep.

    ``root`` prefixes the field names (``""`` for a whole payload). Object keys are checked
    like values, since they become header names, Avro field names or JSON text. A field's
    name is only spelt out for the error: the walk keeps a link to each node's parent and
    key instead, so a 1,000-message batch costs one pass and no strings.
    """
    stack: list[tuple[Any, _Link, int]] = [(value, None, 0)]
    while stack:
        node, link, depth = stack.pop()
        kind = type(node)
        if kind is str or (kind is not dict and kind is not list and isinstance(node, str)):
            if not node.isascii() and not is_valid_text(node):
                raise _invalid_text(_path(root, link) or "input")
            continue
        is_mapping = kind is dict or (kind is not list and isinstance(node, Mapping))
        if not is_mapping and not isinstance(node, list):
            continue
        if depth >= MAX_NESTING_DEPTH:
            raise ConnectorInputError(
                f"'{_path(root, link) or 'input'}' nests deeper than {MAX_NESTING_DEPTH} levels",
                "Flatten the value: no Kafka record or workflow payload needs this depth.",
            )
        if is_mapping:
            for key, item in node.items():
                name = key if type(key) is str else str(key)
                if not name.isascii() and not is_valid_text(name):
                    raise _invalid_text(_path(root, (link, name)))
                stack.append((item, (link, name), depth + 1))
        else:
            stack.extend((item, (link, index), depth + 1) for index, item in enumerate(node))


#: A node's place: ``(parent's link, key or index)``, ``None`` for the root.
_Link = tuple[Any, str | int] | None


def _path(root: str, link: _Link) -> str:
    """The field name of the node at ``link``: ``message.value.note``, ``items[3]``."""
    parts: list[str | int] = []
    while link is not None:
        link, part = link
        parts.append(part)
    path = root
    for part in reversed(parts):
        if isinstance(part, int):
            path = f"{path}[{part}]"
        else:
            path = f"{path}.{shown(part)}" if path else shown(part)
    return path
