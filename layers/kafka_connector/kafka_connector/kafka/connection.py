"""A kafka-python network client that fails fast: bad credentials at once, no endless TLS wait.

kafka-python 3.0 catches the broker's ``SaslAuthenticationFailedError`` while a
connection initialises and keeps retrying the bootstrap until ``bootstrap_timeout_ms``
expires, then raises ``KafkaTimeoutError`` — so a wrong password would reach a workflow
30 s later as a *retryable* timeout. Its connection manager already has the right
mechanism (a sticky per-node authentication failure that ``get_connection`` raises), but
the failure is popped again because the connection swallowed the error. The manager
below records it once the connect attempt has returned, so the bootstrap fails with the
real error within one round trip. The same is done for a broker certificate the client
does not trust.

It also bounds the TLS handshake: kafka-python waits for the server's hello with no
deadline, so a TLS client pointed at a plaintext listener (``SASL_SSL`` against a
``PLAINTEXT`` port, a common misconfiguration) would hang until the Lambda times out,
whatever ``max.block.ms`` says. Here the handshake shares the connection attempt's
deadline and fails like any other connection error.

This leans on private names of kafka-python (``_connect``, ``_auth_failures``,
``_build_transport``, the transport's ``_sock``); the version is pinned and the
authentication tests (tests/integration/test_producer_auth.py) fail if they change meaning.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import kafka.errors as kafka_errors
from kafka.net.compat import KafkaNetClient
from kafka.net.inet import create_connection
from kafka.net.manager import KafkaConnectionManager
from kafka.net.selector import NetworkSelector
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport

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


#: A handshake without a caller's deadline still ends: the Kafka client's default request timeout.
_DEFAULT_HANDSHAKE_SECONDS = 30.0


async def _handshake(net: Any, transport: KafkaSSLTransport, deadline: float) -> None:
    """kafka-python's ``KafkaSSLTransport.handshake``, with a deadline on each wait."""
    while True:
        try:
            transport._sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await net.wait_read(transport._sock, timeout_at=deadline)
        except ssl.SSLWantWriteError:
            await net.wait_write(transport._sock, timeout_at=deadline)


class FailFastConnectionManager(KafkaConnectionManager):
    async def _build_transport(self, node: Any, timeout_at: float | None = None) -> Any:
        """As kafka-python's, but the TLS handshake ends at the connection attempt's deadline."""
        sock = await create_connection(
            self._net,
            node.host,
            node.port,
            self.config["socket_options"],
            proxy_url=self.config["proxy_url"],
            timeout_at=timeout_at,
        )
        if not self.ssl_enabled:
            return KafkaTCPTransport(self._net, sock, host=node.host)
        ssl_configs = {key: value for key, value in self.config.items() if key.startswith("ssl_")}
        transport = KafkaSSLTransport(self._net, sock, host=node.host, **ssl_configs)
        deadline = timeout_at if timeout_at is not None else time.monotonic() + _DEFAULT_HANDSHAKE_SECONDS
        try:
            await _handshake(self._net, transport, deadline)
        except Exception as error:
            transport.close()
            raise kafka_errors.KafkaConnectionError(f"Handshake failed: {error}") from error
        return transport

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
