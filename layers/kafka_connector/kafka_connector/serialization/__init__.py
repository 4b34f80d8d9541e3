"""Bytes on the wire: keys, values and headers as text or JSON, and Avro in three framings.

One module per job: :mod:`.formats` (the vocabulary), :mod:`.json_codec`,
:mod:`.avro_codec`, :mod:`.framing` (Confluent and Glue headers) and
:mod:`.glue_registry` (Glue schema lookups). The names below are imported on first use
(PEP 562), so ``import kafka_connector.serialization`` costs nothing at cold start.
"""

from __future__ import annotations

from kafka_connector._lazy import lazy_exports

_EXPORTS = {
    "SerializationType": "formats",
    "WireFormat": "formats",
    "to_json_text": "json_codec",
    "encode_key": "json_codec",
    "encode_json_value": "json_codec",
    "encode_headers": "json_codec",
    "AvroWriter": "avro_codec",
    "parse_avro_schema": "avro_codec",
    "encode_avro_body": "avro_codec",
    "decode_avro_body": "avro_codec",
    "Framing": "framing",
    "detect_framing": "framing",
}
__all__ = [
    "AvroWriter",
    "Framing",
    "SerializationType",
    "WireFormat",
    "decode_avro_body",
    "detect_framing",
    "encode_avro_body",
    "encode_headers",
    "encode_json_value",
    "encode_key",
    "parse_avro_schema",
    "to_json_text",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
