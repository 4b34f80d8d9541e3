"""Consumer: a 1,000-record batch through our decode + expressions vs Powertools' ``kafka_consumer``.

A (ours): ``BatchConsumer.prepare`` on every record of a Lambda Kafka event — base64,
JSON value and key, the Avro framing check, the activation condition
``=value.amount > 10`` and the correlation key ``=value.orderId``. ``prepare`` makes no
AWS call; it is everything the consumer does per record before talking to DynamoDB or
Step Functions. Headers are decoded there only when an expression may read them; the
result's JSON is made only when a message is delivered, buffered or starts an execution
(both are timed apart, after the breakdown, as what a delivered message adds).

B (Powertools): the ``kafka_consumer`` decorator with ``SchemaConfig(value_schema_type="JSON")``
over the same event, the handler touching ``.value`` and ``.key`` of every record (the
properties are lazy: touching them is what decodes).

Goal: A faster than B, although A also evaluates two expressions per record. The profile
(pyinstrument) and a component breakdown show where A's time goes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

from bench.common import Report, Row, Table, best_of, goal_row, interleave, median, ms, p95, timed

ACTIVATION_CONDITION = "=value.amount > 10"
CORRELATION_KEY = "=value.orderId"


def order(index: int) -> dict[str, Any]:
    """A ~0.5 KB payment message."""
    return {
        "orderId": f"order-{index:06d}",
        "amount": index % 50,
        "currency": "EUR",
        "customer": {"id": f"customer-{index % 97:04d}", "name": "Jane Doe", "email": "jane.doe@example.com"},
        "items": [{"sku": f"sku-{j:04d}", "qty": j + 1, "price": 9.99 + j} for j in range(4)],
        "note": "x" * 140,
    }


def kafka_event(records: int) -> dict[str, Any]:
    """A Lambda Kafka event (MSK) of ``records`` records over three partitions."""
    from local.kafka_event import KafkaRecord, lambda_kafka_event

    return lambda_kafka_event(
        KafkaRecord(
            topic="payments",
            partition=index % 3,
            offset=index // 3,
            value=json.dumps(order(index)).encode(),
            key=f"order-{index:06d}".encode(),
            headers=[("source", b"checkout"), ("traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01")],
            timestamp=1795000000000 + index,
        )
        for index in range(records)
    )


def consumer_config() -> Any:
    from kafka_connector.inbound.config import ConsumerConfig

    return ConsumerConfig.from_environment(
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "ACTIVATION_CONDITION": ACTIVATION_CONDITION,
            "CORRELATION_KEY_EXPRESSION": CORRELATION_KEY,
            "CORRELATION_TABLE": "bench-correlation",
        }
    )


def run(
    *, records: int = 1000, rounds: int = 30, profile_rounds: int = 20, component_repeats: int = 7
) -> Report:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities.kafka import SchemaConfig, kafka_consumer

    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.records import iter_records
    from local.context import LocalLambdaContext

    event = kafka_event(records)
    consumer = BatchConsumer(consumer_config(), metrics=Metrics(namespace="KafkaConnectorBench"))
    context = LocalLambdaContext("consumer")

    def ours() -> list[Any]:
        return [consumer.prepare(record) for record in iter_records(event)]

    @kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
    def powertools_handler(consumer_records: Any, _context: Any) -> int:
        touched = 0
        for record in consumer_records.records:
            _ = record.value, record.key
            touched += 1
        return touched

    @kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
    def powertools_with_headers(consumer_records: Any, _context: Any) -> int:
        touched = 0
        for record in consumer_records.records:
            _ = record.value, record.key, record.headers
            touched += 1
        return touched

    @kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
    def powertools_keeping(consumer_records: Any, _context: Any) -> list[Any]:
        return [(record.value, record.key) for record in consumer_records.records]

    prepared = ours()
    activated = sum(p.inbound is not None for p in prepared)
    failed = [p.failure for p in prepared if p.failure is not None]
    if failed or powertools_handler(event, context) != records:
        raise RuntimeError(f"the two sides did not decode the batch: {failed[:3]}")

    gc.collect()
    a, b, b_headers = interleave(
        [ours, lambda: powertools_handler(event, context), lambda: powertools_with_headers(event, context)],
        rounds,
        warmup=3,
    )
    # Apart, so that the goal's A/B run is not disturbed by a side that keeps more memory.
    gc.collect()
    a_again, b_keeping = interleave([ours, lambda: powertools_keeping(event, context)], rounds, warmup=3)
    report = Report("consumer", f"Consumer: a {records}-record batch, ours vs Powertools kafka_consumer")
    report.rows.append(
        goal_row(
            f"ours (decode + condition + key) vs Powertools (value, key) ({rounds} rounds, median)",
            f"{ms(median(a))} vs {ms(median(b))} (p95 {ms(p95(a))} vs {ms(p95(b))})",
            median(a) / median(b),
            1.0,
            below=True,
        )
    )
    report.rows.append(
        Row(
            "ours vs Powertools also touching .headers (ours leaves them to delivery)",
            f"{ms(median(a))} vs {ms(median(b_headers))}",
            f"{median(a) / median(b_headers):.2f}x",
        )
    )
    report.rows.append(
        Row(
            "ours vs Powertools keeping (value, key) of every record (as ours keeps its batch)",
            f"{ms(median(a_again))} vs {ms(median(b_keeping))} (a separate A/B run)",
            f"{median(a_again) / median(b_keeping):.2f}x",
        )
    )
    report.rows.append(
        Row(
            "per record: ours / Powertools",
            f"{median(a) / records * 1e6:.1f} µs / {median(b) / records * 1e6:.1f} µs"
            f" ({activated} of {records} activated)",
        )
    )
    report.tables.append(_breakdown(consumer, event, median(a), component_repeats))
    report.tables.append(_on_delivery(ours, component_repeats))
    report.notes.append(_profile(ours, profile_rounds))
    return report


def _expression_label(expression: Any) -> str:
    return "Python fast path" if getattr(expression, "fast", None) is not None else "jsonatapy"


def _breakdown(consumer: Any, event: dict[str, Any], total: float, repeats: int) -> Table:
    """Each step of ``prepare``, timed alone over the whole batch with the layer's own functions."""
    from kafka_connector.inbound.message import expression_context
    from kafka_connector.inbound.records import (
        _avro_value,
        _b64,
        decode_headers,
        decode_record,
        iter_records,
        parse_text,
    )

    config = consumer.config
    with_headers = consumer._headers_first
    raws = list(iter_records(event))
    messages = [decode_record(raw, config.avro, with_headers=with_headers) for raw in raws]
    contexts = [expression_context(message) for message in messages]
    activated = [c for c in contexts if config.activation_condition.is_true(c)]
    keys = [(_b64(raw.get("key")) or b"").decode() for raw in raws]
    texts = [m["rawValue"] for m in messages]
    values = [_b64(raw.get("value")) for raw in raws]

    steps: list[tuple[str, Callable[[], Any] | None]] = [
        (
            f"decode_record (whole, with_headers={with_headers})",
            lambda: [decode_record(r, config.avro, with_headers=with_headers) for r in raws],
        ),
        ("  base64 of key and value", lambda: [(_b64(r.get("key")), _b64(r.get("value"))) for r in raws]),
        ("  JSON value (parse_text)", lambda: [parse_text(t) for t in texts]),
        ("  key (parse_text: cannot start JSON, returned as is)", lambda: [parse_text(k) for k in keys]),
        (
            "  Avro framing check of a JSON value (_avro_value)",
            lambda: [
                _avro_value(v, config.avro, r.get("valueSchemaMetadata"))
                for v, r in zip(values, raws, strict=True)
            ],
        ),
    ]
    if with_headers:
        steps.append(("  headers (decode_headers)", lambda: [decode_headers(r.get("headers")) for r in raws]))
    else:
        steps.append(("  headers: not decoded (no expression reads them; see the next table)", None))
    steps += [
        ("expression_context", lambda: [expression_context(m) for m in messages]),
        (
            f"activation condition ({_expression_label(config.activation_condition)})",
            lambda: [config.activation_condition.is_true(c) for c in contexts],
        ),
        (
            f"correlation key ({_expression_label(config.correlation_key)}, activated only)",
            lambda: [config.correlation_key.evaluate(c) for c in activated],
        ),
    ]
    rows: list[tuple[str, str, str]] = []
    for name, step in steps:
        if step is None:
            rows.append((name, "-", "-"))
        else:
            seconds = best_of(step, repeats)
            rows.append((name, ms(seconds), f"{100 * seconds / total:.0f}%"))
    kept = best_of(lambda: [consumer.prepare(r) for r in raws], repeats)
    dropped = best_of(lambda: [consumer.prepare(r) and None for r in raws], repeats)
    rows += [
        ("whole prepare() over the batch, results kept (as handle() keeps them)", ms(kept), ""),
        ("whole prepare() over the batch, each result dropped at once", ms(dropped), ""),
        ("whole prepare() over the batch (median of the A/B run)", ms(total), "100%"),
    ]
    return Table(
        "Where ours goes (each step alone over the batch, results kept, best of "
        f"{repeats}; shares of the whole, which also holds dict/Inbound building)",
        ("step", "time", "share"),
        rows,
    )


