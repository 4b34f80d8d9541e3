"""G7, generated: every record ends in exactly the one outcome the contract gives it.

Hypothesis builds batches from a catalogue of record kinds — good ones, ones the activation
condition skips or fails on, and every kind of poison for every phase: decoding (base64,
framing bytes, a Glue version that does not exist, zlib that is not zlib, JSON 100,000 deep),
expressions (no key, an empty key, a condition that raises), and delivery (a lone surrogate
in the value, header shapes that are not byte arrays, NaN, numbers beyond a double). Each kind
has the outcome docs/outcomes.md gives it; a model replays the batch in partition order
(the waiting execution is taken by the first deliverable record of its key; a partition
stops at its first transient failure) and the test checks what AWS shows afterwards:

* the partial batch response is exactly the held-back records, in order;
* the dead-letter queue holds exactly the dead-lettered records, each once, with its error
  (the test reads and empties the queue it accounts for);
* the correlation table holds a body for exactly the buffered records, under the canonical
  key, with a strict-JSON result; a started execution exists for exactly the started ones,
  with a strict-JSON input; the waiting execution is resumed exactly when a record was
  delivered to it, with that record;
* every dead-lettered and every held-back record is logged at WARNING with its code and reason.

Since the expected sets are disjoint and each observed set equals its expected set, every
record has exactly one outcome. Both modes run: correlate with ``MESSAGE_TTL_SECONDS`` > 0,
and start; transient causes are real — a dead-letter queue or a state machine that does not
exist.
"""

from __future__ import annotations

import decimal
import io
import itertools
import json
import logging
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import fastavro
import pytest
from aws_lambda_powertools import Metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.keys import body_key, head_key
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import register_glue_schema

TOPIC = "payments"
CONDITION = '=value.n ? value.n > 0 : rawValue != "skip"'  # raises on {"n": "abc"} (T2009)
WAITING_KEY = "o-wait"

AVRO_SCHEMA = {
    "type": "record",
    "name": "Payment",
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "ratio", "type": "double"},
    ],
}


