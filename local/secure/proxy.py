"""A TLS and SASL terminating proxy in front of the embedded broker, for authentication tests.

Tansu (the embedded broker) speaks neither TLS nor SASL, yet the connector must prove that the
kafka-python clients it configures really negotiate ``SASL_SSL``, ``SASL_PLAINTEXT`` and ``SSL``.
:class:`AuthProxy` sits between the client and Tansu: it terminates TLS, plays the broker's part
of the SASL exchange itself (``ApiVersions`` → ``SaslHandshake`` → ``SaslAuthenticate`` with
PLAIN or SCRAM-SHA-256/512) and, once the client has authenticated, pipes the bytes both ways
unchanged. The broker must advertise the proxy's address (``EmbeddedBroker(advertised_port=...)``)
so that every reconnection after metadata goes through the proxy as well.

The messages of the SASL phase are decoded by :mod:`local.secure.wire`, the mechanisms judged by
:mod:`local.secure.sasl`; :func:`local.secure.pki.make_test_pki` makes the certificates for the
TLS side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import TracebackType

from local.secure.sasl import (
    _SCRAM_HASHES,
    SUPPORTED_MECHANISMS,
    AuthenticationFailed,
    _PlainSession,
    _SaslSession,
    _scram_credential,
    _ScramSession,
)
from local.secure.wire import (
    API_API_VERSIONS,
    API_SASL_AUTHENTICATE,
    API_SASL_HANDSHAKE,
    ERROR_ILLEGAL_SASL_STATE,
    ERROR_SASL_AUTHENTICATION_FAILED,
    ERROR_UNSUPPORTED_SASL_MECHANISM,
    ProtocolError,
    RequestHeader,
    _authenticate_request_bytes,
    _Cursor,
    _frame,
    advertise_sasl,
    encode_authenticate_response,
    encode_handshake_response,
    parse_request_header,
)

log = logging.getLogger(__name__)

_MAX_FRAME = 100 * 1024 * 1024
_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class AuthEvent:
    """One finished SASL exchange, recorded so tests can prove who authenticated and how.

    ``username`` is the claimed identity (None if the client never got as far as naming one).
    """

    username: str | None
    mechanism: str
    succeeded: bool
    error: str | None = None


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One size-prefixed Kafka frame, or None when the client went away."""
    try:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        if not 0 <= size <= _MAX_FRAME:
            raise ProtocolError(f"frame size {size} out of range")
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


