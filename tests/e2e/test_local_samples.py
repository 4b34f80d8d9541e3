"""Every sample in events/ runs through ``python -m local invoke`` as docs/local-runtime.md says.

The commands are read from the ``sh`` block of docs/local-runtime.md#sample-events, so the
documentation cannot drift from what is tested. The rule for a sample file in ``events/``:

* it has a documented command and an entry in :data:`EXPECTATIONS` (its response and its
  outcome) — it is run and checked;
* or it is listed in :data:`PENDING` with the reason — it needs a feature that is not on this
  branch yet, and is skipped saying so;
* otherwise the test fails: a new sample must say what it does.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.functions import FUNCTION_CODES
from tests.support.local_cli import ROOT, run_local

EVENTS = sorted((ROOT / "events").glob("*.json"))
DOC = ROOT / "docs" / "local-runtime.md"

#: Samples that need a feature not on this branch yet: skipped, with the reason.
PENDING: dict[str, str] = {}

PAYMENT = {"orderId": "1001", "amount": 249.0, "currency": "EUR", "status": "CAPTURED"}

Check = Callable[[Any, str], None]


def documented_commands() -> dict[str, list[str]]:
    """Sample file name → the arguments after ``python -m local``, from the doc's sample block."""
    section = DOC.read_text().split("## Sample events\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "docs/local-runtime.md#sample-events has no sh block"
    commands = {}
    for line in block.group(1).splitlines():
        words = shlex.split(line)
        assert words[:3] == [".venv/bin/python", "-m", "local"], line
        commands[Path(words[5]).name] = words[3:]
    return commands


def published(topic: str, partition: int | None = None) -> Check:
    def check(response: Any, stderr: str) -> None:
        assert response["topic"] == topic
        assert response["offset"] >= 0
        assert isinstance(response["timestamp"], int)
        if partition is not None:
            assert response["partition"] == partition

    return check


def published_all(*topics: str) -> Check:
    """A batch: every message acknowledged, in the order given (``{"records": [...]}``)."""

    def check(response: Any, stderr: str) -> None:
        records = response["records"]
        assert len(records) == len(topics)
        for record, topic in zip(records, topics, strict=True):
            published(topic)(record, stderr)

    return check


def consumed(*lines: str, failures: int = 0) -> Check:
    """The partial batch response, and the report's lines (each a regular expression) on stderr."""

    def check(response: Any, stderr: str) -> None:
        assert len(response["batchItemFailures"]) == failures
        for line in lines:
            assert re.search(line, stderr, re.M), f"{line!r} not in:\n{stderr}"

    return check


def delivered(offset: int, value: Any) -> Check:
    """The record resumed the waiting workflow, which SUCCEEDED with the decoded value."""

    def check(response: Any, stderr: str) -> None:
        consumed(
            rf"^record payments-0@{offset}: delivered — resumed the workflow\(s\) waiting for payments#1001$"
        )(response, stderr)
        ended = re.search(r"^execution local-1 of order-payment-direct: SUCCEEDED (.*)$", stderr, re.M)
        assert ended, stderr
        output = json.loads(ended.group(1))
        assert output["payment"]["value"] == value
        assert output["payment"]["offset"] == offset

    return check


def subscribed(response: Any, stderr: str) -> None:
    assert response == {"status": "waiting", "messageName": "payment", "correlationKey": "1001"}


def redriven(response: Any, stderr: str) -> None:
    """A dry run over the fresh emulator's empty dead-letter queue: nothing received, nothing changed."""
    assert response["dryRun"] is True
    assert (response["received"], response["replayed"], response["messages"]) == (0, 0, [])


EXPECTATIONS: dict[str, Check] = {
    "producer-json.json": published("orders"),
    "producer-avro.json": published("employees"),
    "producer-address.json": published("orders"),
    "producer-address-partition.json": published("orders", partition=0),
    "producer-authenticated.json": published("orders"),
    "producer-avro-registry.json": published("payments"),
    "producer-batch.json": published_all("orders", "orders", "orders-audit"),
    "consumer-msk.json": consumed(
        r"^record payments-0@15: dropped — no workflow waits for payments#1001 and MESSAGE_TTL_SECONDS is 0$",
        r"^record payments-1@3: dead-lettered — ExpressionError: CORRELATION_KEY_EXPRESSION gave no value"
        r" for this record$",
        r"^correlation table kafka-connector-correlation: 0 item\(s\)$",
        r"^dead-letter queue kafka-connector-dlq: 1 message\(s\)$",
        r"^  payments-1@3 ExpressionError: ",
    ),
    "consumer-self-managed.json": consumed(
        r"^record payments-0@16: buffered — no workflow waits for payments#1001 yet; kept 300s",
        r"^  buffered message payments-0-16 for payments#1001$",
        r"^dead-letter queue kafka-connector-dlq: 0 message\(s\)$",
    ),
    "consumer-start.json": consumed(
        r"^record payments-0@30: started — execution payments-0-30 of on-payment: SUCCEEDED$",
        r"^record payments-0@31: skipped — the activation condition is false for it$",
    ),
    "consumer-correlate.json": delivered(21, PAYMENT),
    "consumer-avro-plain.json": delivered(40, PAYMENT),
    "consumer-avro-confluent.json": delivered(41, PAYMENT),
    "consumer-avro-glue.json": delivered(42, PAYMENT),
    # The in-process registry (mock://) starts empty: the id is unknown, the record dead-lettered naming it.
    "consumer-confluent-avro.json": consumed(
        r"^record payments-0@17: dead-lettered — UndecodableRecord: the value names schema id 100001,"
        r" which the schema registry does not know",
        r"^dead-letter queue kafka-connector-dlq: 1 message\(s\)$",
    ),
    "consumer-tombstone.json": consumed(
        r"^record payments-0@50: buffered — no workflow waits for payments#1001 yet",
        r"^  buffered message payments-0-50 for payments#1001$",
    ),
    "subscribe.json": subscribed,
    "redrive.json": redriven,
}


def test_every_sample_is_documented_and_expected_or_pending():
    names = {path.name for path in EVENTS}
    commands = documented_commands()
    undocumented = names - set(commands) - set(PENDING)
    unexpected = names - set(EXPECTATIONS) - set(PENDING)
    assert not undocumented, f"samples without a command in docs/local-runtime.md: {sorted(undocumented)}"
    assert not unexpected, f"samples without an expectation in EXPECTATIONS: {sorted(unexpected)}"
    assert set(commands) <= names, "the doc runs a sample that does not exist"
    assert {p.stem.split("-")[0] for p in EVENTS} == set(FUNCTION_CODES)


@pytest.mark.parametrize("path", EVENTS, ids=[p.name for p in EVENTS])
def test_sample(path):
    if path.name in PENDING and path.name not in EXPECTATIONS:
        pytest.skip(PENDING[path.name])
    args = documented_commands()[path.name]
    result = run_local(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    response = json.loads(result.stdout)  # stdout is the response and nothing else
    EXPECTATIONS[path.name](response, result.stderr)


def test_the_avro_env_file_holds_the_sample_schema():
    env = json.loads((ROOT / "events" / "env" / "consumer-avro.json").read_text())
    schema = json.loads((ROOT / "events" / "schemas" / "payment.avsc").read_text())
    assert json.loads(env["ConsumerFunction"]["AVRO_SCHEMA"]) == schema
