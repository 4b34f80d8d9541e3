"""Which JSONata engine: conformance to the official JSONata test suite, then speed.

The connector evaluates user expressions (activation conditions, correlation keys,
result expressions) on every Kafka record, so the engine must first of all give the
answers JSONata users expect, and only then be fast. This script measures both for the
two Python engines, in one run, on this machine:

* ``jsonatapy`` (Rust core, PyO3 binding);
* ``jsonata-python`` (pure Python port of jsonata-java, import name ``jsonata``).

Conformance uses the language-neutral test suite of the reference implementation
(jsonata-js, ``test/test-suite``). It is not vendored here; get it with::

    git clone --depth 1 https://github.com/jsonata-js/jsonata /tmp/jsonata-js
    python bench/jsonata_conformance.py /tmp/jsonata-js        # or JSONATA_TEST_SUITE=/tmp/jsonata-js

The path may be the repository root, its ``test/test-suite`` directory or the ``groups``
directory. Every case is run except those carrying ``timelimit``/``depth`` (stress tests
of the reference engine's own guard rails). A case passes when the result equals
``result`` (floats approximately, object key order ignored, ``unordered`` arrays as
multisets), is ``None`` for ``undefinedResult``, or, for ``code``/``error.code``, when the
engine raises an error carrying that code; "raised" counts any error for such cases.
Neither engine's plain Python API tells JSONata ``undefined`` from ``null`` (both are
``None``), so the suite is compared in that same light — it is what the connector sees.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASE_TIMEOUT_MS = 5_000
_CODE = re.compile(r"\b([STDU]\d{4})\b")

GET_SUITE = """\
The JSONata test suite was not found. It lives in the jsonata-js repository:

    git clone --depth 1 https://github.com/jsonata-js/jsonata /tmp/jsonata-js
    {python} {script} /tmp/jsonata-js
    # or: JSONATA_TEST_SUITE=/tmp/jsonata-js {python} {script}

(Keep the clone outside this repository: it is not ours to commit.)
"""


# --------------------------------------------------------------------------- test suite


@dataclass(frozen=True, slots=True)
class Case:
    group: str
    name: str
    expr: str
    data: Any
    has_input: bool  # False: the input is JSONata `undefined` (dataset null, no data)
    bindings: dict[str, Any]
    expect: str  # "result" | "undefined" | "error"
    result: Any = None
    code: str | None = None
    unordered: bool = False


def find_suite(path: str | None) -> Path | None:
    """The ``test-suite`` directory (holding ``groups`` and ``datasets``) under ``path``."""
    if not path:
        return None
    root = Path(path).expanduser()
    for candidate in (root, root / "test" / "test-suite", root / "test-suite", root.parent):
        if (candidate / "groups").is_dir() and (candidate / "datasets").is_dir():
            return candidate
    return None


def load_cases(suite: Path, groups: set[str] | None = None) -> tuple[list[Case], Counter[str]]:
    """All runnable cases in a stable order, and how many were skipped and why."""
    datasets: dict[str, Any] = {}
    skipped: Counter[str] = Counter()
    cases: list[Case] = []
    for group_dir in sorted(p for p in (suite / "groups").iterdir() if p.is_dir()):
        if groups and group_dir.name not in groups:
            continue
        for file in sorted(group_dir.glob("*.json")):
            loaded = json.loads(file.read_text(encoding="utf-8"))
            entries = loaded if isinstance(loaded, list) else [loaded]
            for index, raw in enumerate(entries):
                name = file.stem if len(entries) == 1 else f"{file.stem}[{index}]"
                if "timelimit" in raw or "depth" in raw:
                    skipped["timelimit/depth"] += 1
                    continue
                expr = raw.get("expr")
                if expr is None and "expr-file" in raw:
                    expr = (group_dir / raw["expr-file"]).read_text(encoding="utf-8")
                if "data" in raw:
                    data, has_input = raw["data"], True
                elif raw.get("dataset") is not None:
                    dataset = raw["dataset"]
                    if dataset not in datasets:
                        text = (suite / "datasets" / f"{dataset}.json").read_text(encoding="utf-8")
                        datasets[dataset] = json.loads(text)
                    data, has_input = datasets[dataset], True
                else:
                    data, has_input = None, False
                code = raw.get("code") or (raw.get("error") or {}).get("code")
                if "result" in raw:
                    expect = "result"
                elif raw.get("undefinedResult"):
                    expect = "undefined"
                elif code:
                    expect = "error"
                else:
                    skipped["no expectation"] += 1
                    continue
                cases.append(
                    Case(
                        group=group_dir.name,
                        name=name,
                        expr=expr,
                        data=data,
                        has_input=has_input,
                        bindings=raw.get("bindings") or {},
                        expect=expect,
                        result=raw.get("result"),
                        code=code,
                        unordered=bool(raw.get("unordered")),
                    )
                )
    return cases, skipped


def same(actual: Any, expected: Any, *, unordered: bool = False) -> bool:
    """JSON equality with floats compared approximately and object key order ignored.

    ``bool`` is kept apart from numbers (``True == 1`` in Python, not in JSONata), and
    a value that is not JSON (a function, a regex) never equals anything.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is bool and type(expected) is bool and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if actual == expected:
            return True
        if math.isnan(actual) or math.isinf(actual) or math.isnan(expected) or math.isinf(expected):
            return False
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if expected is None or isinstance(expected, str):
        return actual == expected and type(actual) is type(expected)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return False
        if not unordered:
            return all(same(a, e) for a, e in zip(actual, expected, strict=True))
        remaining = list(actual)
        for item in expected:
            match = next((i for i, a in enumerate(remaining) if same(a, item)), None)
            if match is None:
                return False
            remaining.pop(match)
        return True
    return False


