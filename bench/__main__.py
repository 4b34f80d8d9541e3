"""``python -m bench [producer|consumer|correlate|imports|jsonata ...]`` — what ``make bench`` runs.

Without names every benchmark runs, then a summary of the goals. ``--quick`` shrinks every
size (a smoke run, not figures to quote). ``python -m bench jsonata [SUITE] [options]``
hands its arguments to ``bench/jsonata_conformance.py`` (``--help`` lists them); in a full
run the suite is taken from ``JSONATA_TEST_SUITE``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import bench  # noqa: F401 - puts the layer and the repository root on sys.path
from bench.common import INFO, Report, Row, print_report, print_summary

NAMES = ("producer", "consumer", "correlate", "imports", "jsonata")

QUICK: dict[str, dict[str, Any]] = {
    "producer": {
        "rounds": 30,
        "client_rounds": 2,
        "throughput": 20,
        "block": 10,
        "cold_runs": 1,
        "overhead_rounds": 30,
        "batch_size": 50,
        "batch_rounds": 3,
    },
    "consumer": {
        "records": 50,
        "rounds": 3,
        "profile_rounds": 2,
        "component_repeats": 1,
        "large_records": 200,
        "large_rounds": 1,
    },
    "correlate": {"records": 50, "waiting": 3},
    "imports": {"runs": 1, "top": 3},
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )


class _Tee(io.TextIOBase):
    """Writes through to the terminal and keeps a copy (to read the verdict line)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_jsonata(argv: list[str]) -> Report:
    """The JSONata conformance suite and engine speeds (bench/jsonata_conformance.py), as is."""
    from bench import jsonata_conformance

    print("\n== JSONata engines: conformance to the JSONata test suite, then speed ==\n")
    sys.stdout.flush()
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        code = jsonata_conformance.main(argv)
    verdict = next((line for line in tee.copy.getvalue().splitlines() if line.startswith("verdict:")), "")
    report = Report("jsonata", "JSONata engines")
    report.rows.append(Row("engine choice", verdict.removeprefix("verdict: ") or f"exit {code}", status=INFO))
    return report


def run(name: str, quick: bool) -> Report:
    if name == "jsonata":
        return run_jsonata(["--budget", "0.05"] if quick else [])
    module = __import__(f"bench.{name}", fromlist=["run"])
    runner: Callable[..., Report] = module.run
    started = time.perf_counter()
    report = runner(**(QUICK[name] if quick else {}))
    report.notes.append(f"({name}: {time.perf_counter() - started:.1f} s)")
    print_report(report)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["jsonata"]:
        run_jsonata(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="any of: " + ", ".join(NAMES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not figures")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(NAMES)})")
    names = args.names or list(NAMES)

    print(f"Benchmarks on {machine()}")
    started = time.perf_counter()
    reports = [run(name, args.quick) for name in names]
    if len(reports) > 1:
        print_summary(reports)
        for report in reports:
            if report.name == "jsonata":
                print(f"JSONata engine: {report.rows[0].measured}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