def _on_delivery(prepare_batch: Any, repeats: int) -> Table:
    """What a message someone waits for adds after ``prepare``: its headers and its result JSON.

    Timed on fresh ``Inbound`` objects from ``prepare`` (the layer caches both once made):
    ``Inbound.complete()`` decodes the pending headers, ``Inbound.result_json`` serialises.
    """

    def best(step: Any) -> float:
        samples = []
        for _ in range(repeats):
            inbounds = [p.inbound for p in prepare_batch() if p.inbound is not None]
            samples.append(timed(lambda inbounds=inbounds: [step(i) for i in inbounds]))
        return min(samples)

    complete = best(lambda inbound: inbound.complete())
    both = best(lambda inbound: inbound.result_json)
    return Table(
        "Not in prepare(): what each activated message costs once it is delivered, buffered or"
        f" starts an execution (all activated records of the batch, best of {repeats})",
        ("step", "time"),
        [
            ("Inbound.complete() (decode the pending headers)", ms(complete)),
            ("Inbound.result_json (complete() + json.dumps of the result)", ms(both)),
        ],
    )


def _profile(function: Any, rounds: int) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "pyinstrument is not installed: no profile."
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(rounds):
        function()
    profiler.stop()
    tree = profiler.output_text(
        unicode=False, color=False, processor_options={"filter_threshold": 0.02}
    ).splitlines()
    body = [
        line for line in tree[next(i for i, x in enumerate(tree) if x.startswith("Profile at")) + 1 :] if line
    ]
    header = (
        f"pyinstrument, ours over {rounds} batches ({profiler.last_session.duration:.2f} s), call tree,"
        " nodes over 2%:"
    )
    return header + "\n" + "\n".join(body)
