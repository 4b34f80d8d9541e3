"""Consumer: the whole handler on a 1,000-record batch vs Powertools' ``kafka_consumer``.

A (ours): ``functions.consumer.app.lambda_handler`` as Lambda calls it — its decorators
(``Logger.inject_lambda_context``, the tracer, ``Metrics.log_metrics`` and its EMF flush,
the handler boundary), ``BatchConsumer.handle`` and the partial batch response — in start
mode with an activation condition (``=value.amount > 1000``) false for every record, so no
AWS call is made. A fresh copy of the module is loaded with that configuration in its
environment, as a cold start would read it. Its output goes to /dev/null (the cheapest
stand-in for the runtime's log pipe).

B (Powertools): the ``kafka_consumer`` decorator with ``SchemaConfig(value_schema_type="JSON")``
over the same event, the handler touching ``.value`` and ``.key`` of every record (the
properties are lazy: touching them is what decodes).

Goal (issue 13): A ≤ 1.0× B at 1,000 records; also reported at 10,000 (the mapping's
maximum batch). The breakdown keeps the earlier figure, ``BatchConsumer.prepare`` alone
(decode + condition + key, correlate mode, 78 % activated) against B, with each step of
it timed apart, and a cProfile of the whole handler prints its top entries.
"""

from __future__ import annotations

import cProfile
import gc
import importlib.util
import json
import pstats
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.common import (
    Report,
    Row,
    Table,
    best_of,
    environment,
    format_table,
    goal_row,
    interleave,
    median,
    ms,
    p95,
    quiet,
    timed,
)

