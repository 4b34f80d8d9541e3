"""A kafka-python network client that reports bad credentials at once, not after a timeout.

kafka-python 3.0 catches the broker's ``SaslAuthenticationFailedError`` while a
connection initialises and keeps retrying the bootstrap until ``bootstrap_timeout_ms``
expires, then raises ``KafkaTimeoutError`` — so a wrong password would reach a workflow
30 s later as a *retryable* timeout. Its connection manager already has the right
mechanism (a sticky per-node authentication failure that ``get_connection`` raises), but
the failure is popped again because the connection swallowed the error. The manager
below records it once the connect attempt has returned, so the bootstrap fails with the
real error within one round trip. The same is done for a broker certificate the client
does not trust.

This leans on two private names of kafka-python (``_connect``, ``_auth_failures``); the
version is pinned and the authentication tests (tests/test_producer_auth.py) fail if they
change meaning.
"""

from __future__ import annotations

import ssl
from typing import Any

import kafka.errors as kafka_errors
from kafka.net.compat import KafkaNetClient
from kafka.net.manager import KafkaConnectionManager
from kafka.net.selector import NetworkSelector

#: Connection failures that no retry can fix.
AUTHENTICATION_ERRORS = (
    kafka_errors.SaslAuthenticationFailedError,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
    kafka_errors.AuthorizationError,
)


def is_untrusted_certificate(error: BaseException | None) -> bool:
    """kafka-python wraps a failed TLS verification in ``KafkaConnectionError('Handshake failed')``."""
    return isinstance(error, kafka_errors.KafkaConnectionError) and isinstance(
        error.__context__, ssl.SSLCertVerificationError
    )


def fatal_connection_error(error: BaseException | None) -> BaseException | None:
    if isinstance(error, AUTHENTICATION_ERRORS) or is_untrusted_certificate(error):
        return error
    return None


class FailFastConnectionManager(KafkaConnectionManager):
    async def _connect(self, node: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        await super()._connect(node, conn, *args, **kwargs)
        future = conn.init_future
        error = fatal_connection_error(future.exception) if future.failed() else None
        if error is not None:
            self._auth_failures[node.node_id] = error


class ClientFactory:
    """``kafka_client=`` for KafkaProducer/KafkaConsumer; remembers its clients.

    A constructor that raises leaves its client (sockets, I/O thread) open; the caller
    closes them with :meth:`close_all`.
    """

    def __init__(self) -> None:
        self.clients: list[KafkaNetClient] = []

    def __call__(self, **configs: Any) -> KafkaNetClient:
        net = NetworkSelector(**configs)
        client = KafkaNetClient(net=net, manager=FailFastConnectionManager(net, **configs), **configs)
        self.clients.append(client)
        return client

    def close_all(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except Exception:  # noqa: S112 - best effort on a client that never worked
                continue
