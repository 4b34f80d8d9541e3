"""The serialization vocabulary: which format a value has, and which framing an Avro body has.

One enum per concept, so that every place that reads ``serializationType``,
``SERIALIZATION_TYPE``, ``avro.wireFormat`` or ``AVRO_WIRE_FORMAT`` parses it the same way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from kafka_connector.errors import ConnectorInputError
from kafka_connector.redaction import shown


class _Choice(StrEnum):
    @classmethod
    def parse(cls, raw: object, field: str) -> Self:
        """The member named by ``raw`` (case and surrounding blanks ignored), else an input error."""
        try:
            return cls(raw.strip().lower() if isinstance(raw, str) else str(raw))
        except ValueError:
            raise ConnectorInputError(
                f"'{field}' must be one of {', '.join(m.value for m in cls)}, not {shown(str(raw), 50)}"
            ) from None


class SerializationType(_Choice):
    """How a record's value is written: JSON (or text) or Avro."""

    JSON = "json"
    AVRO = "avro"


class WireFormat(_Choice):
    """How an Avro body is framed on the wire.

    * ``plain`` – the bare Avro binary body, as the reference connector writes it;
    * ``confluent`` – magic byte 0, the 4-byte big-endian schema id, then the body;
    * ``glue`` – AWS Glue Schema Registry: header version byte 3, compression byte
      (0 none, 5 zlib), the 16-byte schema version UUID, then the body.
    """

    PLAIN = "plain"
    CONFLUENT = "confluent"
    GLUE = "glue"
