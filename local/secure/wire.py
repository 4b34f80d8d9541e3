"""The Kafka wire format, only as far as the SASL phase of a connection needs it.

It is encoded by hand here rather than with kafka-python's protocol classes: the proxy
(:mod:`local.secure.proxy`) then checks the client against the protocol specification, not
against itself. Only the handful of messages of the SASL phase (``ApiVersions``,
``SaslHandshake``, ``SaslAuthenticate``) are decoded; everything else is forwarded as is.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass

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
