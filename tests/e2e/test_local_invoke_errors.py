"""``python -m local invoke`` as a user meets it: one line and an exit status for every mistake.

Each case runs the command as a subprocess and checks what the user sees: standard output
(only the function's response, or nothing), standard error (one line, no traceback) and the
exit status (2 for a usage mistake, 1 for something unavailable or a function error, 130 for
Ctrl-C). docs/local-runtime.md#output-and-exit-status is the contract.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from local.net import free_port
from tests.support.local_cli import ROOT, cli_environment, run_local


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        ("events/nope.json", "error: event file events/nope.json does not exist"),
        ("events", "error: event file events is a folder, not a JSON file"),
    ],
)
def test_a_missing_file_or_a_folder(event, line):
    result = run_local("invoke", "consumer", event)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr) == line


def test_an_empty_event_file(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    result = run_local("invoke", "subscribe", str(empty))
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr) == f"error: event file {empty} is empty: expected a JSON document"


def test_invalid_json_names_the_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "taskToken": "t",\n  "messageName": "payment",,\n}')
    result = run_local("invoke", "subscribe", str(bad))
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr) == (
        f"error: event file {bad} is not valid JSON: Expecting property name enclosed in double quotes"
        " at line 3, column 28"
    )


def test_dash_reads_the_event_from_standard_input():
    event = (ROOT / "events" / "subscribe.json").read_text()
    result = run_local("invoke", "subscribe", "-", stdin=event)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "waiting"


def test_invalid_json_on_standard_input():
    result = run_local("invoke", "subscribe", "-", "--quiet", stdin="{nope")
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr).startswith("error: event file standard input is not valid JSON: ")


def test_a_missing_env_vars_file():
    result = run_local("invoke", "subscribe", "events/subscribe.json", "--env-vars", "nope.json")
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr) == "error: --env-vars file nope.json does not exist"


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("Nope=1", "error: unknown template parameter Nope in --parameter-overrides (template.yaml has "),
        (
            "ConnectorMode=bogus",
            "error: --parameter-overrides ConnectorMode=bogus: allowed values are correlate, start",
        ),
        ("NoEquals", "error: --parameter-overrides expects Key=Value, got 'NoEquals'"),
    ],
)
def test_bad_parameter_overrides(override, line):
    result = run_local("invoke", "consumer", "events/consumer-msk.json", "--parameter-overrides", override)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr).startswith(line)


@pytest.mark.timeout(60)  # the producer's own client would wait 45 s; the check answers in seconds
def test_an_unreachable_kafka_bootstrap_servers_is_named():
    address = f"127.0.0.1:{free_port()}"
    result = run_local(
        "invoke",
        "producer",
        "events/producer-json.json",
        env=cli_environment(KAFKA_BOOTSTRAP_SERVERS=address),
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == (
        f"error: cannot reach Kafka at KAFKA_BOOTSTRAP_SERVERS={address}: {address} (Connection refused)"
    )


def test_ctrl_c_is_one_line_and_130():
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "invoke", "subscribe", "-"],
        cwd=ROOT,
        env=cli_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr.readline() == "reading the event from standard input…\n"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, stdout) == (130, "")
    assert one_line(stderr) == "interrupted"


def test_a_function_error_is_lambdas_payload_on_stdout_and_one_line_on_stderr(tmp_path):
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"topic": {"topicName": "orders#x"}, "message": {"value": 1}}))
    result = run_local("invoke", "producer", str(event), "--quiet")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["errorType"] == "ConnectorInputError"
    assert "topic.topicName" in json.loads(payload["errorMessage"])["message"]
    assert one_line(result.stderr) == f"ConnectorInputError: {payload['errorMessage']}"


def test_quiet_leaves_stderr_empty_and_verbose_shows_environment_and_metrics():
    quiet = run_local("invoke", "consumer", "events/consumer-msk.json", "--quiet")
    assert quiet.returncode == 0
    assert json.loads(quiet.stdout) == {"batchItemFailures": []}
    assert quiet.stderr == ""
    verbose = run_local("invoke", "consumer", "events/consumer-msk.json", "--verbose")
    assert verbose.returncode == 0
    assert json.loads(verbose.stdout) == {"batchItemFailures": []}
    assert "  CONNECTOR_MODE=correlate\n" in verbose.stderr
    assert '"RecordsDeadLettered":[1.0]' in verbose.stderr  # the metrics blob, on stderr
    assert "record payments-1@3: dead-lettered — " in verbose.stderr


def test_the_template_environment_is_overridable_in_order():
    """--parameter-overrides, then --env-vars, then --env: the outcome lines show which won."""
    result = run_local(
        "invoke",
        "consumer",
        "events/consumer-self-managed.json",
        "--parameter-overrides",
        "MessageTtlSeconds=60",
        "MessageName=pay",
        "--env",
        "MESSAGE_NAME=payment",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "record payments-0@16: buffered — no workflow waits for payment#1001 yet; kept 60s" in result.stderr
    )


def test_a_held_back_record_is_reported_with_its_reason():
    """A misconfiguration (a state machine that does not exist) holds the record back, saying why."""
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    result = run_local(
        "invoke",
        "consumer",
        "events/consumer-self-managed.json",
        "--parameter-overrides",
        "ConnectorMode=start",
        "--env",
        f"STATE_MACHINE_ARN={missing}",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "batchItemFailures": [{"itemIdentifier": {"partition": "payments-0", "offset": 16}}]
    }
    assert (
        "record payments-0@16: held back — StateMachineDoesNotExist: Step Functions StartExecution:"
        " StateMachineDoesNotExist\n" in result.stderr
    )
    assert "dead-letter queue kafka-connector-dlq: 0 message(s)\n" in result.stderr


@pytest.mark.timeout(60)
def test_the_demo_names_an_unreachable_kafka_too():
    address = f"127.0.0.1:{free_port()}"
    result = run_local("demo", env=cli_environment(KAFKA_BOOTSTRAP_SERVERS=address))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(
        f"] FAILED: cannot reach Kafka at KAFKA_BOOTSTRAP_SERVERS={address}: {address} (Connection refused)"
    )
