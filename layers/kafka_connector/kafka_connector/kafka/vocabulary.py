"""The vocabulary shared by the Kafka property modules: roles, mechanisms, Java class names."""

from __future__ import annotations

import logging
import threading
from typing import Final, Literal, get_args

log = logging.getLogger("kafka_connector.kafka")

Role = Literal["producer", "consumer"]
_ROLES: Final = frozenset(get_args(Role))
BOTH: Final = frozenset({"producer", "consumer"})
PRODUCER: Final = frozenset({"producer"})
CONSUMER: Final = frozenset({"consumer"})

STRING_SERIALIZER: Final = "org.apache.kafka.common.serialization.StringSerializer"
BYTE_ARRAY_SERIALIZER: Final = "org.apache.kafka.common.serialization.ByteArraySerializer"
STRING_DESERIALIZER: Final = "org.apache.kafka.common.serialization.StringDeserializer"
PLAIN_LOGIN_MODULE: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"
IAM_LOGIN_MODULE: Final = "software.amazon.msk.auth.iam.IAMLoginModule"
IAM_CALLBACK_HANDLER: Final = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"

PLAIN: Final = "PLAIN"
SCRAM_256: Final = "SCRAM-SHA-256"
SCRAM_512: Final = "SCRAM-SHA-512"
AWS_MSK_IAM: Final = "AWS_MSK_IAM"
CREDENTIAL_MECHANISMS: Final = frozenset({PLAIN, SCRAM_256, SCRAM_512})

DOCS: Final = "Kafka client properties: https://kafka.apache.org/documentation/#{role}configs"


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` is seen in this process (warm Lambdas log it once)."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def check_role(role: str) -> None:
    if role not in _ROLES:
        raise ValueError(f"role must be 'producer' or 'consumer', not {role!r}")
