"""The registry client is imported only when a registry is used: handlers' cold start is unchanged.

``confluent_kafka`` (its C extension and librdkafka, Authlib, httpx) costs more to import than
boto3 and kafka-python together; a function without a registry must never load it. Each case
runs in a fresh interpreter: what one test imported must not hide what another would.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import base64, json, os, sys
os.environ.update(json.loads(sys.argv[1]))
import functions.consumer.app, functions.producer.app, functions.subscribe.app
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.records import decode_record
config = ConsumerConfig.from_environment()
record = {"topic": "t", "partition": 0, "offset": 0, "value": base64.b64encode(b'{"orderId": "1"}').decode()}
assert decode_record(record, config.avro)["value"] == {"orderId": "1"}
print("loaded:", "confluent_kafka" in sys.modules)
"""
BASE = {
    "CONNECTOR_MODE": "start",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:s",
    "CORRELATION_TABLE": "t",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.mark.parametrize(
    "env",
    [
        BASE,
        {**BASE, "SCHEMA_REGISTRY_URL": "https://registry.example.com", "SCHEMA_REGISTRY_AUTH_SECRET": "sr"},
    ],
    ids=["no registry", "registry configured, JSON record"],
)
def test_handlers_and_json_records_do_not_import_the_registry_client(env):
    import json

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": f"layers/kafka_connector:{ROOT}", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded: False" in done.stdout
