"""Bad input, generated: only the three documented errors ever escape, and never a secret.

Hypothesis feeds random payloads to the producer function and random events to the
consumer and subscribe functions. A response is fine; an error must be one of
``ConnectorInputError``, ``KafkaNonRetryableError``, ``KafkaRetryableError`` — and bad
input must never be mistaken for a defect (a ``KafkaRetryableError("unexpected …")``).
"""

import json

import boto3
import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from functions.producer import app as producer_app
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import ConnectorError, ConnectorInputError
from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from local.context import LocalLambdaContext
from tests.support.aws import Aws

SECRET = "s3cr3t-never-shown-9f2"
DOCUMENTED = {"ConnectorInputError", "KafkaNonRetryableError", "KafkaRetryableError"}
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


# Input no encoder can take: text with a lone surrogate (a string cut inside an emoji by
# JSON.stringify), values nested far deeper than any payload, and NaN/Infinity.
broken_text = st.builds(lambda a, b: a + "\ud83d" + b, st.text(max_size=4), st.text(max_size=4))


def deeply_nested(depth):
    value = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


hostile_values = st.one_of(
    broken_text,
    st.integers(90, 3000).map(deeply_nested),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), {"amount": float("nan")}]),
    st.dictionaries(broken_text, st.text(max_size=3), min_size=1, max_size=2),
)


def secret_or(strategy):
    return st.one_of(strategy, st.just("{{secrets.KAFKA_PASSWORD}}"), st.just("{{secrets.NOT_THERE}}"))


AVRO_SCHEMA = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
}


@st.composite
def producer_payloads(draw, bootstrap):
    """A valid payload with some of its fields removed or replaced by something random.

    Starting from valid and breaking a little reaches the deep paths (serialisation,
    properties, publishing) that fully random documents never get past.
    """
    avro = draw(st.booleans())
    payload = {
        "topic": {"bootstrapServers": bootstrap, "topicName": "fuzzed"},
        "message": {"key": "k", "value": {"name": "John", "age": 29}},
        "headers": {"source": "fuzz"},
        "authentication": {"username": "u", "password": "{{secrets.KAFKA_PASSWORD}}"},
        "additionalProperties": {"security.protocol": "PLAINTEXT", "max.block.ms": 300},
        "serializationType": "avro" if avro else "json",
        "avro": {
            "schema": AVRO_SCHEMA,
            "wireFormat": draw(st.sampled_from(["plain", "confluent"])),
            "schemaId": 3,
        },
        "debug": draw(st.booleans()),
    }
    replacements = {
        # Refused at once, or by the loopback: random host names would wait on DNS instead.
        "topic.bootstrapServers": st.one_of(
            st.sampled_from(["", "nohost", ":9092", "a b:1", "127.0.0.1:1", "127.0.0.1:x", "h:1,,"]),
            json_values,
        ),
        "topic.topicName": st.one_of(
            st.sampled_from(["orders/k", "fuzzed#0", "fuzzed#99", "bad topic", "#", "/", ".", "a" * 250]),
            json_values,
        ),
        "message.key": secret_or(st.one_of(json_values, hostile_values)),
        "message.value": secret_or(st.one_of(json_values, hostile_values)),
        "headers": st.one_of(
            st.dictionaries(st.one_of(st.text(max_size=5), broken_text), secret_or(scalars), max_size=3),
            json_values,
            hostile_values,
        ),
        "authentication": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"username": secret_or(scalars), "password": secret_or(scalars), "type": scalars}
            ),
            json_values,
        ),
        "additionalProperties": st.dictionaries(
            st.sampled_from(
                [
                    "linger.ms",
                    "acks",
                    "sasl.jaas.config",
                    "client.id",
                    "x.y",
                    "retries",
                    "ssl.truststore.type",
                ]
            ),
            secret_or(scalars),
            max_size=3,
        ),
        "serializationType": st.one_of(st.sampled_from(["json", "avro", "xml"]), json_values),
        "avro": json_values,
        "avro.schema": st.one_of(st.just("{not json"), json_values),
        "address": st.one_of(
            st.sampled_from(["fuzzed", "fuzzed/x", "fuzzed#1", "", "a#-1"]),
            broken_text.map(lambda text: f"fuzzed/{text}"),
            json_values,
        ),
        "debug": json_values,
    }
    for path in draw(st.lists(st.sampled_from(sorted(replacements)), max_size=3, unique=True)):
        section, _, field = path.partition(".")
        value = draw(st.one_of(st.just(None), replacements[path]))
        target = payload if not field else payload.get(section)
        name = field or section
        if not isinstance(target, dict):
            continue
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    # Bounded waits: whatever else was drawn, a payload that reaches for a broker it cannot
    # use (unreachable, or TLS against the plaintext one) gives up after 300 ms, not 30 s.
    if "additionalProperties" not in payload:
        payload["additionalProperties"] = {}
    if isinstance(payload["additionalProperties"], dict):
        payload["additionalProperties"]["max.block.ms"] = 300
    return payload


