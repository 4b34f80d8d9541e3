"""Producer function: warm latency, client reuse, cold start and throughput, on a real broker.

* Warm invoke latency of ``functions.producer.app.lambda_handler`` (in process, through
  every Powertools decorator) vs raw kafka-python ``send().get()`` on the same broker and
  topic with the same ``acks``. Goal ≤ 1.1x: the floor is one produce round trip.
* vs a new ``KafkaProducer`` per call (construct, send, get, close), as the reference
  connector does: the speed-up of keeping the client warm.
* Cold start: a fresh interpreter imports the handler and makes its first invocation
  (bootstrap included), next to one that imports kafka-python and sends one record.
* Throughput: records/s over sequential invocations with ~1 KB JSON and Avro values.
* Batch: one invocation publishing 1,000 ``messages`` vs raw kafka-python sending the same
  records and flushing once (``acks=all``, same broker and topic). Goal ≥ 0.8x the raw
  throughput, i.e. the invoke takes ≤ 1.25x the raw send-all-and-flush.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any

from bench.common import (
    RESULT_MARKER,
    Report,
    Row,
    Table,
    environment,
    goal_row,
    interleave,
    median,
    ms,
    p95,
    quiet,
    result_of,
    run_python,
    timed,
    us,
)

GOAL_WARM_RATIO = 1.1
#: Batch goal: ≥ 0.8x raw throughput, judged as invoke time ≤ 1 / 0.8 of raw time.
GOAL_BATCH_THROUGHPUT = 0.8

SMALL_VALUE = {"name": "John Doe", "age": 29}
ORDER_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "currency", "type": "string"},
        {"name": "customer", "type": "string"},
        {
            "name": "items",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Item",
                    "fields": [
                        {"name": "sku", "type": "string"},
                        {"name": "qty", "type": "int"},
                        {"name": "price", "type": "double"},
                    ],
                },
            },
        },
        {"name": "note", "type": "string"},
    ],
}

_COLD_HANDLER = f"""
import json, os, time
from local.context import LocalLambdaContext
event = json.loads(os.environ["BENCH_EVENT"])
start = time.perf_counter()
import functions.producer.app as app
imported = time.perf_counter()
app.lambda_handler(event, LocalLambdaContext("producer"))
done = time.perf_counter()
print({RESULT_MARKER!r} + json.dumps({{"import": imported - start, "invoke": done - imported}}), flush=True)
os._exit(0)
"""

_COLD_RAW = f"""
import json, os, time
start = time.perf_counter()
import kafka
imported = time.perf_counter()
producer = kafka.KafkaProducer(bootstrap_servers=os.environ["BENCH_BOOTSTRAP"], acks="all")
producer.send(os.environ["BENCH_TOPIC"], value=b'{{"name":"John Doe","age":29}}', key=b"employee1").get(30)
done = time.perf_counter()
print({RESULT_MARKER!r} + json.dumps({{"import": imported - start, "invoke": done - imported}}), flush=True)
os._exit(0)
"""


def order_value(size: int = 1024) -> dict[str, Any]:
    """An order whose compact JSON is ``size`` bytes (the ``note`` pads it)."""
    value: dict[str, Any] = {
        "orderId": "order-000042",
        "amount": 129.95,
        "currency": "EUR",
        "customer": "customer-7f3a9c",
        "items": [{"sku": f"sku-{i:04d}", "qty": i + 1, "price": 9.99 + i} for i in range(8)],
        "note": "",
    }
    value["note"] = "n" * max(0, size - len(json.dumps(value, separators=(",", ":"))))
    return value


def producer_event(
    bootstrap: str, topic: str, value: Any, *, avro: bool = False, debug: bool = False
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "topic": {"bootstrapServers": bootstrap, "topicName": topic},
        "message": {"key": "employee1", "value": value},
        "headers": {"source": "checkout"},
    }
    if avro:
        event |= {"serializationType": "avro", "avro": {"schema": json.dumps(ORDER_SCHEMA)}}
    if debug:
        event["debug"] = True
    return event


def run(
    *,
    rounds: int = 1500,
    client_rounds: int = 20,
    throughput: int = 1000,
    block: int = 100,
    cold_runs: int = 5,
    overhead_rounds: int = 3000,
    batch_size: int = 1000,
    batch_rounds: int = 30,
) -> Report:
    from local.broker import kafka_bootstrap
    from tests.support.kafka import create_topic

    report = Report("producer", "Producer: warm latency, client reuse, cold start, throughput")
    with kafka_bootstrap() as bootstrap:
        topic = create_topic(bootstrap, partitions=1, prefix="bench")
        with environment({"POWERTOOLS_METRICS_NAMESPACE": _namespace()}):
            _warm(
                report,
                bootstrap=bootstrap,
                topic=topic,
                rounds=rounds,
                client_rounds=client_rounds,
                throughput=throughput,
                block=block,
                overhead_rounds=overhead_rounds,
            )
            _batch(report, bootstrap=bootstrap, topic=topic, size=batch_size, rounds=batch_rounds)
        _cold(report, bootstrap, topic, cold_runs)
    return report


def _namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "KafkaConnectorBench"


def _warm(
    report: Report,
    *,
    bootstrap: str,
    topic: str,
    rounds: int,
    client_rounds: int,
    throughput: int,
    block: int,
    overhead_rounds: int,
) -> None:
    from kafka import KafkaProducer

    from local.context import LocalLambdaContext

    with quiet():
        from functions.producer import app

    context = LocalLambdaContext("producer", timeout_seconds=3600)
    event = producer_event(bootstrap, topic, SMALL_VALUE)
    raw_value = json.dumps(SMALL_VALUE, separators=(",", ":")).encode()
    raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def handler() -> Any:
        return app.lambda_handler(event, context)

    def raw_send() -> Any:
        return raw.send(topic, value=raw_value, key=b"employee1", headers=[("source", b"checkout")]).get(30)

    def new_client() -> Any:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            return producer.send(
                topic, value=raw_value, key=b"employee1", headers=[("source", b"checkout")]
            ).get(30)
        finally:
            producer.close()

    without_flush = handler_without_metrics_flush(app, event, context)
    try:
        with quiet():
            handler_times, raw_times, *what_if = interleave(
                [handler, raw_send, *([without_flush] if without_flush else [])], rounds, warmup=50
            )
            reuse_times, new_times = interleave([handler, new_client], client_rounds, warmup=2)
            overhead = _handler_overhead(app, event, context, overhead_rounds)
            rates, sizes = _throughput(
                app, context, raw, bootstrap=bootstrap, topic=topic, count=throughput, block=block
            )
    finally:
        raw.close()
        app.publisher.close()  # the warm clients; the broker may stop after this benchmark

    ratio = median(handler_times) / median(raw_times)
    report.rows.append(
        goal_row(
            f"warm invoke vs raw send().get() ({rounds} interleaved rounds, median)",
            f"{ms(median(handler_times))} vs {ms(median(raw_times))}"
            f" (p95 {ms(p95(handler_times))} vs {ms(p95(raw_times))})",
            ratio,
            GOAL_WARM_RATIO,
        )
    )
    for without_flush_times in what_if:
        report.rows.append(
            Row(
                "what-if: without Metrics.log_metrics (no per-invoke EMF flush)",
                f"{ms(median(without_flush_times))} vs {ms(median(raw_times))} (the flush in situ:"
                f" {us(median(handler_times) - median(without_flush_times))})",
                f"{median(without_flush_times) / median(raw_times):.2f}x",
            )
        )
    speedup = median(new_times) / median(reuse_times)
    report.rows.append(
        Row(
            f"new client per call vs warm invoke ({client_rounds} rounds, median)",
            f"{ms(median(new_times))} vs {ms(median(reuse_times))}",
            f"{speedup:.1f}x faster warm",
        )
    )
    report.rows.append(
        Row(
            "handler's own cost: in the run above / alone with publish stubbed",
            f"{us(median(handler_times) - median(raw_times))} (difference of medians)"
            f" / {us(overhead['handler'])} (hot loop, see the table)",
        )
    )
    for label in ("json", "avro", "raw"):
        what = {
            "json": f"throughput, JSON value {sizes['json']} B",
            "avro": f"throughput, Avro value {sizes['avro']} B",
            "raw": f"throughput, raw send().get() {sizes['json']} B",
        }[label]
        report.rows.append(Row(f"{what} ({throughput} sequential)", f"{rates[label]:,.0f} records/s"))

    report.tables.append(_overhead_table(overhead, overhead_rounds))


def batch_messages(size: int) -> list[dict[str, Any]]:
    """``size`` messages, each its own key and a small JSON value (the raw side sends the same bytes)."""
    return [{"key": f"employee{i}", "value": {"name": "John Doe", "age": 29, "n": i}} for i in range(size)]


def _batch(report: Report, *, bootstrap: str, topic: str, size: int, rounds: int) -> None:
    """A ``size``-message invoke vs raw kafka-python: ``send`` every record, then ``flush`` once."""
    from kafka import KafkaProducer

    from kafka_connector.outbound.request import ProducerRequest
    from local.context import LocalLambdaContext

    with quiet():
        from functions.producer import app

    context = LocalLambdaContext("producer", timeout_seconds=3600)
    messages = batch_messages(size)
    event = {
        "topic": {"bootstrapServers": bootstrap, "topicName": topic},
        "messages": messages,
        "headers": {"source": "checkout"},
    }
    records = [
        (m["key"].encode(), json.dumps(m["value"], separators=(",", ":")).encode(), [("source", b"checkout")])
        for m in messages
    ]
    raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def handler() -> Any:
        response = app.lambda_handler(event, context)
        assert len(response["records"]) == size
        return response

    def raw_batch() -> None:
        for key, value, headers in records:
            raw.send(topic, value=value, key=key, headers=headers)
        raw.flush()

    try:
        with quiet():
            handler_times, raw_times = interleave([handler, raw_batch], rounds, warmup=3)
            parse = median(interleave([lambda: ProducerRequest.from_event(event)], rounds)[0])
    finally:
        raw.close()
        app.publisher.close()
    ratio = median(handler_times) / median(raw_times)
    ours, theirs = size / median(handler_times), size / median(raw_times)
    report.rows.append(
        goal_row(
            f"batch: one {size:,}-message invoke vs raw send() x{size:,} + flush()"
            f" ({rounds} interleaved rounds, median; time ratio, goal = 1/0.8)",
            f"{ms(median(handler_times))} vs {ms(median(raw_times))} = {ours:,.0f} vs {theirs:,.0f} records/s"
            f" ({ours / theirs:.2f}x raw throughput)",
            ratio,
            1 / GOAL_BATCH_THROUGHPUT,
        )
    )
    report.rows.append(
        Row(
            f"batch: of which ProducerRequest.from_event on the {size:,} messages (validate, encode)",
            f"{ms(parse)} ({us(parse / size)} per message)",
        )
    )


def _overhead_table(overhead: dict[str, Any], rounds: int) -> Table:
    layers = overhead["layers"]
    handler_total = layers[0][1]
    body = layers[-1][1]
    rows: list[tuple[str, float | None]] = [("whole handler, publish stubbed", handler_total)]
    rows += [
        (f"  {name}", max(0.0, seconds - inner)) for (name, seconds), (_, inner) in itertools.pairwise(layers)
    ]
    if all(name != _TRACER_LAYER for name, _ in layers):  # app.py puts it just below the logger
        rows.insert(2, (f"  {_TRACER_LAYER}: no layer (tracing off, get_tracer's no-op)", None))
    rows += [
        ("  handler body", body),
        ("    ProducerRequest.from_event (validate, secrets, properties, serialize)", overhead["request"]),
        (
            f'    logger.debug("record published") (logger at {overhead["log_level"]}: filtered out)',
            overhead["log"],
        ),
        (
            "    rest of the body (stub publish, metric, response)",
            max(0.0, body - overhead["request"] - overhead["log"]),
        ),
    ]
    return Table(
        f"Where a warm invoke's own time goes ({rounds} interleaved rounds, median,"
        " publish stubbed; decorators peeled off one at a time)",
        ("part", "time", "share of handler"),
        [
            (name, "-", "-")
            if seconds is None
            else (name, us(seconds), f"{100 * seconds / handler_total:.0f}%")
            for name, seconds in rows
        ],
    )


#: Which decorator a layer of the handler is, by the file its wrapper is defined in.
_LAYER_NAMES = {
    "logger.py": "Logger.inject_lambda_context",
    "tracer.py": "Tracer.capture_lambda_handler",
    "base.py": "Metrics.log_metrics (EMF flush to stdout)",
    "observability.py": "handler_boundary",
}
_METRICS_LAYER = _LAYER_NAMES["base.py"]
_TRACER_LAYER = _LAYER_NAMES["tracer.py"]


def handler_layers(handler: Any) -> list[tuple[str, Any]]:
    """The handler's decorator layers, outermost first, down to the function itself.

    Followed through ``__wrapped__`` (Powertools and the layer use ``functools.wraps``);
    a layer is named by the file its wrapper is defined in, whatever decorators are there:
    with tracing off ``get_tracer`` returns a no-op that adds no layer at all.
    """
    layers: list[tuple[str, Any]] = []
    function = handler
    while function is not None:
        code = getattr(function, "__code__", None)
        file = os.path.basename(code.co_filename) if code is not None else type(function).__name__
        layers.append((_LAYER_NAMES.get(file, file), function))
        function = getattr(function, "__wrapped__", None)
    return layers


def handler_without_metrics_flush(app: Any, event: dict[str, Any], context: Any) -> Any:
    """The handler without its per-invoke EMF flush: what ``Metrics.log_metrics`` costs on a warm call.

    The function below the ``log_metrics`` layer, decorated again with the handler's own
    logger context and tracer (the tracer is a pass-through when tracing is off). ``None``
    when the handler has no ``log_metrics`` layer.
    """
    layers = handler_layers(app.lambda_handler)
    names = [name for name, _ in layers]
    if _METRICS_LAYER not in names:
        return None
    inner = layers[names.index(_METRICS_LAYER) + 1][1]
    traced = app.tracer.capture_lambda_handler(capture_response=False)(inner)
    without_flush = app.logger.inject_lambda_context(log_event=False)(traced)

    def invoke() -> Any:
        return without_flush(event, context)

    return invoke


def _handler_overhead(app: Any, event: dict[str, Any], context: Any, rounds: int) -> dict[str, Any]:
    """The handler's own cost with the broker round trip taken out (a stub publisher).

    Each decorator is peeled off through ``__wrapped__`` (:func:`handler_layers`), so the
    difference between two layers is that decorator's cost.
    """
    from kafka_connector.outbound.publisher import Acknowledgement
    from kafka_connector.outbound.request import ProducerRequest

    acknowledgement = Acknowledgement(
        topic="t", partition=0, offset=1, timestamp=0, serialized_key_size=9, serialized_value_size=27
    )

    class StubPublisher:
        def publish(self, request: ProducerRequest) -> Acknowledgement:
            return acknowledgement

    layers = handler_layers(app.lambda_handler)
    calls = [lambda f=f: f(event, context) for _, f in layers]
    calls += [
        lambda: ProducerRequest.from_event(event),
        # As the handler logs a publish: below the logger's level it is filtered out.
        lambda: app.logger.debug("record published", extra={"topic": "t", "partition": 0, "offset": 1}),
    ]
    real, app.publisher = app.publisher, StubPublisher()
    try:
        samples = interleave(calls, rounds, warmup=100)
    finally:
        app.publisher = real
    medians = [median(s) for s in samples]
    return {
        "layers": [(name, seconds) for (name, _), seconds in zip(layers, medians, strict=False)],
        "handler": medians[0],
        "request": medians[-2],
        "log": medians[-1],
        "log_level": logging.getLevelName(app.logger.log_level),
    }


def _throughput(
    app: Any, context: Any, raw: Any, *, bootstrap: str, topic: str, count: int, block: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Records/s of sequential invocations, JSON, Avro and raw in alternating blocks."""
    value = order_value(1024)
    events = {
        "json": producer_event(bootstrap, topic, value),
        "avro": producer_event(bootstrap, topic, value, avro=True),
    }
    sizes = {
        label: app.lambda_handler(dict(event, debug=True), context)["serializedValueSize"]
        for label, event in events.items()
    }
    raw_value = json.dumps(value, separators=(",", ":")).encode()

    def invocations(label: str, n: int) -> None:
        if label == "raw":
            for _ in range(n):
                raw.send(topic, value=raw_value, key=b"employee1", headers=[("source", b"checkout")]).get(30)
            return
        event = events[label]
        for _ in range(n):
            app.lambda_handler(event, context)

    seconds = dict.fromkeys(("json", "avro", "raw"), 0.0)
    labels = list(seconds)
    done = index = 0
    while done < count:
        n = min(block, count - done)
        for label in labels if index % 2 == 0 else labels[::-1]:
            seconds[label] += timed(lambda label=label, n=n: invocations(label, n))
        done, index = done + n, index + 1
    return {label: done / s for label, s in seconds.items()}, sizes


