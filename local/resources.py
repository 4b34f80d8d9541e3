"""The AWS resources the template creates, created the same way in the emulator.

Names match the template's defaults so that examples read the same locally and on AWS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from local.functions import ROOT

CORRELATION_TABLE = "kafka-connector-correlation"
DEAD_LETTER_QUEUE = "kafka-connector-dlq"
ROLE_ARN = "arn:aws:iam::123456789012:role/kafka-connector-local"
ACCOUNT_ID = "123456789012"
#: Secrets the example events refer to as {{secrets.KAFKA_USER}} / {{secrets.KAFKA_PASSWORD}}.
LOCAL_SECRETS = {"KAFKA_USER": "local-user", "KAFKA_PASSWORD": "local-password-change-me"}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class LocalResources:
    table: str
    dead_letter_queue_url: str


def function_arn(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def create_resources() -> LocalResources:
    """Correlation table, dead-letter queue and the example secrets, in whatever boto3 points at."""
    dynamodb, sqs, secrets = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("secretsmanager")
    dynamodb.create_table(
        TableName=CORRELATION_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=CORRELATION_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    queue_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    for name, value in LOCAL_SECRETS.items():
        secrets.create_secret(Name=name, SecretString=value)
    return LocalResources(CORRELATION_TABLE, queue_url)


def definition(file_name: str, substitutions: dict[str, str]) -> str:
    """An ASL file from ``statemachines/`` with its ``${Name}`` substitutions applied, as SAM does."""
    text = (ROOT / "statemachines" / file_name).read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"{file_name} needs substitutions for {', '.join(missing)}")
    text = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(text)  # a bad substitution fails here, not inside Step Functions
    return text


def deploy_state_machine(name: str, file_name: str, substitutions: dict[str, str]) -> str:
    return boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition(file_name, substitutions), roleArn=ROLE_ARN
    )["stateMachineArn"]


def read_event(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def function_environment(
    code: str, resources: LocalResources, bootstrap: str | None = None
) -> dict[str, str]:
    """Each function's environment as the template sets it, pointed at local resources."""
    common = {"POWERTOOLS_METRICS_NAMESPACE": "KafkaConnector", "POWERTOOLS_SERVICE_NAME": f"kafka-{code}"}
    specific = {
        "producer": {"KAFKA_BOOTSTRAP_SERVERS": bootstrap or "", "SECRETS_PREFIX": ""},
        "consumer": {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "MESSAGE_TTL_SECONDS": "300",
            "CORRELATION_TABLE": resources.table,
            "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
        },
        "subscribe": {"CORRELATION_TABLE": resources.table},
    }[code]
    return {**common, **specific}
