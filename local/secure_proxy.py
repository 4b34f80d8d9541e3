"""A TLS and SASL terminating proxy in front of the embedded broker, for authentication tests.

Tansu (the embedded broker) speaks neither TLS nor SASL, yet the connector must prove that the
kafka-python clients it configures really negotiate ``SASL_SSL``, ``SASL_PLAINTEXT`` and ``SSL``.
:class:`AuthProxy` sits between the client and Tansu: it terminates TLS, plays the broker's part
of the SASL exchange itself (``ApiVersions`` → ``SaslHandshake`` → ``SaslAuthenticate`` with
PLAIN or SCRAM-SHA-256/512) and, once the client has authenticated, pipes the bytes both ways
unchanged. The broker must advertise the proxy's address (``EmbeddedBroker(advertised_port=...)``)
so that every reconnection after metadata goes through the proxy as well.

The Kafka wire format is encoded by hand here rather than with kafka-python's protocol classes:
the proxy then checks the client against the protocol specification, not against itself.
Only the handful of messages of the SASL phase are decoded; everything else is forwarded as is.

:func:`make_test_pki` makes the throwaway certificate authority and certificates for the TLS side.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import logging
import secrets
import ssl
import struct
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

# Kafka API keys and error codes the SASL phase needs (see the Kafka protocol guide).
API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36
ERROR_UNSUPPORTED_SASL_MECHANISM = 33
ERROR_ILLEGAL_SASL_STATE = 34
ERROR_SASL_AUTHENTICATION_FAILED = 58

#: Versions of the SASL APIs this proxy serves; advertised in every ``ApiVersions`` answer.
#: SaslHandshake v0 (raw, unframed tokens) is advertised like a real broker does but refused:
#: clients only fall back to it when the broker offers nothing newer.
SASL_API_VERSIONS = {API_SASL_HANDSHAKE: (0, 1), API_SASL_AUTHENTICATE: (0, 2)}
SUPPORTED_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
SCRAM_ITERATIONS = 4096  # Kafka's minimum; kafka-python refuses more than 1,000,000
_SCRAM_HASHES: dict[str, Callable[..., Any]] = {
    "SCRAM-SHA-256": hashlib.sha256,
    "SCRAM-SHA-512": hashlib.sha512,
}
_MAX_FRAME = 100 * 1024 * 1024
_CONNECT_TIMEOUT = 5.0


# --------------------------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True)
class Pki:
    """A throwaway CA with a server certificate for ``127.0.0.1``/``localhost``, as files and texts.

    Texts are there because the connector may receive its truststore as PEM text (a secret), the
    files because kafka-python's ``ssl_cafile``/``ssl_certfile`` want paths.
    """

    directory: Path
    ca_pem: str
    ca_file: Path
    server_cert_pem: str
    server_key_pem: str
    server_cert_file: Path
    server_key_file: Path
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """The proxy's TLS context; with ``require_client_cert`` clients need a cert from this CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert_file, self.server_key_file)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.ca_pem)
        return context


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds, unlike RSA; every TLS stack in use accepts them.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    hostnames: Collection[str] = (),
    ips: Collection[str] = (),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_test_pki(
    directory: Path | str,
    *,
    client_cert: bool = False,
    hostnames: Collection[str] = ("localhost",),
    ips: Collection[str] = ("127.0.0.1",),
) -> Pki:
    """Write a fresh CA, a server certificate (SAN DNS + IP) and optionally a client one to ``directory``.

    Everything expires in a day and the keys never leave the test's temporary directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    ca = _issue("kafka-connector test CA", ca_key, None, ca_key, ca=True)
    server_key = _new_key()
    server = _issue(
        "localhost",
        server_key,
        ca,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        hostnames=hostnames,
        ips=ips,
    )
    texts = {
        "ca.pem": _cert_pem(ca),
        "server.pem": _cert_pem(server),
        "server.key": _key_pem(server_key),
    }
    if client_cert:
        client_key = _new_key()
        client = _issue(
            "kafka-connector test client", client_key, ca, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        texts["client.pem"] = _cert_pem(client)
        texts["client.key"] = _key_pem(client_key)
    for filename, text in texts.items():
        path = directory / filename
        path.write_text(text)
        if filename.endswith(".key"):
            path.chmod(0o600)
    return Pki(
        directory=directory,
        ca_pem=texts["ca.pem"],
        ca_file=directory / "ca.pem",
        server_cert_pem=texts["server.pem"],
        server_key_pem=texts["server.key"],
        server_cert_file=directory / "server.pem",
        server_key_file=directory / "server.key",
        client_cert_pem=texts.get("client.pem"),
        client_key_pem=texts.get("client.key"),
        client_cert_file=directory / "client.pem" if client_cert else None,
        client_key_file=directory / "client.key" if client_cert else None,
    )


# --------------------------------------------------------------------------------------------
# Kafka wire format (only what the SASL phase needs)


class ProtocolError(Exception):
    """The client sent something this proxy cannot parse; the connection is dropped."""


class _Cursor:
    """Reads Kafka primitive types from one frame."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ProtocolError("truncated frame")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def int16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ProtocolError("varint too long")

    def string(self) -> str | None:
        """A (nullable) STRING with an int16 length, as in request headers even when flexible."""
        size = self.int16()
        if size < 0:
            return None
        try:
            return self.take(size).decode()
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _is_flexible(api_key: int, version: int) -> bool:
    """Whether a request/response of the SASL phase uses the compact, tagged-field encoding."""
    return (api_key == API_API_VERSIONS and version >= 3) or (
        api_key == API_SASL_AUTHENTICATE and version >= 2
    )


