"""What a user hands ``python -m local``: event files, ``--env``/``--env-vars``, broker addresses.

Every mistake here is the user's, so it becomes one line naming the file or value and what is
wrong with it (:class:`UsageError`, exit status 2; :class:`Unavailable`, exit status 1, for
something outside the command line, such as a broker that does not answer), never a traceback.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: How long ``KAFKA_BOOTSTRAP_SERVERS`` may take to accept a connection before we say so.
BROKER_CHECK_SECONDS = 3.0


class UsageError(Exception):
    """A mistake on the command line or in a file it names: exit status 2."""

    exit_status = 2


class Unavailable(Exception):
    """Something the command needs does not answer (a broker): exit status 1."""

    exit_status = 1


def read_json_file(path: str, what: str, stdin: IO[str] | None = None) -> Any:
    """The JSON document in ``path`` (``-``: standard input), or a :class:`UsageError` saying why not."""
    if path == "-":
        name, text = "standard input", (stdin or sys.stdin).read()
    else:
        name = path
        file = Path(path)
        if not file.exists():
            raise UsageError(f"{what} {path} does not exist")
        if file.is_dir():
            raise UsageError(f"{what} {path} is a folder, not a JSON file")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(
                f"cannot read {what} {path}: {getattr(error, 'strerror', None) or error}"
            ) from None
    if not text.strip():
        raise UsageError(f"{what} {name} is empty: expected a JSON document")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{what} {name} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None


def parse_env(pairs: Sequence[str], env_file: str | None, function: str, logical_id: str) -> dict[str, str]:
    """``--env NAME=VALUE`` pairs over a SAM-style ``--env-vars`` file.

    The file is ``{"Parameters": {...}}`` for every function and/or ``{"<LogicalId>": {...}}``
    (``ConsumerFunction``) or ``{"<code>": {...}}`` (``consumer``) for one, as ``sam local
    invoke --env-vars`` reads it.
    """
    values: dict[str, str] = {}
    if env_file:
        document = read_json_file(env_file, "--env-vars file")
        if not isinstance(document, Mapping):
            raise UsageError(f"--env-vars file {env_file} must hold an object of objects")
        for key in ("Parameters", function, logical_id):
            section = document.get(key, {})
            if not isinstance(section, Mapping):
                raise UsageError(f"--env-vars file {env_file}: {key!r} must be an object of NAME: value")
            values.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in section.items()})
    return {**values, **env_pairs(pairs)}


def env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``--env NAME=VALUE`` pairs, the last one winning."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise UsageError(f"--env expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def check_brokers(bootstrap: str, source: str, timeout: float = BROKER_CHECK_SECONDS) -> None:
    """Fail fast, naming the address, when no broker of ``bootstrap`` accepts a TCP connection.

    A Kafka client would retry for its whole request timeout and then report a metadata
    timeout without the address; a plain connection attempt says what is wrong in seconds.
    """
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    if not addresses:
        raise UsageError(f"{source} is empty")
    deadline = time.monotonic() + timeout
    reasons = []
    for address in addresses:
        host, separator, port = address.rpartition(":")
        if not separator or not port.isdigit() or not host:
            raise UsageError(f"{source}={bootstrap}: {address!r} is not host:port")
        try:
            remaining = max(0.2, deadline - time.monotonic())
            socket.create_connection((host.strip("[]"), int(port)), timeout=remaining).close()
            return
        except OSError as error:
            reasons.append(f"{address} ({_reason(error)})")
    raise Unavailable(f"cannot reach Kafka at {source}={bootstrap}: {', '.join(reasons)}")


def _reason(error: OSError) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "no answer"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    return error.strerror or type(error).__name__
