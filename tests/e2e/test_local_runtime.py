"""The local runtime as a newcomer uses it: ``python -m local invoke`` and ``python -m local demo``."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").glob("*.json"))


def run(*args, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "local", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def response_of(stdout: str):
    """The response is the last JSON document printed (logs come before it, as in `sam local invoke`)."""
    start = stdout.rstrip().rfind("\n{\n")
    return json.loads(stdout[start + 1 :] if start >= 0 else stdout)


def processes_listening_on(address: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "tansu" in command and address in command:
            found.append(pid)
    return found


def test_every_event_file_is_covered():
    functions = {path.stem.split("-")[0] for path in EVENTS}
    assert functions == {"producer", "consumer", "subscribe"}


@pytest.mark.parametrize("path", EVENTS, ids=[p.name for p in EVENTS])
def test_invoke_every_event(path):
    function = path.stem.split("-")[0]
    result = run("invoke", function, str(path.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    response = response_of(result.stdout)
    if function == "producer" and path.name == "producer-batch.json":
        assert len(response["records"]) == len(json.loads(path.read_text())["messages"])
        response = response["records"][0]
    if function == "producer":
        assert {"topic", "partition", "offset", "timestamp"} <= set(response)
        assert response["offset"] >= 0
        if path.name == "producer-address-partition.json":
            assert response["partition"] == 0
    elif function == "consumer":
        assert response == {"batchItemFailures": []}
    else:
        assert response["status"] == "waiting"


def test_invoke_reports_errors_like_lambda(tmp_path):
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"topic": {"topicName": "orders#x"}, "message": {"value": 1}}))
    result = run("invoke", "producer", str(event))
    assert result.returncode == 1
    assert 'ConnectorInputError: {"status":400' in result.stdout
    assert "topic.topicName" in result.stdout


def test_demo_succeeds_and_leaves_nothing_behind():
    result = run("demo", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "execution order-1001 SUCCEEDED" in result.stdout
    assert '"status": "CAPTURED"' in result.stdout
    assert result.stdout.count("SUCCEEDED with") == 2  # the start-mode leg
    broker = re.search(r"Kafka broker: (\S+) \(embedded", result.stdout)
    if broker:  # with KAFKA_BOOTSTRAP_SERVERS the demo starts no broker
        assert processes_listening_on(f"tcp://{broker.group(1)}") == []