@dataclass(frozen=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def parse_request_header(frame: bytes) -> tuple[RequestHeader, _Cursor]:
    """The request header (v1, or v2 for flexible SASL-phase requests) and a cursor on the body."""
    cursor = _Cursor(frame)
    api_key, api_version, correlation_id = cursor.int16(), cursor.int16(), cursor.int32()
    client_id = cursor.string()
    if _is_flexible(api_key, api_version):
        cursor.skip_tagged_fields()
    return RequestHeader(api_key, api_version, correlation_id, client_id), cursor


def advertise_sasl(response: bytes, version: int) -> bytes:
    """Rewrite a broker's ``ApiVersions`` response (unframed) so it offers this proxy's SASL APIs.

    The response header is always v0 (correlation id only), even for flexible versions. An error
    answer (e.g. UNSUPPORTED_VERSION, whose body is v0-shaped) is returned untouched: the client
    retries with an older version and that answer gets rewritten.
    """
    cursor = _Cursor(response)
    correlation_id, error_code = cursor.int32(), cursor.int16()
    if error_code != 0:
        return response
    flexible = version >= 3
    count = cursor.uvarint() - 1 if flexible else cursor.int32()
    entries: dict[int, bytes] = {}
    for _ in range(max(count, 0)):
        start = cursor.pos
        api_key = cursor.int16()
        cursor.take(4)  # min and max version
        if flexible:
            cursor.skip_tagged_fields()
        entries[api_key] = cursor.data[start : cursor.pos]
    rest = cursor.rest()  # throttle_time_ms (v1+) and tagged fields (v3+): kept byte for byte
    for api_key, (low, high) in SASL_API_VERSIONS.items():
        entries[api_key] = struct.pack(">hhh", api_key, low, high) + (b"\x00" if flexible else b"")
    size = _uvarint(len(entries) + 1) if flexible else struct.pack(">i", len(entries))
    body = b"".join(entries[key] for key in sorted(entries))
    return struct.pack(">ih", correlation_id, error_code) + size + body + rest


def encode_handshake_response(correlation_id: int, error_code: int, mechanisms: Collection[str]) -> bytes:
    """SaslHandshake response v0/v1 (never flexible), unframed."""
    names = sorted(mechanisms)
    out = struct.pack(">ihi", correlation_id, error_code, len(names))
    for name in names:
        raw = name.encode()
        out += struct.pack(">h", len(raw)) + raw
    return out


def encode_authenticate_response(
    correlation_id: int,
    version: int,
    *,
    error_code: int = 0,
    error_message: str | None = None,
    auth_bytes: bytes = b"",
) -> bytes:
    """SaslAuthenticate response v0–v2 (v2 is flexible: header v1, compact types), unframed."""
    flexible = _is_flexible(API_SASL_AUTHENTICATE, version)
    out = struct.pack(">i", correlation_id) + (b"\x00" if flexible else b"")
    out += struct.pack(">h", error_code)
    message = None if error_message is None else error_message.encode()
    if flexible:
        out += _uvarint(0) if message is None else _uvarint(len(message) + 1) + message
        out += _uvarint(len(auth_bytes) + 1) + auth_bytes
    else:
        out += struct.pack(">h", -1) if message is None else struct.pack(">h", len(message)) + message
        out += struct.pack(">i", len(auth_bytes)) + auth_bytes
    if version >= 1:
        out += struct.pack(">q", 0)  # session_lifetime_ms: 0 = no re-authentication (KIP-368)
    if flexible:
        out += b"\x00"
    return out


def _authenticate_request_bytes(header: RequestHeader, body: _Cursor) -> bytes:
    if _is_flexible(API_SASL_AUTHENTICATE, header.api_version):
        size = body.uvarint() - 1
        return body.take(size)
    return body.take(body.int32())


# --------------------------------------------------------------------------------------------
# SASL mechanisms, server side


class AuthenticationFailed(Exception):
    """Bad credentials or a malformed exchange; the message goes back to the client."""


@dataclass(frozen=True)
class _ScramCredential:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def _scram_credential(mechanism: str, password: str) -> _ScramCredential:
    """What a SCRAM server stores instead of the password (RFC 5802 §3)."""
    digest = _SCRAM_HASHES[mechanism]
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", digest)
    return _ScramCredential(
        salt=salt,
        iterations=SCRAM_ITERATIONS,
        stored_key=digest(client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", digest),
    )


def _invalid_credentials(mechanism: str) -> AuthenticationFailed:
    # The same words as a Kafka broker, and the same answer for an unknown user and a bad password.
    return AuthenticationFailed(
        "Authentication failed during authentication due to invalid credentials"
        f" with SASL mechanism {mechanism}"
    )


class _SaslSession:
    """One client's server-side SASL exchange: ``step`` maps each client token to a reply."""

    mechanism: str
    username: str | None = None  # the identity claimed so far, authenticated or not

    def step(self, token: bytes) -> tuple[bytes, bool]:
        """The reply to ``token`` and whether authentication is now complete."""
        raise NotImplementedError


class _PlainSession(_SaslSession):
    """RFC 4616: a single ``authzid NUL authcid NUL password`` token, an empty reply on success."""

    mechanism = "PLAIN"

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = users

    def step(self, token: bytes) -> tuple[bytes, bool]:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: expected 3 tokens")
        authzid, authcid, password = (part.decode(errors="replace") for part in parts)
        if authzid and authzid != authcid:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is different from username"
            )
        self.username = authcid
        expected = self._users.get(authcid)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise _invalid_credentials(self.mechanism)
        return b"", True


def _scram_attributes(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or len(key) != 1:
            raise AuthenticationFailed(f"Invalid SCRAM attribute {item!r}")
        pairs.append((key, value))
    return pairs


class _ScramSession(_SaslSession):
    """RFC 5802 / RFC 7677 server: client-first → server-first → client-final → server-final."""

    def __init__(self, mechanism: str, credentials: Mapping[str, _ScramCredential]) -> None:
        self.mechanism = mechanism
        self._digest = _SCRAM_HASHES[mechanism]
        self._credentials = credentials
        self._state = "client-first"
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credential: _ScramCredential | None = None

    def step(self, token: bytes) -> tuple[bytes, bool]:
        try:
            text = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SCRAM message: not UTF-8") from None
        if self._state == "client-first":
            return self._client_first(text), False
        if self._state == "client-final":
            return self._client_final(text), True
        raise AuthenticationFailed("Unexpected SCRAM message after authentication")

    def _client_first(self, text: str) -> bytes:
        cbind, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if cbind.startswith("p="):
            raise AuthenticationFailed("SCRAM channel binding is not supported")
        if cbind not in ("n", "y") or (authzid and not authzid.startswith("a=")):
            raise AuthenticationFailed("Invalid SCRAM client-first message: bad GS2 header")
        attributes = _scram_attributes(bare)
        if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r" or not attributes[1][1]:
            raise AuthenticationFailed("Invalid SCRAM client-first message: expected n=...,r=...")
        self.username = attributes[0][1].replace("=2C", ",").replace("=3D", "=")
        credential = self._credentials.get(self.username)
        if credential is None:
            raise _invalid_credentials(self.mechanism)
        self._credential = credential
        self._gs2_header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        self._nonce = attributes[1][1] + secrets.token_urlsafe(18)  # urlsafe: never a comma
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        self._state = "client-final"
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        assert self._credential is not None
        self._state = "done"
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise AuthenticationFailed("Invalid SCRAM client-final message: no proof")
        attributes = dict(_scram_attributes(without_proof))
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attributes.get("c") != expected_binding:
            raise AuthenticationFailed("Invalid SCRAM client-final message: channel binding mismatch")
        if attributes.get("r") != self._nonce:
            raise AuthenticationFailed("Invalid SCRAM client-final message: nonce mismatch")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise AuthenticationFailed("Invalid SCRAM client-final message: proof is not base64") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = hmac.digest(self._credential.stored_key, auth_message, self._digest)
        if len(proof) != len(client_signature):
            raise _invalid_credentials(self.mechanism)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(self._digest(client_key).digest(), self._credential.stored_key):
            raise _invalid_credentials(self.mechanism)
        server_signature = hmac.digest(self._credential.server_key, auth_message, self._digest)
        return b"v=" + base64.b64encode(server_signature)


# --------------------------------------------------------------------------------------------
# The proxy


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
