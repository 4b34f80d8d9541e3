"""Credentials: the defaults, the key material authentication secrets hold, their registration.

Every credential in a property set is registered with redaction before anything can quote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.kafka.jaas import JaasSyntaxError, parse_jaas
from kafka_connector.kafka.tls import check_certificates, check_key_pair
from kafka_connector.kafka.vocabulary import Role
from kafka_connector.secrets import is_secret_id, secret_document


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


#: The secret shapes the event source mapping reads (docs/payloads.md#client-properties):
#: ``CLIENT_CERTIFICATE_TLS_AUTH`` and ``SERVER_ROOT_CA_CERTIFICATE``. One secret serves both.
CLIENT_CERTIFICATE_FIELDS = ("certificate", "privateKey")
ROOT_CA_FIELD = "certificate"


def _secret_name(authentication: Mapping[str, Any], field: str) -> str | None:
    value = authentication.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConnectorInputError(f"'authentication.{field}' must be a secret name or ARN")
    # Anything but a secret's name or ARN — a certificate or key pasted in place of its name — is
    # refused without being quoted.
    if not is_secret_id(value.strip()):
        redaction.register([value])
        raise ConnectorInputError(
            f"'authentication.{field}' must be the name or ARN of a Secrets Manager secret,"
            " not its contents (the value given is not shown)"
        )
    return value.strip()


def _document(name: str, field: str, shape: str) -> Mapping[str, Any]:
    document = secret_document(name)
    if document is None:
        raise ConnectorInputError(
            f"'authentication.{field}': secret '{name}' must hold a JSON object {shape}"
        )
    return document


def client_certificate_properties(authentication: Mapping[str, Any]) -> dict[str, str]:
    """``{"type": "mtls", "secret": …}`` → Kafka's PEM keystore properties, from Secrets Manager.

    The secret has the event source mapping's ``CLIENT_CERTIFICATE_TLS_AUTH`` shape, so one
    secret serves the producer and the mapping: ``certificate`` (the client certificate,
    then any intermediates), ``privateKey`` (PEM, PKCS#8 or traditional) and an optional
    ``privateKeyPassword``. The pair is loaded once here so that a broken secret is an input
    error naming the secret; :mod:`.tls` builds the client's context from the properties.
    """
    name = _secret_name(authentication, "secret")
    if name is None:
        raise ConnectorInputError(
            "'authentication.secret' is required with type 'mtls': the name or ARN of a secret"
            ' {"certificate": "<PEM chain>", "privateKey": "<PEM>"}'
        )
    shape = '{"certificate": "<PEM chain>", "privateKey": "<PEM>", "privateKeyPassword": "<optional>"}'
    document = _document(name, "secret", shape)
    texts: dict[str, str] = {}
    for field in (*CLIENT_CERTIFICATE_FIELDS, "privateKeyPassword"):
        value = document.get(field)
        if value is not None and not isinstance(value, str):
            raise ConnectorInputError(
                f"'authentication.secret': secret '{name}' field '{field}' must be text"
            )
        texts[field] = (value or "").strip()
    missing = [field for field in CLIENT_CERTIFICATE_FIELDS if not texts[field]]
    if missing:
        raise ConnectorInputError(
            f"'authentication.secret': secret '{name}' has no {' or '.join(repr(m) for m in missing)}: "
            f"it must be {shape}"
        )
    # Before anything can fail on them: the key whole and line by line, and its password.
    redaction.register_credentials(
        {"ssl.keystore.key": texts["privateKey"], "ssl.key.password": texts["privateKeyPassword"]}
    )
    check_key_pair(
        texts["certificate"],
        texts["privateKey"],
        texts["privateKeyPassword"],
        f"'authentication.secret': secret '{name}' does not hold a usable key pair: 'certificate' must be"
        " the PEM client certificate (then its intermediates), 'privateKey' its PEM private key, and"
        " 'privateKeyPassword' must open the key if it is encrypted",
    )
    properties = {
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": texts["certificate"],
        "ssl.keystore.key": texts["privateKey"],
    }
    if texts["privateKeyPassword"]:
        properties["ssl.key.password"] = texts["privateKeyPassword"]
    return properties


def root_ca_properties(authentication: Mapping[str, Any]) -> dict[str, str]:
    """``authentication.serverRootCaSecret`` → Kafka's PEM truststore properties.

    The secret has the mapping's ``SERVER_ROOT_CA_CERTIFICATE`` shape, ``{"certificate":
    "<PEM>"}`` (one or more CA certificates): the broker's certificate must chain to it
    instead of to the system's CAs. Nothing without the field.
    """
    name = _secret_name(authentication, "serverRootCaSecret")
    if name is None:
        return {}
    document = _document(name, "serverRootCaSecret", '{"certificate": "<PEM>"}')
    pem = document.get(ROOT_CA_FIELD)
    if not isinstance(pem, str) or not pem.strip():
        raise ConnectorInputError(
            f"'authentication.serverRootCaSecret': secret '{name}' has no 'certificate':"
            ' it must be {"certificate": "<PEM>"}'
        )
    check_certificates(
        pem,
        f"'authentication.serverRootCaSecret': the 'certificate' of secret '{name}' is not PEM certificates",
    )
    return {"ssl.truststore.type": "PEM", "ssl.truststore.certificates": pem.strip()}
