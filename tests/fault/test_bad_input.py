"""Bad input, generated: only the three documented errors ever escape, and never a secret.

Hypothesis feeds random payloads to the producer function and random events to the
consumer and subscribe functions. A response is fine; an error must be one of
``ConnectorInputError``, ``KafkaNonRetryableError``, ``KafkaRetryableError`` — and bad
input must never be mistaken for a defect (a ``KafkaRetryableError("unexpected …")``).
For the consumer, each record of a random event must end in exactly one outcome, in both
modes and in every phase (tests/fault/test_record_outcomes.py checks each outcome exactly).
"""

import base64
import itertools
import json
import sys
import zlib
from collections import Counter

import boto3
import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_note
from hypothesis import strategies as st
from moto import mock_aws

from functions.producer import app as producer_app
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import ConnectorError, ConnectorInputError
from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.step_functions import execution_name
from local.context import LocalLambdaContext
from tests.support.aws import Aws
from tests.support.leaks import logger_writing_to

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
            with logger_writing_to(producer_app.logger, sys.stdout):
                response = producer_app.lambda_handler(payload, LocalLambdaContext("producer"))
        except Exception as error:
            check_error(error, "".join(capsys.readouterr()))
        else:
            assert {"topic", "partition", "offset", "timestamp"} <= set(response)
            assert SECRET not in json.dumps(response) + "".join(capsys.readouterr())

    run()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def json_text_value(text: str) -> str:
    return b64(text.encode())


# Values that get past decoding and fail, or must not fail, later: in the delivery phase
# (encoding the result, decoding the headers at delivery) — and every framing byte.
delivery_phase_values = st.one_of(
    # A lone surrogate: what JSON.stringify writes for a string cut inside an emoji.
    st.builds(
        lambda t: json_text_value(f'{{"orderId": "o-1", "note": "{t}\\ud83d"}}'), st.text("ab", max_size=3)
    ),
    st.just(json_text_value('{"orderId": "\\ud83d"}')),
    # What Python's json.dumps writes by default: not JSON anywhere else.
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]).map(
        lambda c: json_text_value(f'{{"orderId": "o-1", "amount": {c}}}')
    ),
    # Nested beyond any decoder's recursion, and merely deep.
    st.sampled_from([100_000, 2_000, 40]).map(
        lambda depth: json_text_value('{"orderId": "o-1", "d": ' + "[" * depth + "]" * depth + "}")
    ),
    # Every framing byte: Glue (3) with compression 0, 5 or another byte, over garbage or zlib
    # garbage; Confluent (0); and short values that only start like a frame.
    st.builds(
        lambda first, second, version, body: b64(bytes((first, second)) + version + body),
        st.sampled_from([0, 3]),
        st.sampled_from([0, 5, 1, 255]),
        st.binary(min_size=16, max_size=16),
        st.one_of(
            st.binary(max_size=12), st.just(zlib.compress(b"\x02\x04ab")), st.just(zlib.compress(b"")[:-2])
        ),
    ),
    st.binary(max_size=4).map(lambda body: b64(bytes((3, 5)) + body)),
    st.just(b64(b"")),  # an empty value: the empty text, not a tombstone
)

odd_headers = st.one_of(
    st.lists(
        st.dictionaries(
            st.one_of(st.text(max_size=4), broken_text),
            st.one_of(
                st.lists(st.integers(-200, 300), max_size=4),
                st.lists(
                    st.one_of(st.floats(), st.text(max_size=2), st.none(), st.lists(st.integers())),
                    max_size=3,
                ),
                scalars,
            ),
            max_size=2,
        ),
        max_size=2,
    ),
    json_values,
)

record_content = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": scalars,
        "key": st.one_of(st.sampled_from(["b3JkZXItMQ==", "e30=", "***", ""]), scalars),
        "value": st.one_of(
            st.sampled_from(["eyJvcmRlcklkIjogIm8tMSJ9", "bm90IGpzb24=", "AAAAAAE=", "AwA=", "==="]),
            scalars,
            delivery_phase_values,
        ),
        "headers": st.one_of(
            st.lists(
                st.dictionaries(st.text(max_size=4), st.lists(st.integers(-128, 127), max_size=4)), max_size=2
            ),
            odd_headers,
        ),
        "valueSchemaMetadata": st.one_of(
            json_values,
            st.builds(lambda v: {"dataFormat": "AVRO", "schemaId": str(v)}, st.uuids()),
        ),
    },
)


good_values = st.builds(
    lambda key, content: json_text_value(json.dumps({"orderId": key, "content": content})),
    st.one_of(st.text(min_size=1, max_size=4), st.integers(), st.floats(allow_nan=False)),
    json_values,
)