def strict(text: str) -> Any:
    """JSON as any other parser reads it: NaN/Infinity are refused."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"not strict JSON: {constant} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def avro_frame(version: str, order_id: str, compression: int) -> bytes:
    buffer = io.BytesIO()
    value = {
        "orderId": order_id,
        "blob": b"\x00\xff",
        "price": decimal.Decimal("12.50"),
        "ratio": float("nan"),
    }
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(AVRO_SCHEMA), value)
    body = buffer.getvalue()
    return bytes((3, compression)) + uuid.UUID(version).bytes + (zlib.compress(body) if compression else body)


# -- the catalogue ---------------------------------------------------------------------------------

# What each kind becomes, by mode: "deliverable" (correlate: delivered or buffered; start:
# started), "skipped", or the dead-letter error name.
DELIVERABLE = "deliverable"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Kind:
    name: str
    correlate: str  # DELIVERABLE, SKIPPED or an error name
    start: str
    check: Any = None  # what the delivered/started result must show, given the result


def json_value(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


KINDS = {
    "good": Kind("good", DELIVERABLE, DELIVERABLE),
    "nan": Kind(
        "nan",
        DELIVERABLE,
        DELIVERABLE,
        check=lambda r: r["value"]["amount"] == "NaN" and r["value"]["limits"] == ["Infinity", "-Infinity"],
    ),
    "beyond-double": Kind(
        "beyond-double", DELIVERABLE, DELIVERABLE, check=lambda r: r["value"]["amount"] == "Infinity"
    ),
    "big-int-key": Kind("big-int-key", DELIVERABLE, DELIVERABLE),
    "float-key": Kind("float-key", DELIVERABLE, DELIVERABLE),
    "odd-but-valid-headers": Kind(
        "odd-but-valid-headers", DELIVERABLE, DELIVERABLE, check=lambda r: r["headers"] == {"h": "\x2c\x38"}
    ),
    "glue-zlib": Kind(
        "glue-zlib",
        DELIVERABLE,
        DELIVERABLE,
        check=lambda r: (
            r["value"]["blob"] == "AP8=" and r["value"]["price"] == "12.50" and r["value"]["ratio"] == "NaN"
        ),
    ),
    "skip-text": Kind("skip-text", SKIPPED, SKIPPED),
    "skip-condition": Kind("skip-condition", SKIPPED, SKIPPED),
    "condition-raises": Kind("condition-raises", "ExpressionError", "ExpressionError"),
    "no-key": Kind("no-key", "ExpressionError", DELIVERABLE),
    "empty-key": Kind("empty-key", "ExpressionError", DELIVERABLE),
    "tombstone": Kind("tombstone", "ExpressionError", DELIVERABLE, check=lambda r: r["rawValue"] is None),
    "empty-value": Kind("empty-value", "ExpressionError", DELIVERABLE, check=lambda r: r["rawValue"] == ""),
    "surrogate-in-value": Kind("surrogate-in-value", "UndecodableRecord", "UndecodableRecord"),
    "surrogate-in-key": Kind("surrogate-in-key", "UndecodableRecord", "UndecodableRecord"),
    "surrogate-in-header-name": Kind("surrogate-in-header-name", "UndecodableRecord", "UndecodableRecord"),
    "headers-not-bytes": Kind("headers-not-bytes", "UndecodableRecord", "UndecodableRecord"),
    "deep": Kind("deep", "UndecodableRecord", "UndecodableRecord"),
    "bad-base64": Kind("bad-base64", "UndecodableRecord", "UndecodableRecord"),
    "glue-zlib-garbage": Kind("glue-zlib-garbage", "UndecodableRecord", "UndecodableRecord"),
    "glue-missing-version": Kind("glue-missing-version", "UndecodableRecord", "UndecodableRecord"),
    "confluent-without-schema": Kind("confluent-without-schema", "UndecodableRecord", "UndecodableRecord"),
}

BAD_HEADERS = [
    [{"h": "not bytes"}],
    [{"h": [1.5]}],
    [{"h": [[1]]}],
    [{"h": None}],
    {"h": [104]},
    ["h"],
    7,
]


@dataclass
class Planned:
    kind: Kind
    key: str | None  # the canonical correlation key text, when the record has one
    raw: dict[str, Any] = field(default_factory=dict)


def build(
    kind: Kind, partition: int, offset: int, order_id: str, *, glue_version: str, bad_headers: Any
) -> Planned:
    """The Lambda record for one kind, as the event source mapping would send it."""
    value: bytes | None = json_value(orderId=order_id, amount=1)
    key: str | None = order_id
    headers: list[tuple[str, bytes]] = [("source", b"psp")]
    replace: dict[str, Any] = {}
    name = kind.name
    if name == "nan":
        value = f'{{"orderId": "{order_id}", "amount": NaN, "limits": [Infinity, -Infinity]}}'.encode()
    elif name == "beyond-double":
        value = f'{{"orderId": "{order_id}", "amount": 1e400}}'.encode()
    elif name == "big-int-key":
        value, key = b'{"orderId": 1234567890123456789}', "1234567890123456789"
    elif name == "float-key":
        value, key = b'{"orderId": 7.0}', "7"
    elif name == "odd-but-valid-headers":
        replace["headers"] = [{"h": [300, -200]}]  # taken b & 0xFF, as the mapping's signed bytes are
    elif name == "glue-zlib":
        value = avro_frame(glue_version, order_id, 5)
    elif name == "skip-text":
        value, key = b"skip", None
    elif name == "skip-condition":
        value = json_value(orderId=order_id, n=-1)
    elif name == "condition-raises":
        value = json_value(orderId=order_id, n="abc")
    elif name == "no-key":
        value, key = json_value(amount=1), None
    elif name == "empty-key":
        value, key = json_value(orderId=""), None
    elif name == "tombstone":
        value, key = None, None
    elif name == "empty-value":
        value, key = b"", None
    elif name == "surrogate-in-value":
        value = f'{{"orderId": "{order_id}", "note": "cut \\ud83d"}}'.encode()
    elif name == "surrogate-in-key":
        value, key = b'{"orderId": "\\ud83d"}', None
    elif name == "surrogate-in-header-name":
        replace["headers"] = [{"\ud83d": [104]}]
    elif name == "headers-not-bytes":
        replace["headers"] = bad_headers
    elif name == "deep":
        value, key = b'{"orderId": "o-deep", "d": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None
    elif name == "bad-base64":
        replace["value"], key = "***", None
    elif name == "glue-zlib-garbage":
        value, key = bytes((3, 5)) + uuid.uuid4().bytes + b"not zlib", None
    elif name == "glue-missing-version":
        value, key = avro_frame(str(uuid.uuid4()), order_id, 0), None
    elif name == "confluent-without-schema":
        value, key = b"\x00\x00\x00\x00\x07" + b"\x02", None
    event = lambda_kafka_event([KafkaRecord(TOPIC, partition, offset, value, b"k", headers, 1732190000000)])
    raw = event["records"][f"{TOPIC}-{partition}"][0]
    raw.update(replace)
    return Planned(kind, key, raw)


@st.composite
def batches(draw):
    """1–8 records over two partitions, offsets ascending per partition (as the mapping sends them)."""
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=8))
    plan = []
    offsets = {0: draw(st.integers(0, 1000)), 1: draw(st.integers(0, 1000))}
    for index, name in enumerate(kinds):
        partition = draw(st.integers(0, 1))
        offsets[partition] += draw(st.integers(1, 3))
        order_id = draw(st.sampled_from([WAITING_KEY, f"o-{index}"]))
        plan.append((name, partition, offsets[partition], order_id, draw(st.sampled_from(BAD_HEADERS))))
    return plan


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def glue_version(aws):
    return register_glue_schema("outcomes", "payment", AVRO_SCHEMA)


def warnings_by_record(caplog) -> dict[tuple[int, int], list[logging.LogRecord]]:
    found: dict[tuple[int, int], list[logging.LogRecord]] = {}
    for record in caplog.records:
        if record.levelno == logging.WARNING and hasattr(record, "outcome"):
            found.setdefault((record.partition, record.offset), []).append(record)
    return found


def order_partitions(planned: list[Planned]) -> list[Planned]:
    """The event's order: partition by partition (as first seen), offsets ascending."""
    first_seen = []
    for p in planned:
        if p.raw["partition"] not in first_seen:
            first_seen.append(p.raw["partition"])
    return [p for partition in first_seen for p in planned if p.raw["partition"] == partition]


