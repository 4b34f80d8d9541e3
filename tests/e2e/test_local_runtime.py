"""``python -m local demo`` as a newcomer runs it (invoke: test_local_samples, test_local_invoke_errors)."""

import os
import re
from pathlib import Path

from tests.support.local_cli import run_local


def run(*args, timeout=120):
    return run_local(*args, timeout=timeout)


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


def test_demo_succeeds_and_leaves_nothing_behind():
    result = run("demo", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "execution order-1001 SUCCEEDED" in result.stdout
    assert '"status": "CAPTURED"' in result.stdout
    assert result.stdout.count("SUCCEEDED with") == 2  # the start-mode leg
    broker = re.search(r"Kafka broker: (\S+) \(embedded", result.stdout)
    if broker:  # with KAFKA_BOOTSTRAP_SERVERS the demo starts no broker
        assert processes_listening_on(f"tcp://{broker.group(1)}") == []