class AuthProxy:
    """TLS and/or SASL in front of a plaintext Kafka broker, on a free loopback port.

    ``tls`` is the server context (``None``: plaintext). With ``mechanisms`` the proxy answers the
    SASL phase itself; ``require_sasl`` then refuses (closes) a connection whose first
    non-SASL request comes before a successful authentication, like a SASL listener does.
    After a refused authentication the connection stays open ``failed_auth_close_delay`` seconds,
    as Kafka's ``connection.failed.authentication.delay.ms`` (100 ms by default) does: kafka-python
    3.0.12 drops bytes that arrive in the same read as the end of the stream, so an immediate close
    would hide the SASL error from the client behind a bare "socket disconnected".
    Without mechanisms it only terminates TLS and pipes. The asyncio loop runs in a daemon thread so
    that synchronous tests (kafka-python is blocking) can use it; ``stop()`` ends every connection.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        tls: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        mechanisms: Collection[str] = (),
        require_sasl: bool = False,
        failed_auth_close_delay: float = 0.1,
        host: str = "127.0.0.1",
    ) -> None:
        unknown = set(mechanisms) - SUPPORTED_MECHANISMS
        if unknown:
            raise ValueError(
                f"unsupported SASL mechanisms {sorted(unknown)}; use {sorted(SUPPORTED_MECHANISMS)}"
            )
        if require_sasl and not mechanisms:
            raise ValueError("require_sasl needs at least one SASL mechanism")
        self.upstream = upstream
        self.host = host
        self.tls = tls
        self.users = dict(users or {})
        self.mechanisms = frozenset(mechanisms)
        self.require_sasl = require_sasl
        self.failed_auth_close_delay = failed_auth_close_delay
        #: Every finished SASL exchange, in order (appended from the proxy's thread).
        self.events: list[AuthEvent] = []
        self._scram = {
            mechanism: {user: _scram_credential(mechanism, password) for user, password in self.users.items()}
            for mechanism in self.mechanisms & _SCRAM_HASHES.keys()
        }
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle (caller's thread)

    def start(self, timeout: float = 10.0) -> AuthProxy:
        if self._thread is not None:
            raise RuntimeError("the proxy is already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="auth-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the auth proxy did not start within {timeout:.0f}s")
        if self._startup_error is not None:
            self.stop()
            raise self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended on its own
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("the auth proxy thread did not stop")
        self._port = None

    def __enter__(self) -> AuthProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- proxy thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._ready.set()  # never leave start() waiting, whatever happened

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._handle,
                self.host,
                0,
                ssl=self.tls,
                ssl_handshake_timeout=_CONNECT_TIMEOUT if self.tls else None,
            )
        except BaseException as error:
            self._startup_error = error
            return
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), _CONNECT_TIMEOUT
            )
            if self.mechanisms and not await self._sasl_phase(
                reader, writer, upstream_reader, upstream_writer
            ):
                return
            pumps = [
                asyncio.create_task(_pump(reader, upstream_writer)),
                asyncio.create_task(_pump(upstream_reader, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, TimeoutError, ProtocolError) as error:
            log.debug("auth proxy connection ended: %r", error)
        finally:
            if upstream_writer is not None:
                await _close(upstream_writer)
            await _close(writer)
            self._connections.discard(task)

    async def _sasl_phase(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> bool:
        """Play the broker's part until the client has authenticated; False closes the connection.

        Requests here come strictly one at a time: the client holds everything else back until its
        connection is initialised, so no response ordering has to be preserved.
        """
        session: _SaslSession | None = None
        while True:
            frame = await _read_frame(reader)
            if frame is None:
                return False
            header, body = parse_request_header(frame)
            outcome: bool | None = None  # None: the SASL phase goes on
            if header.api_key == API_API_VERSIONS:
                # The broker's real versions (so the client picks the right Produce/Fetch versions)
                # plus the SASL APIs that this proxy, not the broker, serves.
                upstream_writer.write(_frame(frame))
                await upstream_writer.drain()
                response = await _read_frame(upstream_reader)
                if response is None:
                    return False
                writer.write(_frame(advertise_sasl(response, header.api_version)))
            elif header.api_key == API_SASL_HANDSHAKE:
                session = self._handshake(header, body, writer)
                if session is None:
                    outcome = False
            elif header.api_key == API_SASL_AUTHENTICATE:
                outcome = self._authenticate(header, body, writer, session)
            elif self.require_sasl:
                log.info("auth proxy: api_key %d before SASL authentication; closing", header.api_key)
                return False
            else:
                upstream_writer.write(_frame(frame))  # optional SASL skipped: plain pipe from here
                return True
            await writer.drain()
            if outcome is False:
                # Like a broker: let the refusal reach the client before the connection closes.
                await asyncio.sleep(self.failed_auth_close_delay)
            if outcome is not None:
                return outcome

    def _handshake(
        self, header: RequestHeader, body: _Cursor, writer: asyncio.StreamWriter
    ) -> _SaslSession | None:
        if header.api_version != 1:
            # v0 switches to raw, unframed tokens; kafka-python only uses it against brokers without v1.
            log.info("auth proxy: SaslHandshake v%d is not supported; closing", header.api_version)
            return None
        mechanism = body.string() or ""
        if mechanism not in self.mechanisms:
            writer.write(
                _frame(
                    encode_handshake_response(
                        header.correlation_id, ERROR_UNSUPPORTED_SASL_MECHANISM, self.mechanisms
                    )
                )
            )
            return None
        writer.write(_frame(encode_handshake_response(header.correlation_id, 0, self.mechanisms)))
        if mechanism == "PLAIN":
            return _PlainSession(self.users)
        return _ScramSession(mechanism, self._scram[mechanism])

    def _authenticate(
        self, header: RequestHeader, body: _Cursor, writer: asyncio.StreamWriter, session: _SaslSession | None
    ) -> bool | None:
        """Answer one SaslAuthenticate; True/False once the exchange is over, None while it goes on."""
        if session is None:
            writer.write(
                _frame(
                    encode_authenticate_response(
                        header.correlation_id,
                        header.api_version,
                        error_code=ERROR_ILLEGAL_SASL_STATE,
                        error_message="SaslAuthenticate before SaslHandshake",
                    )
                )
            )
            return False
        try:
            reply, done = session.step(_authenticate_request_bytes(header, body))
        except (AuthenticationFailed, ProtocolError) as failure:
            self.events.append(
                AuthEvent(session.username, session.mechanism, succeeded=False, error=str(failure))
            )
            writer.write(
                _frame(
                    encode_authenticate_response(
                        header.correlation_id,
                        header.api_version,
                        error_code=ERROR_SASL_AUTHENTICATION_FAILED,
                        error_message=str(failure),
                    )
                )
            )
            return False
        writer.write(
            _frame(encode_authenticate_response(header.correlation_id, header.api_version, auth_bytes=reply))
        )
        if not done:
            return None
        self.events.append(AuthEvent(session.username, session.mechanism, succeeded=True))
        return True