@dataclass
class Expected:
    held: list[tuple[int, int]] = field(default_factory=list)
    dead: dict[tuple[int, int], str] = field(default_factory=dict)
    deliverable: list[Planned] = field(default_factory=list)
    delivered: Planned | None = None


def model(planned: list[Planned], mode: str, *, queue_exists: bool, machine_exists: bool) -> Expected:
    """docs/outcomes.md, replayed: what each record of the batch must end as."""
    expected = Expected()
    stopped: set[int] = set()
    for p in planned:
        where = (p.raw["partition"], p.raw["offset"])
        if p.raw["partition"] in stopped:
            expected.held.append(where)  # PartitionHeldBack
            continue
        outcome = p.kind.correlate if mode == "correlate" else p.kind.start
        if outcome == SKIPPED:
            continue
        if outcome != DELIVERABLE:
            if queue_exists:
                expected.dead[where] = outcome
            else:  # the dead-letter queue refuses: the record is not safe anywhere, so not committed
                expected.held.append(where)
                stopped.add(p.raw["partition"])
            continue
        if mode == "start" and not machine_exists:  # StateMachineDoesNotExist: a misconfiguration
            expected.held.append(where)
            stopped.add(p.raw["partition"])
            continue
        if mode == "correlate" and p.key == WAITING_KEY and expected.delivered is None:
            expected.delivered = p
            continue
        expected.deliverable.append(p)
    return expected


def check_logs(caplog, expected: Expected) -> None:
    logged = warnings_by_record(caplog)
    for where in expected.held:
        [line] = [r for r in logged.get(where, []) if r.outcome == "held back"]
        assert line.error, line.getMessage()
        assert line.reason, line.getMessage()
        assert f"{TOPIC}-{where[0]}@{where[1]} held back: {line.error}: " in line.getMessage()
    for where, error in expected.dead.items():
        [line] = [r for r in logged.get(where, []) if r.outcome == "dead-lettered"]
        assert line.error == error, line.getMessage()