def _cold(report: Report, bootstrap: str, topic: str, runs: int) -> None:
    """Fresh interpreters, alternating: the handler's import + first invoke, raw kafka-python's."""
    env = {
        "BENCH_EVENT": json.dumps(producer_event(bootstrap, topic, SMALL_VALUE)),
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": topic,
        "POWERTOOLS_METRICS_NAMESPACE": _namespace(),
    }
    handler: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    for index in range(runs):
        pair = [(_COLD_HANDLER, handler), (_COLD_RAW, raw)]
        for code, samples in pair if index % 2 == 0 else pair[::-1]:
            samples.append(result_of(run_python(code, env)))

    def total(samples: list[dict[str, float]]) -> float:
        return median([s["import"] + s["invoke"] for s in samples])

    report.rows.append(
        Row(
            f"cold start: import + first invoke ({runs} fresh interpreters, median)",
            f"{ms(total(handler))} (import {ms(median([s['import'] for s in handler]))},"
            f" first invoke {ms(median([s['invoke'] for s in handler]))})",
        )
    )
    report.rows.append(
        Row(
            "cold start vs raw: import kafka + new producer + send().get()",
            f"{ms(total(handler))} vs {ms(total(raw))}",
            f"{total(handler) / total(raw):.2f}x",
        )
    )
