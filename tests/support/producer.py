"""Real-broker scaffolding for the producer's recovery and cache tests.

A broker that stops answering (``SIGSTOP``: the kernel still accepts and buffers, nobody
replies — what a hung or partitioned broker looks like to a client), a broker on durable
storage that can be killed and started again on the same port, and a relay that holds a
client's bootstrap for as long as a test wants while letting it see that the client is
there. Nothing here fakes Kafka: every byte still goes to a real Tansu broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
from kafka import KafkaConsumer, TopicPartition

from functions.producer import app as producer_app
from local.broker import EmbeddedBroker
from local.context import LocalLambdaContext
from local.net import free_port


def invoke_producer(
    bootstrap: str, address: str, value: Any, properties: Mapping[str, Any]
) -> dict[str, Any]:
    """One invocation of the warm producer function (its module-level publisher)."""
    return producer_app.lambda_handler(
        {
            "topic": {"bootstrapServers": bootstrap, "topicName": address},
            "message": {"value": value},
            "additionalProperties": dict(properties),
        },
        LocalLambdaContext("producer"),
    )


def records_at(
    bootstrap: str, topic: str, positions: set[tuple[int, int]], timeout: float = 15.0
) -> dict[tuple[int, int], bytes]:
    """The values the broker stored at each ``(partition, offset)`` of ``topic``, read with one consumer."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    found: dict[tuple[int, int], bytes] = {}
    try:
        assignment = [TopicPartition(topic, p) for p in sorted({p for p, _ in positions})]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        deadline = time.monotonic() + timeout
        while not positions <= found.keys() and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                found.update(
                    {(r.partition, r.offset): r.value for r in batch if (r.partition, r.offset) in positions}
                )
    finally:
        consumer.close()
    return found


@contextlib.contextmanager
def paused(broker: EmbeddedBroker) -> Iterator[None]:
    """The broker process stopped (SIGSTOP) inside the block: connections stay open, no answers."""
    pid = broker._process.pid  # local.broker exposes no pid; the test owns this broker
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if broker.running:
            os.kill(pid, signal.SIGCONT)


def durable_broker_starter(emulator: Any, bucket: str) -> Callable[[], EmbeddedBroker]:
    """Start Tansu on s3:// storage in the emulator, always on the same port (a restart keeps data)."""
    boto3.client("s3").create_bucket(Bucket=bucket)
    storage_env = {
        "AWS_ENDPOINT": emulator.endpoint_url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    port = free_port()

    def start() -> EmbeddedBroker:
        return EmbeddedBroker(port=port, storage=f"s3://{bucket}/", env=storage_env).start()

    return start


class HeldRelay:
    """A TCP relay to a real broker that holds each connection until :meth:`release`.

    A client bootstrapping through it is stuck in its bootstrap (its ApiVersions request
    sits unanswered) for as long as the test wants — the dead cluster of the cache tests —
    and :attr:`connections` shows the test that the client really got there.
    """

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._server = socket.create_server(("127.0.0.1", 0))
        self.bootstrap_servers = f"127.0.0.1:{self._server.getsockname()[1]}"
        self.connections = 0
        self.connected = threading.Event()
        self._released = threading.Event()
        self._sockets: list[socket.socket] = [self._server]
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="held-relay", daemon=True).start()

    def release(self) -> None:
        """Let every held connection (and every later one) through to the broker."""
        self._released.set()

    def close(self) -> None:
        """Drop every connection and stop listening: the cluster is gone."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._released.set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> HeldRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    client.close()
                    return
                self.connections += 1
                self._sockets.append(client)
            self.connected.set()
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        self._released.wait()
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._closed:
                upstream.close()
                return
            self._sockets.append(upstream)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