def check_dead_letters(aws, expected: Expected, planned: list[Planned]) -> None:
    raws = {(p.raw["partition"], p.raw["offset"]): p.raw for p in planned}
    bodies = aws.dead_letters()  # reads and empties the queue
    seen = {(b["partition"], b["offset"]): b for b in bodies}
    assert len(seen) == len(bodies), "a record was dead-lettered twice"
    assert {where: b["error"] for where, b in seen.items()} == expected.dead
    for where, body in seen.items():
        assert body["record"] == raws[where]
        assert body["topic"] == TOPIC
        assert body["reason"]


def event_of(planned: list[Planned]) -> dict[str, Any]:
    records: dict[str, list[dict[str, Any]]] = {}
    for p in planned:
        records.setdefault(f"{TOPIC}-{p.raw['partition']}", []).append(p.raw)
    return {"eventSource": "aws:kafka", "records": records}


def correlate_batch(aws, subscribe_handler, caplog, plan, *, queue_exists, n, glue_version):
    """One batch in correlate mode (TTL > 0, one execution waiting for WAITING_KEY), checked whole."""
    caplog.clear()
    message_name = f"payment{n}"
    planned = order_partitions(
        [
            build(KINDS[k], part, off, oid, glue_version=glue_version, bad_headers=bad)
            for k, part, off, oid, bad in plan
        ]
    )
    execution, token = aws.start_waiting(f"waiting-{n}")
    subscribed = subscribe_handler(
        {"taskToken": token, "messageName": message_name, "correlationKey": WAITING_KEY}
    )
    assert subscribed["status"] == "waiting"
    consumer = BatchConsumer(
        ConsumerConfig.from_environment(
            {
                "MESSAGE_NAME": message_name,
                "ACTIVATION_CONDITION": CONDITION,
                "CORRELATION_KEY_EXPRESSION": "=value.orderId",
                "MESSAGE_TTL_SECONDS": "600",
                "CORRELATION_TABLE": aws.table,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url if queue_exists else aws.dlq_url + "-gone",
            }
        ),
        metrics=Metrics(namespace="KafkaConnectorTests"),
    )
    expected = model(planned, "correlate", queue_exists=queue_exists, machine_exists=True)

    response = consumer.handle(event_of(planned))

    assert response["batchItemFailures"] == [
        {"itemIdentifier": {"partition": f"{TOPIC}-{part}", "offset": off}} for part, off in expected.held
    ]
    check_dead_letters(aws, expected, planned)
    # Buffered: a body with its payload, under the canonical key, for exactly the deliverable
    # records (a delivered message leaves a payload-free handled mark: not a buffered one).
    bodies = {
        item["messageId"]["S"]: item
        for item in aws.items()
        if item["pk"]["S"].startswith("msg#")
        and item["head"]["S"].startswith(f"{message_name}#")
        and "result" in item
    }
    expected_ids = {f"{TOPIC}-{p.raw['partition']}-{p.raw['offset']}": p for p in expected.deliverable}
    assert set(bodies) == set(expected_ids)
    for message_id, p in expected_ids.items():
        body = bodies[message_id]
        assert body["pk"]["S"] == body_key(head_key(message_name, p.key), message_id)
        result = strict(body["result"]["S"])
        assert result["offset"] == p.raw["offset"]
        assert p.kind.check is None or p.kind.check(result), result
    # Delivered: the waiting execution has exactly the record the model gave it.
    if expected.delivered is None:
        assert aws.status(execution) == "RUNNING"
        aws.sfn.stop_execution(executionArn=execution)
    else:
        described = aws.wait_finished(execution)
        assert described["status"] == "SUCCEEDED", described
        message = strict(described["output"])["message"]
        assert message["offset"] == expected.delivered.raw["offset"]
        assert expected.delivered.kind.check is None or expected.delivered.kind.check(message)
    check_logs(caplog, expected)


