"""Converters from Kafka property strings to kafka-python values, one per value type.

Each raises :class:`BadValue` with a reason phrased to follow "additional property 'x' …",
so :mod:`.table` can name the property in the user's error.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kafka import codec
from kafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

from kafka_connector.kafka.credentials import BadValue
from kafka_connector.kafka.vocabulary import AWS_MSK_IAM, PLAIN, SCRAM_256, SCRAM_512


@dataclass(frozen=True, slots=True)
class Rule:
    kwarg: str  # key of KafkaProducer/KafkaConsumer.DEFAULT_CONFIG
    convert: Callable[[str], Any]
    roles: frozenset[str]


_INTEGER = re.compile(r"[+-]?\d+")


def integer(minimum: int = 0) -> Callable[[str], int]:
    def convert(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip()):
            raise BadValue("must be an integer")
        number = int(text)
        if number < minimum:
            raise BadValue(f"must be an integer >= {minimum}")
        return number

    return convert


def buffer_bytes(text: str) -> int | None:
    """Socket buffer sizes: Kafka's ``-1`` ("use the OS default") is kafka-python's ``None``."""
    number = integer(minimum=-1)(text)
    return None if number == -1 else number


def boolean(text: str) -> bool:
    folded = text.strip().lower()
    if folded not in {"true", "false"}:
        raise BadValue("must be true or false")
    return folded == "true"


def as_text(text: str) -> str:
    return text


def optional_text(text: str) -> str | None:
    """Kafka's "null" default for ids such as ``transactional.id`` is an empty value."""
    return text if text.strip() else None


def choice(options: Mapping[str, Any], fold: Callable[[str], str] = str.lower) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        folded = fold(text.strip())
        if folded not in options:
            raise BadValue("must be one of " + ", ".join(repr(option) for option in options))
        return options[folded]

    return convert


ACKS: Final = choice({"all": -1, "-1": -1, "0": 0, "1": 1})
SECURITY_PROTOCOL: Final = choice(
    {p: p for p in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")}, fold=str.upper
)
# OAUTHBEARER is left out on purpose: kafka-python needs a token provider object that no
# Kafka property can describe, so accepting it would only fail later at connection time.
SASL_MECHANISM: Final = choice(
    {m: m for m in (PLAIN, SCRAM_256, SCRAM_512, AWS_MSK_IAM, "GSSAPI")}, fold=str.upper
)
_CODECS: Final[dict[str, Callable[[], bool]]] = {
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}


def compression(text: str) -> str | None:
    """``none`` is ``None``; a codec whose Python library is missing fails now, not at first send."""
    name: str | None = choice({"none": None, **{c: c for c in _CODECS}})(text)
    if name is not None and not _CODECS[name]():
        raise BadValue(f"is {name!r}, but the Python library for {name} is not installed")
    return name


_SERVER = re.compile(r"(?:[A-Za-z_]+://)?((?:\[[0-9A-Fa-f:.]+\]|[^\s\[\]/:,]+):\d{1,5})")


def server_list(text: str) -> list[str]:
    """``bootstrap.servers`` as kafka-python's list of ``host:port`` (a ``SASL_SSL://`` prefix is dropped)."""
    servers = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _SERVER.fullmatch(entry)
        if match is None:
            raise BadValue("must be a comma-separated list of host:port")
        servers.append(match.group(1))
    if not servers:
        raise BadValue("must name at least one host:port")
    return servers


def hostname_check(text: str) -> bool:
    """``ssl.endpoint.identification.algorithm``: ``https`` verifies the host name, empty does not."""
    folded = text.strip().lower()
    if folded not in {"", "https"}:
        raise BadValue("must be 'https' or empty")
    return folded == "https"


def _openssl_cipher_name(name: str) -> str:
    """A Java/IANA suite name (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``) as OpenSSL spells it."""
    if not name.startswith("TLS_") or "_WITH_" not in name:
        return name  # already an OpenSSL name
    exchange, _, cipher = name[4:].partition("_WITH_")
    cipher = cipher.replace("AES_128", "AES128").replace("AES_256", "AES256").replace("_CBC", "")
    cipher = cipher.replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305").replace("_", "-")
    return cipher if exchange == "RSA" else f"{exchange.replace('_', '-')}-{cipher}"


def cipher_suites(text: str) -> str | None:
    """``ssl.cipher.suites`` (comma-separated Java names) as an OpenSSL cipher string.

    TLS 1.3 suites (``TLS_AES_128_GCM_SHA256``) are dropped: OpenSSL always offers them
    and Python cannot restrict them. A list OpenSSL cannot use at all fails here.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    tls12 = [_openssl_cipher_name(n) for n in names if not (n.startswith("TLS_") and "_WITH_" not in n)]
    if not tls12:
        return None
    ciphers = ":".join(tls12)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(ciphers)
    except ssl.SSLError:
        raise BadValue("names no cipher suite that this Python's OpenSSL supports") from None
    return ciphers


_ASSIGNORS: Final[dict[str, type[AbstractPartitionAssignor]]] = {
    "rangeassignor": RangePartitionAssignor,
    "range": RangePartitionAssignor,
    "roundrobinassignor": RoundRobinPartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
    "stickyassignor": StickyPartitionAssignor,
    "sticky": StickyPartitionAssignor,
    "cooperativestickyassignor": CooperativeStickyAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}
_JAVA_ASSIGNOR_PACKAGE: Final = "org.apache.kafka.clients.consumer."


def assignors(text: str) -> tuple[type[AbstractPartitionAssignor], ...]:
    """Java assignor class names (or kafka-python's short names) as kafka-python assignor classes.

    Java's own default, ``RangeAssignor,CooperativeStickyAssignor``, runs the EAGER protocol
    (the one every listed assignor supports). kafka-python refuses such a mix outright,
    so the cooperative entry is dropped to get Java's effective behaviour.
    """
    chosen: list[type[AbstractPartitionAssignor]] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        package, _, simple = entry.rpartition(".")
        assignor = _ASSIGNORS.get(simple.lower()) if package + "." in {".", _JAVA_ASSIGNOR_PACKAGE} else None
        if assignor is None:
            raise BadValue(
                "must list assignors kafka-python has: RangeAssignor, RoundRobinAssignor, "
                "StickyAssignor, CooperativeStickyAssignor"
            )
        if assignor not in chosen:
            chosen.append(assignor)
    if not chosen:
        raise BadValue("must name at least one assignor")
    eager = [a for a in chosen if a is not CooperativeStickyAssignor]
    return tuple(eager or chosen)