# --------------------------------------------------------------------------- engines


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    compile: Callable[[str], Any]
    # (compiled, data, has_input, bindings) -> result; raises on a JSONata error
    evaluate: Callable[[Any, Any, bool, dict[str, Any]], Any]
    code_of: Callable[[BaseException], str | None]
    version: str


def _jsonatapy_engine() -> Engine:
    import jsonatapy

    def evaluate(compiled: Any, data: Any, has_input: bool, bindings: dict[str, Any]) -> Any:
        if has_input:
            return compiled.evaluate(data, bindings or None, timeout=CASE_TIMEOUT_MS)
        # evaluate(None) means JSON null; the JSON entry point is the one with a true `undefined`.
        text = compiled.evaluate_json_or_none(None, bindings or None, timeout=CASE_TIMEOUT_MS)
        return None if text is None else json.loads(text)

    def code_of(error: BaseException) -> str | None:
        match = _CODE.search(str(error))
        return match.group(1) if match else None

    return Engine("jsonatapy", jsonatapy.compile, evaluate, code_of, jsonatapy.__version__)


def _jsonata_python_engine() -> Engine:
    from importlib.metadata import version

    import jsonata
    from jsonata.utils import Utils

    def compile_(expr: str) -> Any:
        return jsonata.Jsonata(expr, timeout=CASE_TIMEOUT_MS)

    def evaluate(compiled: Any, data: Any, has_input: bool, bindings: dict[str, Any]) -> Any:
        if has_input and data is None:
            data = Utils.NULL_VALUE  # top-level None is `undefined` to this engine
        # A fresh bindings frame per call: without one, `$` is bound in the shared
        # environment of the compiled expression (a race between threads).
        return compiled.evaluate(data, bindings or {})

    def code_of(error: BaseException) -> str | None:
        code = getattr(error, "error", None)
        if isinstance(code, str):
            return code
        match = _CODE.search(str(error))
        return match.group(1) if match else None

    return Engine("jsonata-python", compile_, evaluate, code_of, version("jsonata-python"))


def load_engines() -> list[Engine]:
    engines = []
    for factory in (_jsonatapy_engine, _jsonata_python_engine):
        try:
            engines.append(factory())
        except ImportError as error:
            print(f"(engine unavailable: {error})")
    return engines


