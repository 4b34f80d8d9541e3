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
#: The most a Glue body may inflate to. A record value is at most a few MB (the event source
#: mapping's 6 MB payload), and nothing over 256 KiB reaches Step Functions; a value that
#: inflates further is a zlib bomb, not a message, and must not exhaust the function's memory.
MAX_INFLATED_BYTES = 16 * 1024 * 1024


class FramingError(ValueError):
    """The header announced a framing its body does not have (e.g. zlib that is not zlib)."""


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
    JSON and text never start with a NUL byte, bare Avro may. A Glue body marked as
    zlib-compressed (byte 5, what the AWS serde's ``ZLIB`` compression writes) is inflated;
    one that is not zlib, or inflates beyond :data:`MAX_INFLATED_BYTES`, raises
    :class:`FramingError`.
    """
    if (
        len(data) >= _GLUE_HEADER_SIZE
        and data[0] == GLUE_HEADER_VERSION
        and data[1] in (GLUE_COMPRESSION_NONE, GLUE_COMPRESSION_ZLIB)
    ):
        body = data[_GLUE_HEADER_SIZE:]
        if data[1] == GLUE_COMPRESSION_ZLIB:
            body = _inflate(body)
        return Framing(WireFormat.GLUE, body, glue_version=uuid.UUID(bytes=data[2:_GLUE_HEADER_SIZE]))
    if len(data) >= _CONFLUENT_HEADER.size and data[0] == CONFLUENT_MAGIC:
        _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
        return Framing(WireFormat.CONFLUENT, data[_CONFLUENT_HEADER.size :], schema_id=schema_id)
    return Framing(WireFormat.PLAIN, data)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(body, MAX_INFLATED_BYTES)
    except zlib.error as error:
        raise FramingError(f"the Glue header says zlib, but the body is not zlib data ({error})") from None
    if inflater.unconsumed_tail:
        raise FramingError(f"the zlib-compressed Glue body inflates beyond {MAX_INFLATED_BYTES} bytes")
    if not inflater.eof:
        raise FramingError("the zlib-compressed Glue body is cut short")
    return inflated
