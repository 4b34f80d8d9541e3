"""Every credential in a property set, registered with redaction before anything can quote it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from kafka_connector import redaction
from kafka_connector.kafka.jaas import JaasSyntaxError, parse_jaas
from kafka_connector.kafka.vocabulary import Role


def defaults(role: Role, name: str) -> dict[str, str]:
    """The reference connector's "miscellaneous properties" (step 2 of the precedence)."""
    common = {"session.timeout.ms": "45000", "client.dns.lookup": "use_all_dns_ips"}
    if role == "producer":
        return {**common, "acks": "all", "delivery.timeout.ms": "45000"}
    return {
        **common,
        "enable.auto.commit": "false",
        "group.id": f"kafka-inbound-connector-{name}",
        "auto.offset.reset": "latest",
    }


class BadValue(Exception):
    """A converter's complaint, phrased to follow "additional property 'x' …"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def register_secrets(props: Mapping[str, str]) -> None:
    """Register every credential in ``props`` with redaction before anything can quote it."""
    values: list[str] = []
    for key in redaction.SENSITIVE_PROPERTIES & props.keys():
        value = props[key]
        values.append(value)
        if key == "ssl.keystore.key":
            values.extend(_pem_body_lines(value))
    jaas = props.get("sasl.jaas.config")
    if jaas:
        redaction.register_jaas(jaas)
        try:
            login = parse_jaas(jaas)
        except JaasSyntaxError:
            pass  # to_kafka_python reports it; the whole value is registered above
        else:
            values.extend(v for k, v in login.options.items() if _SECRET_OPTION.search(k))
    redaction.register(values)


def _pem_body_lines(pem: str) -> Iterable[str]:
    """The base64 lines of a PEM key, so that even a fragment of it is masked."""
    return (line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----"))