class _CaseTimeoutError(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _CaseTimeoutError


@dataclass(slots=True)
class Outcome:
    passed: int = 0
    raised: int = 0  # error cases that raised some error, right code or not
    by_group: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Case, str]] = field(default_factory=list)
    seconds: float = 0.0


def run_case(engine: Engine, case: Case) -> tuple[bool, bool, str]:
    """(passed, raised, detail) for one case; a wall-clock alarm backs the engine's own timeout."""
    use_alarm = hasattr(signal, "setitimer")
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_MS / 1000 * 2)
    try:
        compiled = engine.compile(case.expr)
        result = engine.evaluate(compiled, case.data, case.has_input, case.bindings)
    except _CaseTimeoutError:
        return False, False, "timed out"
    except (Exception, RecursionError) as error:
        if case.expect != "error":
            return False, False, f"raised {type(error).__name__}: {str(error)[:160]}"
        code = engine.code_of(error)
        if code == case.code:
            return True, True, ""
        return (
            False,
            True,
            f"raised code {code} ({type(error).__name__}: {str(error)[:120]}), want {case.code}",
        )
    except BaseException as error:  # a Rust panic surfaces as pyo3's PanicException(BaseException)
        if isinstance(error, KeyboardInterrupt):
            raise
        return False, False, f"panicked {type(error).__name__}: {str(error)[:160]}"
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    if case.expect == "error":
        return False, False, f"no error (got {_short(result)}), want {case.code}"
    if case.expect == "undefined":
        return result is None, False, "" if result is None else f"got {_short(result)}, want undefined"
    if same(result, case.result, unordered=case.unordered):
        return True, False, ""
    return False, False, f"got {_short(result)}, want {_short(case.result)}"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def run_suite(engine: Engine, cases: list[Case]) -> Outcome:
    outcome = Outcome()
    previous = signal.signal(signal.SIGALRM, _alarm) if hasattr(signal, "SIGALRM") else None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))  # the pure-Python engine recurses per AST level
    started = time.perf_counter()
    try:
        for case in cases:
            passed, raised, detail = run_case(engine, case)
            outcome.raised += raised
            if passed:
                outcome.passed += 1
                outcome.by_group[case.group] += 1
            else:
                outcome.failures.append((case, detail))
    finally:
        outcome.seconds = time.perf_counter() - started
        sys.setrecursionlimit(limit)
        if previous is not None:
            signal.signal(signal.SIGALRM, previous)
    return outcome


def report_suite(engines: list[Engine], outcomes: list[Outcome], cases: list[Case], verbose: bool) -> None:
    totals = Counter(case.group for case in cases)
    error_cases = sum(case.expect == "error" for case in cases)
    width = max(len(g) for g in totals)
    header = f"{'group':<{width}}  {'cases':>5}  " + "  ".join(f"{e.name:>14}" for e in engines)
    print(header)
    print("-" * len(header))
    for group in sorted(totals):
        n = totals[group]
        cells = []
        for outcome in outcomes:
            got = outcome.by_group[group]
            mark = "" if got == n else " *"
            cells.append(f"{got:>5}/{n:<4}{mark:2}".rjust(14))
        print(f"{group:<{width}}  {n:>5}  " + "  ".join(cells))
    print("-" * len(header))
    for engine, outcome in zip(engines, outcomes, strict=True):
        pct = 100 * outcome.passed / len(cases)
        print(
            f"{engine.name} {engine.version}: {outcome.passed}/{len(cases)} passed ({pct:.1f}%); "
            f"error cases: {outcome.raised}/{error_cases} raised an error "
            f"(pass needs the expected code); {outcome.seconds:.1f}s"
        )
        worst = sorted(
            ((totals[g] - outcome.by_group[g], g) for g in totals if outcome.by_group[g] < totals[g]),
            reverse=True,
        )[:8]
        if worst:
            print("  most failures: " + ", ".join(f"{g} ({missed}/{totals[g]})" for missed, g in worst))
        if verbose:
            for case, detail in outcome.failures:
                print(f"  FAIL {case.group}/{case.name}: {case.expr[:80]!r}: {detail}")


