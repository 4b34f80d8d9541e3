"""``python -m local up`` as a user runs it: a subprocess, and other commands against it from outside.

Started as a subprocess with its own state file; the test waits for the endpoints line,
starts a workflow that waits for its payment, publishes the payment with
``python -m local invoke producer … --stack``, watches the execution resume, dead-letters
a record and replays it with ``python -m local redrive``, then stops the stack with SIGINT.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


def local(*args, env, check=True):
    done = subprocess.run(  # noqa: PLW1510 - the return code is checked below
        [sys.executable, "-m", "local", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


class Output:
    """The stack's standard output, line by line, as it comes."""

    def __init__(self, stream):
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return next(line for line in self.lines if text in line)
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
        raise AssertionError(f"{text!r} never came; the stack wrote:\n" + "\n".join(self.lines))

    def until_closed(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                return
            self.lines.append(line)
        raise AssertionError("the stack's output never closed")


def until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached")


@pytest.fixture
def stack_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["LOCAL_STACK_FILE"] = str(tmp_path / "stack.json")
    return env


def test_commands_without_a_stack_say_so_in_one_line(stack_env):
    for command in (
        ["dlq"],
        ["table"],
        ["redrive"],
        ["invoke", "producer", "events/producer-json.json", "--stack"],
    ):
        done = local(*command, env=stack_env, check=False)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "no local stack is running: start one with `python -m local up`"
        ]


def test_up_runs_until_interrupted_and_other_commands_use_it(stack_env, tmp_path):
    state_file = Path(stack_env["LOCAL_STACK_FILE"])
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "up"],
        cwd=ROOT,
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output = Output(process.stdout)
        endpoints = output.wait_for("endpoints: ")
        state = json.loads(state_file.read_text())
        assert f"AWS_ENDPOINT_URL={state['aws_endpoint_url']}" in endpoints
        assert f"KAFKA_BOOTSTRAP_SERVERS={state['bootstrap_servers']}" in endpoints
        assert state["pid"] == process.pid
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=state["aws_endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

        # A workflow waits for its payment; the payment is published from another process.
        execution = sfn.start_execution(
            stateMachineArn=state["state_machines"]["order-payment"],
            name="order-1001",
            input=json.dumps({"orderId": "1001", "item": "espresso machine", "amount": 249.0}),
        )["executionArn"]
        until(lambda: "payments#1001  version 1  1 waiting" in local("table", env=stack_env).stdout)
        payment = tmp_path / "payment.json"
        payment.write_text(
            json.dumps(
                {"address": "payments/1001", "message": {"value": {"orderId": "1001", "amount": 249.0}}}
            )
        )
        ack = json.loads(local("invoke", "producer", str(payment), "--stack", env=stack_env).stdout)
        assert ack["topic"] == "payments"
        output.wait_for("execution order-1001 (order-payment) SUCCEEDED")
        described = sfn.describe_execution(executionArn=execution)
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"])["payment"]["value"] == {"orderId": "1001", "amount": 249.0}
        assert "handled   payments#1001  message payments-" in local("table", env=stack_env).stdout

        # A record without an order id is dead-lettered; with a key expression that fits it, it is replayed.
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"address": "payments/x", "message": {"value": {"amount": 5}}}))
        local("invoke", "producer", str(bad), "--stack", env=stack_env)
        output.wait_for("dead-lettered: ExpressionError")
        (message,) = json.loads(local("dlq", "--json", env=stack_env).stdout)
        assert message["body"]["error"] == "ExpressionError"
        assert (
            "ExpressionError  CORRELATION_KEY_EXPRESSION gave no value" in local("dlq", env=stack_env).stdout
        )
        report = json.loads(
            local(
                "redrive", "--json", "--env", "CORRELATION_KEY_EXPRESSION==value.amount", env=stack_env
            ).stdout
        )
        assert (report["received"], report["replayed"]) == (1, 1)
        assert "the dead-letter queue is empty" in local("dlq", env=stack_env).stdout
        assert "0 message(s)" in local("redrive", env=stack_env).stdout

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        output.until_closed()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert output.lines[-1].endswith("] interrupted"), "\n".join(output.lines)
    assert "Traceback" not in process.stderr.read()
    assert not state_file.exists()
