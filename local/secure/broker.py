"""A secured Kafka endpoint for development and tests: embedded Tansu behind an :class:`AuthProxy`.

Tansu speaks neither TLS nor SASL; the proxy (:mod:`local.secure.proxy`) terminates both and
forwards the rest, and the broker advertises the proxy's address so that every reconnection
goes through it. Modes: ``sasl_ssl`` (TLS + SCRAM-SHA-256, SCRAM-SHA-512, PLAIN),
``sasl_plaintext`` (the same mechanisms without TLS) and ``ssl`` (TLS only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.broker import EmbeddedBroker
from local.net import free_port
from local.secure.pki import Pki
from local.secure.proxy import AuthProxy
from local.secure.sasl import SUPPORTED_MECHANISMS

#: The users every SASL mode accepts. The punctuation proves nothing gets escaped on the way.
USERS: Mapping[str, str] = {"alice": "alice-s3cret", "bob": "b0b:pa ss=,word"}

MODES: Mapping[str, tuple[str, bool, frozenset[str]]] = {
    # mode: (security_protocol, tls, SASL mechanisms)
    "sasl_ssl": ("SASL_SSL", True, SUPPORTED_MECHANISMS),
    "sasl_plaintext": ("SASL_PLAINTEXT", False, SUPPORTED_MECHANISMS),
    "ssl": ("SSL", True, frozenset()),
}


@dataclass(frozen=True)
class SecuredKafka:
    """Where and how to reach one secured broker: everything a client configuration needs."""

    mode: str
    security_protocol: str
    bootstrap: str
    mechanisms: frozenset[str]
    users: Mapping[str, str]
    ca_pem: str | None
    ca_file: str | None
    proxy: AuthProxy = field(repr=False)
    broker: EmbeddedBroker = field(repr=False)

    def client_config(
        self, mechanism: str | None = None, *, user: str = "alice", password: str | None = None
    ) -> dict[str, Any]:
        """kafka-python keyword arguments for this broker (CA as ``ssl_cafile``), minus bootstrap."""
        config: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.ca_file is not None:
            config["ssl_cafile"] = self.ca_file
        if self.mechanisms:
            config.update(
                sasl_mechanism=mechanism or "SCRAM-SHA-256",
                sasl_plain_username=user,
                sasl_plain_password=self.users[user] if password is None else password,
            )
        return config


def start_secured_kafka(
    mode: str, pki: Pki | None, users: Mapping[str, str] = USERS
) -> contextlib.AbstractContextManager[SecuredKafka]:
    """A broker and its proxy for ``mode``; the context manager stops both."""
    security_protocol, tls, mechanisms = MODES[mode]
    if tls and pki is None:
        raise ValueError(f"mode {mode!r} needs a PKI")

    @contextlib.contextmanager
    def running() -> Iterator[SecuredKafka]:
        upstream_port = free_port()
        proxy = AuthProxy(
            ("127.0.0.1", upstream_port),
            tls=pki.server_context() if tls and pki is not None else None,
            users=users if mechanisms else {},
            mechanisms=mechanisms,
            require_sasl=bool(mechanisms),
        )
        # The proxy's port first: the broker must advertise it, so that the clients' reconnections
        # after metadata (to "the leader") come back through the proxy rather than around it.
        with proxy, EmbeddedBroker(port=upstream_port, advertised_port=proxy.port) as broker:
            yield SecuredKafka(
                mode=mode,
                security_protocol=security_protocol,
                bootstrap=proxy.address,
                mechanisms=mechanisms,
                users=users if mechanisms else {},
                ca_pem=pki.ca_pem if tls and pki is not None else None,
                ca_file=str(pki.ca_file) if tls and pki is not None else None,
                proxy=proxy,
                broker=broker,
            )

    return running()
