"""Every benchmark runs end to end with tiny sizes (figures are not checked: that is `make bench`).

The producer and correlate benchmarks start the embedded broker or moto: they are marked
``integration`` so that ``make unit`` stays fast.
"""

from __future__ import annotations

import pytest

import bench  # noqa: F401 - the same import paths `python -m bench` uses
from bench.__main__ import QUICK, main, run_jsonata
from bench.common import INFO, MISS, PASS, Report, format_table, interleave, p95
from bench.imports import parse_importtime

STATUSES = {PASS, MISS, INFO}


def check(report: Report, goals: int) -> None:
    assert report.rows, report
    assert {row.status for row in report.rows} <= STATUSES
    assert len(report.goals) >= goals
    for table in report.tables:
        assert format_table(table.columns, table.rows)


def test_producer():
    from bench import producer

    check(producer.run(**QUICK["producer"]), goals=2)  # warm invoke, batch


def test_consumer():
    from bench import consumer

    report = consumer.run(**QUICK["consumer"])
    check(report, goals=2)  # the whole handler at the batch size, and at the larger batch
    assert not any("what-if" in row.what for row in report.rows)
    assert any("BatchConsumer.prepare" in row.what for row in report.rows)  # the breakdown
    profiles = [note for note in report.notes if "cProfile of the whole lambda_handler" in note]
    assert len(profiles) == 1
    assert "inbound/" in profiles[0]  # the layer's own functions are among the top entries


def test_correlate():
    from bench import correlate

    check(correlate.run(**QUICK["correlate"]), goals=1)


def test_imports():
    from bench import imports

    check(imports.run(**QUICK["imports"]), goals=3)


def test_jsonata_without_the_suite(monkeypatch, capsys):
    monkeypatch.delenv("JSONATA_TEST_SUITE", raising=False)
    report = run_jsonata(["--no-bench"])
    assert report.rows
    assert "jsonata-js" in capsys.readouterr().out  # how to get the suite


def test_parse_importtime_links_children_to_parents():
    text = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:        10 |         10 |     c",
            "import time:        20 |         30 |   b",
            "import time:         5 |          5 |   d",
            "import time:       100 |        135 | a",
        ]
    )
    modules = parse_importtime(text)
    assert modules["c"].parent is modules["b"]
    assert modules["b"].parent is modules["a"]
    assert modules["d"].parent is modules["a"]
    assert modules["a"].parent is None
    assert modules["a"].self_us == 100


def test_interleave_alternates_order():
    calls: list[str] = []
    samples = interleave([lambda: calls.append("a"), lambda: calls.append("b")], rounds=2)
    assert calls == ["a", "b", "b", "a"]
    assert [len(s) for s in samples] == [2, 2]
    assert p95([1.0, 2.0, 3.0]) == 3.0


def test_unknown_benchmark_is_a_usage_error():
    with pytest.raises(SystemExit):
        main(["nonsense"])


def test_producer_layers_follow_the_handler_as_decorated(monkeypatch):
    """No broker: the decorator chain is read, never invoked (tracing is off outside Lambda)."""
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    from bench.producer import handler_layers, handler_without_metrics_flush
    from functions.producer import app

    names = [name for name, _ in handler_layers(app.lambda_handler)]
    assert names[0] == "Logger.inject_lambda_context"
    assert "Metrics.log_metrics (EMF flush to stdout)" in names
    assert "Tracer.capture_lambda_handler" not in names  # get_tracer's no-op adds no layer
    assert names[-1] == "app.py"
    assert callable(handler_without_metrics_flush(app, {}, None))
