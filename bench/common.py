"""Shared pieces of the benchmarks: interleaved A/B timing, statistics, quiet handlers, tables."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import LAYER, ROOT

PASS, MISS, INFO = "PASS", "MISS", ""
RESULT_MARKER = "BENCH_RESULT "


# --------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(function: Callable[[], Any]) -> float:
    """Seconds one call of ``function`` takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleave(functions: Sequence[Callable[[], Any]], rounds: int, warmup: int = 0) -> list[list[float]]:
    """Seconds per call of each function, over ``rounds`` rounds run A, B, … then … B, A.

    Each round calls every function once; the order alternates from round to round so that
    neither side always runs first (after a pause, with a cold cache, …). Warm-up calls are
    made the same way and discarded.
    """
    for index in range(warmup):
        for function in functions if index % 2 == 0 else functions[::-1]:
            function()
    samples: list[list[float]] = [[] for _ in functions]
    order = list(range(len(functions)))
    for index in range(rounds):
        for position in order if index % 2 == 0 else order[::-1]:
            samples[position].append(timed(functions[position]))
    return samples


def best_of(function: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` calls (for small components, where noise only adds)."""
    return min(timed(function) for _ in range(repeats))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


# --------------------------------------------------------------------------- environment


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None``, remove) environment variables for the duration of the block."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


def _set_environment(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send what handlers print (Powertools logs, EMF metrics) to /dev/null, at the descriptor level.

    Only descriptors 1 and 2 are redirected, never the ``sys.stdout`` object: Powertools'
    logger keeps the stream it was created with, and must find it open afterwards.
    Writing to /dev/null is the cheapest stand-in for the Lambda runtime's log pipe.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, devnull):
            os.close(descriptor)


def python_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a fresh interpreter that can import the layer, ``functions`` and ``local``."""
    env = dict(os.environ)
    path = [str(LAYER), str(ROOT)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra or {})
    return env


def run_python(
    code: str, env: Mapping[str, str] | None = None, args: Sequence[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh ``python`` (this interpreter) from the repository root."""
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        cwd=ROOT,
        env=python_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def result_of(process: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a benchmark subprocess printed after :data:`RESULT_MARKER`."""
    for line in reversed(process.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    raise RuntimeError(f"benchmark subprocess failed (exit {process.returncode}):\n{process.stderr[-3000:]}")


# --------------------------------------------------------------------------- reports


@dataclass
class Row:
    """One measured line: what, the values measured, their ratio, the goal and the verdict."""

    what: str
    measured: str
    ratio: str = ""
    goal: str = ""
    status: str = INFO


def goal_row(
    what: str, measured: str, value: float, limit: float, *, unit: str = "x", below: bool = False
) -> Row:
    """A row judged against ``limit``: PASS when ``value <= limit`` (``< limit`` with ``below``)."""
    met = value < limit if below else value <= limit
    shown = f"{value:.2f}{unit}" if unit == "x" else f"{value:.3f}{unit}"
    goal = f"{'<' if below else '≤'} {limit:g}{unit}"
    return Row(what, measured, shown, goal, PASS if met else MISS)


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)


@dataclass
class Report:
    """What one benchmark found: its main table, extra tables and free text (profiles, notes)."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def goals(self) -> list[Row]:
        return [row for row in self.rows if row.status]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(columns, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def print_report(report: Report) -> None:
    print(f"\n== {report.title} ==\n")
    print(
        format_table(
            ("measure", "measured", "ratio", "goal", "result"),
            [(r.what, r.measured, r.ratio, r.goal, r.status) for r in report.rows],
        )
    )
    for table in report.tables:
        print(f"\n{table.title}\n")
        print(format_table(table.columns, table.rows))
    for note in report.notes:
        print(f"\n{note}")
    sys.stdout.flush()


def print_summary(reports: Sequence[Report]) -> None:
    goals = [(report.name, row) for report in reports for row in report.goals]
    if not goals:
        return
    print("\n== Goals ==\n")
    print(
        format_table(
            ("benchmark", "measure", "ratio", "goal", "result"),
            [(name, row.what, row.ratio, row.goal, row.status) for name, row in goals],
        )
    )
    missed = sum(row.status == MISS for _, row in goals)
    print(f"\n{len(goals) - missed}/{len(goals)} goals met.")