# --------------------------------------------------------------------------- speed

#: A record as the consumer hands it to expressions (docs/payloads.md#the-message), ~0.6 KB.
TYPICAL_MESSAGE: dict[str, Any] = {
    "key": "order-4711",
    "value": {
        "itemId": "a4f6j2",
        "correlationKey": "myValue",
        "amount": 129.5,
        "currency": "EUR",
        "customer": {"id": "c-0042", "name": "John Doe", "emails": ["johndoe@example.com"]},
        "lines": [
            {"sku": "HAT-1", "quantity": 1, "price": 34.45},
            {"sku": "SCARF-7", "quantity": 2, "price": 47.5},
        ],
        "createdAt": "2024-05-01T12:00:00Z",
    },
    "rawValue": None,
    "headers": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "source": "shop"},
    "topic": "orders",
    "partition": 3,
    "offset": 128734,
    "timestamp": 1714564800000,
}
TYPICAL_MESSAGE["rawValue"] = json.dumps(TYPICAL_MESSAGE["value"])

#: The expressions of the reference documents, as the connector compiles them (prefix stripped).
CONNECTOR_EXPRESSIONS = {
    "activation": 'value.itemId = "a4f6j2"',
    "correlation key": "value.correlationKey",
    "key": "key",
    "result": '{"itemId": value.itemId}',
}


def large_message(kilobytes: int = 100) -> dict[str, Any]:
    """The typical record with a value of ~``kilobytes`` KB: the engines copy their whole input."""
    message = json.loads(json.dumps(TYPICAL_MESSAGE))
    line = {"sku": "SKU-000000", "quantity": 1, "price": 9.99, "note": "x" * 40}
    count = kilobytes * 1024 // len(json.dumps(line))
    message["value"]["lines"] = [dict(line, sku=f"SKU-{i:06d}") for i in range(count)]
    message["rawValue"] = json.dumps(message["value"])
    return message


def rate(evaluate: Callable[[], Any], budget: float = 0.3) -> float:
    """Evaluations per second, timed over ~``budget`` seconds after a short warm-up."""
    for _ in range(10):
        evaluate()
    n, elapsed = 1, 0.0
    while elapsed < budget:
        n *= 2
        started = time.perf_counter()
        for _ in range(n):
            evaluate()
        elapsed = time.perf_counter() - started
    return n / elapsed


def bench_engines(engines: list[Engine], budget: float) -> dict[tuple[str, str, str], float]:
    messages = {"typical": TYPICAL_MESSAGE, "100 KB": large_message(100)}
    rates: dict[tuple[str, str, str], float] = {}
    for size, message in messages.items():
        for label, text in CONNECTOR_EXPRESSIONS.items():
            for engine in engines:
                compiled = engine.compile(text)
                expected = engines[0].evaluate(engines[0].compile(text), message, True, {})
                got = engine.evaluate(compiled, message, True, {})
                if not same(got, expected):
                    print(f"  note: {engine.name} gives {got!r} for {text!r}, {engines[0].name} {expected!r}")
                rates[engine.name, size, label] = rate(
                    lambda c=compiled, m=message, e=engine: e.evaluate(c, m, True, {}),
                    budget if size == "typical" else budget / 3,
                )
        wrapper = _connector_wrapper()
        if wrapper is not None:
            for label, text in CONNECTOR_EXPRESSIONS.items():
                expression = wrapper(text)
                rates["kafka_connector", size, label] = rate(
                    lambda x=expression, m=message: x.evaluate(m),
                    budget if size == "typical" else budget / 3,
                )
    # Subscriptions bring their own activation conditions: what compiling one costs.
    for label, text in CONNECTOR_EXPRESSIONS.items():
        for engine in engines:
            rates[engine.name, "compile", label] = rate(lambda e=engine, t=text: e.compile(t), budget / 3)
    return rates