def start_batch(aws, caplog, plan, *, queue_exists, machine_exists, n, glue_version):
    """One batch in start mode, checked whole."""
    caplog.clear()
    planned = order_partitions(
        [
            build(KINDS[k], part, off, oid, glue_version=glue_version, bad_headers=bad)
            for k, part, off, oid, bad in plan
        ]
    )
    machine = aws.pass_machine(f"started-{n}")
    if not machine_exists:
        aws.sfn.delete_state_machine(stateMachineArn=machine)
    consumer = BatchConsumer(
        ConsumerConfig.from_environment(
            {
                "CONNECTOR_MODE": "start",
                "STATE_MACHINE_ARN": machine,
                "ACTIVATION_CONDITION": CONDITION,
                "DEAD_LETTER_QUEUE_URL": aws.dlq_url if queue_exists else aws.dlq_url + "-gone",
            }
        ),
        metrics=Metrics(namespace="KafkaConnectorTests"),
    )
    expected = model(planned, "start", queue_exists=queue_exists, machine_exists=machine_exists)

    response = consumer.handle(event_of(planned))

    assert response["batchItemFailures"] == [
        {"itemIdentifier": {"partition": f"{TOPIC}-{part}", "offset": off}} for part, off in expected.held
    ]
    check_dead_letters(aws, expected, planned)
    started = (
        {e["name"]: e["executionArn"] for e in aws.sfn.list_executions(stateMachineArn=machine)["executions"]}
        if machine_exists
        else {}
    )
    by_name = {f"{TOPIC}-{p.raw['partition']}-{p.raw['offset']}": p for p in expected.deliverable}
    assert set(started) == set(by_name)
    for name, arn in started.items():
        given_input = strict(aws.sfn.describe_execution(executionArn=arn)["input"])
        p = by_name[name]
        assert given_input["offset"] == p.raw["offset"]
        assert p.kind.check is None or p.kind.check(given_input), given_input
    assert aws.items() == []
    check_logs(caplog, expected)


# -- every kind once, deterministically ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_ends_as_the_contract_says_correlate_mode(
    aws, glue_version, subscribe_handler, caplog, kind
):
    """The kind first, for the waiting key, then a good record for it: a poison record claims nothing."""
    caplog.set_level(logging.WARNING, logger="kafka_connector.inbound.batch")
    plan = [(kind, 0, 10, WAITING_KEY, BAD_HEADERS[0]), ("good", 0, 11, WAITING_KEY, BAD_HEADERS[0])]
    correlate_batch(aws, subscribe_handler, caplog, plan, queue_exists=True, n=0, glue_version=glue_version)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_ends_as_the_contract_says_start_mode(aws, glue_version, caplog, kind):
    caplog.set_level(logging.WARNING, logger="kafka_connector.inbound.batch")
    plan = [(kind, 0, 10, "o-1", BAD_HEADERS[1]), ("good", 1, 3, "o-2", BAD_HEADERS[1])]
    start_batch(aws, caplog, plan, queue_exists=True, machine_exists=True, n=0, glue_version=glue_version)


# -- generated batches: kinds mixed, partitions stopped by real transient causes ---------------------


def test_every_record_ends_in_exactly_one_outcome_correlate_mode(
    aws, glue_version, subscribe_handler, caplog
):
    caplog.set_level(logging.WARNING, logger="kafka_connector.inbound.batch")
    examples = itertools.count()

    @SETTINGS
    @given(plan=batches(), queue_exists=st.booleans() | st.just(True))
    def run(plan, queue_exists):
        correlate_batch(
            aws,
            subscribe_handler,
            caplog,
            plan,
            queue_exists=queue_exists,
            n=next(examples),
            glue_version=glue_version,
        )

    run()


def test_every_record_ends_in_exactly_one_outcome_start_mode(aws, glue_version, caplog):
    caplog.set_level(logging.WARNING, logger="kafka_connector.inbound.batch")
    examples = itertools.count()

    @SETTINGS
    @given(
        plan=batches(),
        queue_exists=st.booleans() | st.just(True),
        machine_exists=st.booleans() | st.just(True),
    )
    def run(plan, queue_exists, machine_exists):
        start_batch(
            aws,
            caplog,
            plan,
            queue_exists=queue_exists,
            machine_exists=machine_exists,
            n=next(examples),
            glue_version=glue_version,
        )

    run()