# A record that gets past decoding and the key more often than not: the delivery phase is
# reached, where half of these values and headers then fail.
deliverable_content = st.fixed_dictionaries(
    {"value": st.one_of(good_values, delivery_phase_values)},
    optional={
        "key": st.sampled_from(["b3JkZXItMQ==", "e30=", ""]),
        "headers": st.one_of(
            st.lists(
                st.dictionaries(st.text(max_size=4), st.lists(st.integers(-128, 127), max_size=4)), max_size=2
            ),
            odd_headers,
        ),
        "timestamp": st.integers(0, 2**41),
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
        **draw(st.one_of(record_content, deliverable_content)),
    }
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.sampled_from(["topic", "partition", "offset"]))] = draw(scalars)
    return record


@st.composite
def delivery_events(draw):
    """Events of 1–6 records with their identity, most of which get as far as the delivery phase."""
    records_by_partition: dict[str, list[dict]] = {}
    offsets = [draw(st.integers(0, 1000)), draw(st.integers(0, 1000))]
    for _ in range(draw(st.integers(1, 6))):
        partition = draw(st.integers(0, 1))
        offsets[partition] += 1
        content = draw(st.one_of(deliverable_content, deliverable_content, record_content))
        records_by_partition.setdefault(f"payments-{partition}", []).append(
            {"topic": "payments", "partition": partition, "offset": offsets[partition], **content}
        )
    return {"eventSource": "aws:kafka", "records": records_by_partition}


kafka_events = st.one_of(
    st.fixed_dictionaries(
        {
            "records": st.dictionaries(
                st.sampled_from(["payments-0", "payments-1"]), st.lists(records(), max_size=3)
            )
        },
        optional={"eventSource": st.sampled_from(["aws:kafka", "SelfManagedKafka"])},
    ),
    delivery_events(),
    delivery_events(),
    json_values,
)


def strictly_json(text):
    def refuse(constant):
        raise AssertionError(f"{constant} left the connector: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def clear_table(aws):
    for item in aws.items():
        aws.dynamodb.delete_item(TableName=aws.table, Key={"pk": item["pk"]})


@pytest.mark.parametrize("mode", ["correlate", "start"])
def test_consumer_random_events(mode, caplog):
    """Random events, every phase: each record ends in one outcome, and only a non-event is refused whole.

    No cause here is transient, so nothing is held back: each record is either dead-lettered
    (its message read back from the queue) or went where its mode sends it — a buffered body
    (correlate, ``MESSAGE_TTL_SECONDS`` > 0) or a started execution (start) — never both,
    never neither, and what reached Step Functions or the table is strict JSON.
    """
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        aws_clients.client.cache_clear()
        aws = Aws().setup()
        examples = itertools.count()

        @SETTINGS
        @given(event=kafka_events)
        def run(event):
            caplog.clear()
            env = {
                "CORRELATION_KEY_EXPRESSION": "=value.orderId",
                "MESSAGE_NAME": "payment",
                "MESSAGE_TTL_SECONDS": "60",
                "CORRELATION_TABLE": aws.table,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            }
            machine = None
            if mode == "start":
                machine = aws.pass_machine(f"random-{next(examples)}")
                env.update(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine)
            consumer = BatchConsumer(
                ConsumerConfig.from_environment(env), metrics=Metrics(namespace="KafkaConnectorTests")
            )
            try:
                response = consumer.handle(event)
            except ConnectorInputError:
                assert aws.dead_letters() == []  # not a Kafka event: refused whole, nothing done
                return
            # Every record is accounted for: handled, dead-lettered, or reported for a retry.
            assert set(response) == {"batchItemFailures"}
            assert response["batchItemFailures"] == []

            identities = Counter(
                (r["topic"], r["partition"], r["offset"]) for rs in event["records"].values() for r in rs
            )
            dead = [(d["topic"], d["partition"], d["offset"]) for d in aws.dead_letters()]
            assert set(dead) <= set(identities)
            if mode == "correlate":
                bodies = [i for i in aws.items() if i["pk"]["S"].startswith("msg#")]
                arrived = {i["messageId"]["S"] for i in bodies}
                for body in bodies:
                    strictly_json(body["result"]["S"])
                clear_table(aws)
            else:
                executions = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
                arrived = {e["name"] for e in executions}
                for execution in executions:
                    strictly_json(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
            for identity, times in identities.items():
                if times > 1:
                    continue  # two records with one identity: each may end differently
                assert dead.count(identity) <= 1
                message_id = "-".join(map(str, identity))
                went = (message_id if mode == "correlate" else execution_name(message_id)) in arrived
                assert went != (identity in dead), (identity, went)
                event_note("record arrived" if went else "record dead-lettered")
            logged = {
                (r.topic, r.partition, r.offset)
                for r in caplog.records
                if r.levelname == "WARNING" and getattr(r, "outcome", None) == "dead-lettered"
            }
            assert logged == set(dead)

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