def _connector_wrapper() -> Callable[[str], Any] | None:
    """The connector's own ``compile_expression`` when the layer is importable, to show its overhead."""
    layer = Path(__file__).resolve().parent.parent / "layers" / "kafka_connector"
    if layer.is_dir() and str(layer) not in sys.path:
        sys.path.insert(0, str(layer))
    try:
        from kafka_connector.inbound.expressions import compile_expression
    except ImportError:
        return None
    return lambda text: compile_expression("=" + text, name="BENCH")


def report_bench(rates: dict[tuple[str, str, str], float]) -> None:
    names = list(dict.fromkeys(name for name, _, _ in rates))
    sizes = list(dict.fromkeys(size for _, size, _ in rates))
    print(f"{'message':<8} {'expression':<16}" + "".join(f"{n:>17}" for n in names) + "   ratio")
    for size in sizes:
        for label in dict.fromkeys(label for _, s, label in rates if s == size):
            row = [rates.get((n, size, label)) for n in names]
            cells = "".join(f"{r:>15,.0f}/s" if r else f"{'-':>17}" for r in row)
            ratio = f"{row[0] / row[1]:6.1f}x" if len(row) > 1 and row[0] and row[1] else ""
            print(f"{size:<8} {label:<16}{cells}  {ratio}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "suite", nargs="?", default=os.environ.get("JSONATA_TEST_SUITE"), help="jsonata-js checkout"
    )
    parser.add_argument("--groups", help="comma-separated groups to run (default: all)")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every failing case")
    parser.add_argument("--no-bench", action="store_true", help="skip the speed measurement")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per speed measurement")
    args = parser.parse_args(argv)

    engines = load_engines()
    if not engines:
        print("No JSONata engine is installed (pip install jsonatapy jsonata-python).")
        return 0

    suite = find_suite(args.suite)
    outcomes: list[Outcome] = []
    cases: list[Case] = []
    if suite is None:
        print(GET_SUITE.format(python=Path(sys.executable).name, script=Path(__file__).as_posix()))
    else:
        groups = set(args.groups.split(",")) if args.groups else None
        cases, skipped = load_cases(suite, groups)
        skipped_text = ", ".join(f"{n} {why}" for why, n in skipped.items()) or "none"
        print(f"JSONata test suite {suite}: {len(cases)} cases (skipped: {skipped_text})\n")
        with contextlib.redirect_stdout(io.StringIO()):  # jsonata-python prints debug lines
            outcomes = [run_suite(engine, cases) for engine in engines]
        report_suite(engines, outcomes, cases, args.verbose)

    rates: dict[tuple[str, str, str], float] = {}
    if not args.no_bench:
        print("\nEvaluations/s of the connector's expressions, compiled once ('compile' rows: compiles/s):")
        rates = bench_engines(engines, args.budget)
        report_bench(rates)

    print("\n" + verdict(engines, outcomes, cases, rates))
    return 0


def verdict(
    engines: list[Engine],
    outcomes: list[Outcome],
    cases: list[Case],
    rates: dict[tuple[str, str, str], float],
) -> str:
    """One line: correctness decides, speed breaks ties (within one percentage point)."""
    if not outcomes or len(engines) < 2:
        return "verdict: need the test suite and both engines to compare"
    scores = [o.passed / len(cases) for o in outcomes]
    speeds = [
        sum(math.log(v) for (n, size, _), v in rates.items() if n == e.name and size == "typical")
        for e in engines
    ]
    by_score = sorted(range(len(engines)), key=lambda i: (round(scores[i], 2), speeds[i]), reverse=True)
    best, other = by_score[0], by_score[1]
    typical = [
        rates[engines[best].name, "typical", label] / rates[engines[other].name, "typical", label]
        for label in CONNECTOR_EXPRESSIONS
        if (engines[best].name, "typical", label) in rates
    ]
    speed = f", {min(typical):.0f}-{max(typical):.0f}x the speed" if typical else ""
    return (
        f"verdict: {engines[best].name} — conformance {100 * scores[best]:.1f}% vs "
        f"{100 * scores[other]:.1f}% ({engines[other].name}){speed} on the connector's expressions"
    )


if __name__ == "__main__":
    sys.exit(main())