ACTIVATION_CONDITION = "=value.amount > 10"
CORRELATION_KEY = "=value.orderId"
#: The whole-handler run: start mode, a condition no record meets (amounts are 0–49).
HANDLER_ENVIRONMENT = {
    "CONNECTOR_MODE": "start",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
    "ACTIVATION_CONDITION": "=value.amount > 1000",
    "POWERTOOLS_METRICS_NAMESPACE": "KafkaConnectorBench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


def consumer_handler() -> Callable[[dict[str, Any], Any], Any]:
    """``functions/consumer/app.py``'s ``lambda_handler``, from a fresh copy of the module.

    Loaded under its own name with :data:`HANDLER_ENVIRONMENT` set, so that the
    configuration it reads at import is the benchmark's, whatever was imported before.
    """
    path = Path(ROOT, "functions", "consumer", "app.py")
    spec = importlib.util.spec_from_file_location("bench_consumer_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with environment(HANDLER_ENVIRONMENT):
        spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
    return handler


def powertools_consumer() -> Callable[[dict[str, Any], Any], int]:
    from aws_lambda_powertools.utilities.kafka import SchemaConfig, kafka_consumer

    @kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
    def powertools_handler(consumer_records: Any, _context: Any) -> int:
        touched = 0
        for record in consumer_records.records:
            _ = record.value, record.key
            touched += 1
        return touched

    return powertools_handler


def run(
    *,
    records: int = 1000,
    rounds: int = 30,
    profile_rounds: int = 20,
    component_repeats: int = 7,
    large_records: int = 10000,
    large_rounds: int = 7,
) -> Report:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities.kafka import SchemaConfig, kafka_consumer

    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.records import iter_records
    from local.context import LocalLambdaContext

    event = kafka_event(records)
    context = LocalLambdaContext("consumer")
    handler = consumer_handler()
    powertools_handler = powertools_consumer()
    report = Report("consumer", f"Consumer: a {records}-record batch, ours vs Powertools kafka_consumer")

    with quiet():
        response = handler(event, context)
    if response != {"batchItemFailures": []} or powertools_handler(event, context) != records:
        raise RuntimeError(f"the two sides did not handle the batch: {str(response)[:300]}")

    # -- the goal: the whole handler ----------------------------------------------------------------
    gc.collect()
    with quiet():
        whole, base = interleave(
            [lambda: handler(event, context), lambda: powertools_handler(event, context)], rounds, warmup=3
        )
    report.rows.append(
        goal_row(
            f"whole lambda_handler (start mode, condition false for all) vs Powertools (value, key),"
            f" {records} records ({rounds} rounds, median)",
            f"{ms(median(whole))} vs {ms(median(base))} (p95 {ms(p95(whole))} vs {ms(p95(base))})",
            median(whole) / median(base),
            1.0,
        )
    )
    if large_records:
        large = kafka_event(large_records)
        gc.collect()
        with quiet():
            whole_large, base_large = interleave(
                [lambda: handler(large, context), lambda: powertools_handler(large, context)],
                large_rounds,
                warmup=1,
            )
        report.rows.append(
            goal_row(
                f"the same at {large_records} records"
                + (" (the mapping's maximum batch)" if large_records == 10000 else "")
                + f" ({large_rounds} rounds, median)",
                f"{ms(median(whole_large))} vs {ms(median(base_large))}",
                median(whole_large) / median(base_large),
                1.0,
            )
        )
        del large
    report.rows.append(
        Row(
            "per record: whole handler / Powertools",
            f"{median(whole) / records * 1e6:.1f} µs / {median(base) / records * 1e6:.1f} µs",
        )
    )

    # -- breakdown: prepare() alone, correlate mode, as measured before -----------------------------
    consumer = BatchConsumer(consumer_config(), metrics=Metrics(namespace="KafkaConnectorBench"))

    def ours() -> list[Any]:
        return [consumer.prepare(record) for record in iter_records(event)]

    @kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
    def powertools_with_headers(consumer_records: Any, _context: Any) -> int:
        touched = 0
        for record in consumer_records.records:
            _ = record.value, record.key, record.headers
            touched += 1
        return touched

    prepared = ours()
    activated = sum(p.inbound is not None for p in prepared)
    failed = [p.failure for p in prepared if p.failure is not None]
    if failed:
        raise RuntimeError(f"prepare() failed on the batch: {failed[:3]}")
    gc.collect()
    a, b, b_headers = interleave(
        [ours, lambda: powertools_handler(event, context), lambda: powertools_with_headers(event, context)],
        rounds,
        warmup=3,
    )
    report.rows.append(
        Row(
            "breakdown: BatchConsumer.prepare alone (decode + condition + key, correlate mode,"
            f" {activated} of {records} activated) vs Powertools (value, key)",
            f"{ms(median(a))} vs {ms(median(b))} (p95 {ms(p95(a))} vs {ms(p95(b))})",
            f"{median(a) / median(b):.2f}x",
        )
    )
    report.rows.append(
        Row(
            "breakdown: prepare alone vs Powertools also touching .headers (ours leaves them to delivery)",
            f"{ms(median(a))} vs {ms(median(b_headers))}",
            f"{median(a) / median(b_headers):.2f}x",
        )
    )
    report.tables.append(_breakdown(consumer, event, median(a), component_repeats))
    report.tables.append(_on_delivery(ours, component_repeats))
    report.notes.append(_profile(lambda: handler(event, context), profile_rounds))
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
    ``decode_headers`` of the pending headers alone, then ``Inbound.complete()``, which
    decodes them and encodes the result as it will be sent, before any hand-over.
    """
    from kafka_connector.inbound.records import decode_headers

    def best(step: Any) -> float:
        samples = []
        for _ in range(repeats):
            inbounds = [p.inbound for p in prepare_batch() if p.inbound is not None]
            samples.append(timed(lambda inbounds=inbounds: [step(i) for i in inbounds]))
        return min(samples)

    headers = best(lambda inbound: decode_headers(inbound.pending_headers))
    complete = best(lambda inbound: inbound.complete())
    return Table(
        "Not in prepare(): what each activated message costs once it is delivered, buffered or"
        f" starts an execution (all activated records of the batch, best of {repeats})",
        ("step", "time"),
        [
            ("decode_headers of the pending headers alone", ms(headers)),
            ("Inbound.complete() (headers decoded + the result's JSON, as sent)", ms(complete)),
        ],
    )


def _profile(function: Callable[[], Any], rounds: int, top: int = 15) -> str:
    """cProfile's top entries by own time over ``rounds`` calls of the whole handler, per batch."""
    profiler = cProfile.Profile()
    with quiet():
        profiler.enable()
        for _ in range(rounds):
            function()
        profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> figures
    total = sum(own for _, _, own, _, _ in entries.values())
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in ranked:
        where = name if file == "~" else f"{_short(file)}:{line}({name})"
        rows.append(
            (
                where,
                f"{calls / rounds:,.0f}",
                ms(own / rounds),
                f"{100 * own / total:.0f}%",
                ms(cumulative / rounds),
            )
        )
    return (
        f"cProfile of the whole lambda_handler over {rounds} batches (times per batch, inflated by the"
        f" profiler), top {top} by own time:\n"
        + format_table(("function", "calls", "own", "share", "cumulative"), rows)
    )


def _short(file: str) -> str:
    """A profiled file's path from the repository, the layer or site-packages."""
    stdlib = sysconfig.get_paths()["stdlib"] + "/"
    for marker in ("site-packages/", "kafka_connector/kafka_connector/", str(ROOT) + "/", stdlib):
        if marker in file:
            return file.split(marker, 1)[1]
    return Path(file).name