def check_error(error, logs="", *, expected=DOCUMENTED):
    assert type(error).__name__ in expected, repr(error)
    assert isinstance(error, ConnectorError)
    assert not error.message.startswith("unexpected"), error.message  # bad input is not a defect
    assert SECRET not in str(error) + logs


@pytest.fixture
def secrets_in_moto():
    with mock_aws():
        parameters.clear_caches()
        boto3.client("secretsmanager").create_secret(Name="KAFKA_PASSWORD", SecretString=SECRET)
        yield
    parameters.clear_caches()


def test_producer_random_payloads(bootstrap, secrets_in_moto, capsys):
    @SETTINGS
    @given(payload=st.one_of(producer_payloads(bootstrap), json_values))
    def run(payload):
        try:
            response = producer_app.lambda_handler(payload, LocalLambdaContext("producer"))
        except Exception as error:
            check_error(error, "".join(capsys.readouterr()))
        else:
            assert {"topic", "partition", "offset", "timestamp"} <= set(response)
            assert SECRET not in json.dumps(response) + "".join(capsys.readouterr())

    run()


record_content = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": scalars,
        "key": st.one_of(st.sampled_from(["b3JkZXItMQ==", "e30=", "***", ""]), scalars),
        "value": st.one_of(
            st.sampled_from(["eyJvcmRlcklkIjogIm8tMSJ9", "bm90IGpzb24=", "AAAAAAE=", "AwA=", "==="]), scalars
        ),
        "headers": st.one_of(
            st.lists(
                st.dictionaries(st.text(max_size=4), st.lists(st.integers(-200, 300), max_size=4)), max_size=2
            ),
            json_values,
        ),
        "valueSchemaMetadata": json_values,
    },
)


@st.composite
def records(draw):
    """Mostly well-formed records with random content; now and then one without its identity."""
    offset = draw(st.integers(0, 10**6))
    record = {
        "topic": "payments",
        "partition": draw(st.integers(0, 3)),
        "offset": offset,
        **draw(record_content),
    }
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.sampled_from(["topic", "partition", "offset"]))] = draw(scalars)
    return record


kafka_events = st.one_of(
    st.fixed_dictionaries(
        {
            "records": st.dictionaries(
                st.sampled_from(["payments-0", "payments-1"]), st.lists(records(), max_size=3)
            )
        },
        optional={"eventSource": st.sampled_from(["aws:kafka", "SelfManagedKafka"])},
    ),
    json_values,
)


def test_consumer_random_events():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        aws_clients.client.cache_clear()
        aws = Aws().setup()
        consumer = BatchConsumer(
            ConsumerConfig.from_environment(
                {
                    "CORRELATION_KEY_EXPRESSION": "=value.orderId",
                    "MESSAGE_NAME": "payment",
                    "MESSAGE_TTL_SECONDS": "60",
                    "CORRELATION_TABLE": aws.table,
                    "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
                }
            ),
            metrics=Metrics(namespace="KafkaConnectorTests"),
        )

        @SETTINGS
        @given(event=kafka_events)
        def run(event):
            try:
                response = consumer.handle(event)
            except ConnectorInputError:
                return  # not a Kafka event: refused whole
            # Every record is accounted for: handled, dead-lettered, or reported for a retry.
            assert set(response) == {"batchItemFailures"}
            assert response["batchItemFailures"] == []

        run()
    aws_clients.client.cache_clear()


subscribe_events = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "taskToken": st.one_of(
                st.text(min_size=1, max_size=20), scalars, broken_text, st.just("t" * 500_000)
            ),
            "messageName": st.one_of(st.sampled_from(["payment", "a#b", ""]), scalars, broken_text),
            "correlationKey": st.one_of(json_values, hostile_values, st.just("k" * 3000)),
            "activationCondition": st.one_of(
                st.sampled_from(["=value.amount > 0", "=value.(", "", "={% %}"]), scalars
            ),
            "ttlSeconds": scalars,
        },
    ),
    json_values,
)


def test_subscribe_random_events(aws, subscribe_handler):
    @SETTINGS
    @given(event=subscribe_events)
    def run(event):
        try:
            response = subscribe_handler(event)
        except Exception as error:
            check_error(error, expected={"ConnectorInputError"})
        else:
            assert response["status"] == "waiting"

    run()
