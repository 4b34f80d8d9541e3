"""The Confluent and Glue headers in front of an Avro body: recognised on read, written on produce."""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

from kafka_connector.serialization.formats import WireFormat

CONFLUENT_MAGIC = 0
GLUE_HEADER_VERSION = 3
GLUE_COMPRESSION_NONE = 0
GLUE_COMPRESSION_ZLIB = 5
_CONFLUENT_HEADER = struct.Struct(">bI")
_GLUE_HEADER_SIZE = 18


def confluent_header(schema_id: int) -> bytes:
    return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, schema_id)


def glue_header(version: uuid.UUID) -> bytes:
    return bytes((GLUE_HEADER_VERSION, GLUE_COMPRESSION_NONE)) + version.bytes


@dataclass(frozen=True, slots=True)
class Framing:
    """What the first bytes of a record value say about how it was written."""

    wire_format: WireFormat
    body: bytes
    schema_id: int | None = None
    glue_version: uuid.UUID | None = None


def detect_framing(data: bytes) -> Framing:
    """Recognise a Confluent or Glue header; anything else is a plain body.

    Glue's header is unambiguous (version byte 3, a known compression byte, 18 bytes).
    A Confluent header (byte 0 + 4-byte id) is only trusted when the caller expects Avro:
    JSON and text never start with a NUL byte, bare Avro may.
    """
    if (
        len(data) >= _GLUE_HEADER_SIZE
        and data[0] == GLUE_HEADER_VERSION
        and data[1] in (GLUE_COMPRESSION_NONE, GLUE_COMPRESSION_ZLIB)
    ):
        body = data[_GLUE_HEADER_SIZE:]
        if data[1] == GLUE_COMPRESSION_ZLIB:
            body = zlib.decompress(body)
        return Framing(WireFormat.GLUE, body, glue_version=uuid.UUID(bytes=data[2:_GLUE_HEADER_SIZE]))
    if len(data) >= _CONFLUENT_HEADER.size and data[0] == CONFLUENT_MAGIC:
        _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
        return Framing(WireFormat.CONFLUENT, data[_CONFLUENT_HEADER.size :], schema_id=schema_id)
    return Framing(WireFormat.PLAIN, data)
