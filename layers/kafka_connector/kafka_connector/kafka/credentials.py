"""Every credential in a property set, registered with redaction before anything can quote it."""

from __future__ import annotations

import re
from collections.abc import Mapping

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


_SECRET_OPTION = re.compile(r"pass|secret|token|key|user", re.IGNORECASE)


def register_secrets(props: Mapping[str, str]) -> None:
    """Register every credential in ``props`` with redaction before anything can quote it.

    The credential properties whole, the username and password inside ``sasl.jaas.config``
    (as written, and as Kafka's JAAS parser reads them), both halves of
    ``basic.auth.user.info``, and each base64 line of a PEM key, so that even a fragment of
    it is masked.
    """
    redaction.register_credentials(props)
    values: list[str] = []
    jaas = props.get("sasl.jaas.config")
    if jaas:
        try:
            login = parse_jaas(jaas)
        except JaasSyntaxError:
            pass  # to_kafka_python reports it; the whole value is registered above
        else:
            values.extend(v for k, v in login.options.items() if _SECRET_OPTION.search(k))
    redaction.register(values)
