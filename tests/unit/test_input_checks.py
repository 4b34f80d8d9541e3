"""The producer and subscribe boundary: text that is not valid Unicode, deep nesting, NaN, Avro faithfulness.

Each of these used to escape as a retryable "unexpected …" error naming no field, so Step
Functions would retry it in vain; each is now a ConnectorInputError naming the field,
raised before anything is encoded or sent.
"""

import json

import pytest

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.subscription import SubscriptionRequest
from kafka_connector.input_checks import check_input
from kafka_connector.kafka.table import to_kafka_python
from kafka_connector.limits import MAX_NESTING_DEPTH
from kafka_connector.outbound.request import ProducerRequest

LONE = "\ud83d"  # what JSON.stringify writes for a string cut inside an emoji


def nested(depth, leaf="x"):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def producer_payload(**overrides):
    payload = {
        "topic": {"bootstrapServers": "127.0.0.1:9092", "topicName": "orders"},
        "message": {"key": "k", "value": {"orderId": "1"}},
    }
    payload.update(overrides)
    return payload


def refused(payload):
    with pytest.raises(ConnectorInputError) as caught:
        ProducerRequest.from_event(payload)
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (producer_payload(message={"key": f"a{LONE}", "value": "v"}), "'message.key'"),
        (producer_payload(message={"value": {"note": f"cut {LONE}"}}), "'message.value.note'"),
        (producer_payload(message={"value": ["ok", LONE]}), "'message.value[1]'"),
        (producer_payload(headers={"trace": LONE}), "'headers.trace'"),
        (producer_payload(headers={f"n{LONE}": "v"}), "'headers.n\\ud83d'"),
        (
            {"address": f"orders/{LONE}", "message": {"value": "v"}, "topic": {"bootstrapServers": "h:1"}},
            "'address'",
        ),
        (
            producer_payload(
                serializationType="avro",
                avro={"schema": {"type": "record", "name": "r", "fields": [{"name": "s", "type": "string"}]}},
                message={"value": {"s": LONE}},
            ),
            "'message.value.s'",
        ),
    ],
)
def test_lone_surrogates_are_input_errors_naming_the_field(payload, named):
    message = refused(payload)
    assert named in message
    assert "not valid Unicode" in message


def test_every_string_is_checked_not_only_the_first_ones_walked():
    assert "'message.value.c'" in refused(
        producer_payload(message={"value": {"a": "ok", "b": "ok", "c": LONE}})
    )
    assert "'message.value[0]'" in refused(producer_payload(message={"value": [LONE, "ok", "ok"]}))


def nested_lists(depth):
    value = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_depth_is_counted_exactly_for_objects_and_arrays():
    # The payload itself is level 0, so message.value may hold MAX_NESTING_DEPTH - 2 more levels.
    for make in (nested, nested_lists):
        ProducerRequest.from_event(producer_payload(message={"value": make(MAX_NESTING_DEPTH - 2)}))
        assert "nests deeper than" in refused(
            producer_payload(message={"value": make(MAX_NESTING_DEPTH - 1)})
        )


def test_depth_is_bounded_and_checked_without_recursion():
    assert "nests deeper than" in refused(producer_payload(message={"value": nested(MAX_NESTING_DEPTH + 1)}))
    assert "nests deeper than" in refused(producer_payload(message={"value": nested(100_000)}))
    ProducerRequest.from_event(producer_payload(message={"value": nested(MAX_NESTING_DEPTH - 3)}))


def test_check_input_accepts_valid_text_of_every_plane():
    check_input({"emoji": "🦄", "cjk": "漢字", "nul": "\x00", "keys": {"ñ": ["é"]}})


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"value": {"amount": float("nan")}}, "'message.value'"),
        ({"value": [float("inf")]}, "'message.value'"),
        ({"key": {"a": float("-inf")}, "value": "v"}, "'message.key'"),
    ],
)
def test_nan_and_infinity_are_not_published(message, named):
    error = refused(producer_payload(message=message))
    assert named in error
    assert "NaN or Infinity" in error


SCHEMA = {
    "type": "record",
    "name": "order",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {"type": "record", "name": "line", "fields": [{"name": "sku", "type": "string"}]},
            },
        },
    ],
}


def avro_payload(value, **avro):
    return producer_payload(
        serializationType="avro", avro={"schema": SCHEMA, **avro}, message={"value": value}
    )


def test_avro_fields_the_schema_does_not_have_are_named():
    error = refused(avro_payload({"id": "1", "lines": [{"sku": "a", "qty": 2}], "colour": "red"}))
    assert error.endswith("does not have: message.value.colour, message.value.lines[0].qty")


def test_avro_unknown_fields_can_be_dropped_on_request():
    request = ProducerRequest.from_event(
        avro_payload({"id": "1", "lines": [], "colour": "red"}, ignoreUnknownFields=True)
    )
    assert request.value == ProducerRequest.from_event(avro_payload({"id": "1", "lines": []})).value


def test_avro_ignore_unknown_fields_must_be_a_boolean():
    assert "avro.ignoreUnknownFields" in refused(
        avro_payload({"id": "1", "lines": []}, ignoreUnknownFields="yes")
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "r"},
        {
            "type": "record",
            "name": "outer",
            "fields": [{"name": "inner", "type": {"type": "record", "name": "i"}}],
        },
        {"type": "record", "name": "r", "fields": "id"},
    ],
)
def test_a_record_schema_without_fields_is_invalid(schema):
    error = refused(
        producer_payload(serializationType="avro", avro={"schema": schema}, message={"value": {}})
    )
    assert "'avro.schema' is not a valid Avro schema" in error


def test_delivery_timeout_below_linger_plus_request_timeout_names_the_kafka_properties():
    with pytest.raises(ConnectorInputError) as caught:
        to_kafka_python(
            {"bootstrap.servers": "h:1", "delivery.timeout.ms": "1000", "request.timeout.ms": "1500"},
            role="producer",
        )
    message = caught.value.message
    assert "delivery.timeout.ms" in message
    assert "linger.ms + request.timeout.ms" in message
    assert "_ms" not in message


def subscribe_event(**fields):
    return {"taskToken": "token", "messageName": "payment", "correlationKey": "k", **fields}


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (subscribe_event(taskToken=f"t{LONE}"), "'taskToken'"),
        (subscribe_event(messageName=LONE), "'messageName'"),
        (subscribe_event(correlationKey={"id": LONE}), "'correlationKey.id'"),
        (subscribe_event(correlationKey=nested(500)), "nests deeper than"),
        (subscribe_event(taskToken="t" * 500_000), "'taskToken' is 500000 characters"),
        (subscribe_event(correlationKey="k" * 2048), "over DynamoDB's key limit of 2048"),
        (
            subscribe_event(messageName="m" * 1000, correlationKey="k" * 1050),
            "'messageName' and 'correlationKey'",
        ),
    ],
)
def test_subscribe_input_it_cannot_store_is_an_input_error(event, named):
    with pytest.raises(ConnectorInputError) as caught:
        SubscriptionRequest.from_event(event)
    assert named in caught.value.message
    json.loads(str(caught.value))  # the error body itself is valid JSON text


def test_a_key_just_within_dynamodbs_limit_is_accepted():
    request = SubscriptionRequest.from_event(subscribe_event(messageName="m", correlationKey="k" * 2046))
    assert len(f"{request.message_name}#{request.correlation_key}".encode()) == 2048
