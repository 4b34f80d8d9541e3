"""The idempotency table in template.yaml: created only when enabled, read by the producer alone.

Deployed on paper through the SAM translator (tests/unit/test_template_transform.py) with
``EnableIdempotency`` off and on: the table, the producer's ``IDEMPOTENCY_TABLE`` and its
one IAM statement come and go together, and the table has the schema Powertools'
``DynamoDBPersistenceLayer`` uses.
"""

from __future__ import annotations

from kafka_connector import environment
from tests.unit.test_template_transform import DEPLOYMENTS, deploy, refused

BASE = DEPLOYMENTS["self-managed-public-no-auth"][0]
POWERTOOLS_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def producer_environment(stack) -> dict[str, object]:
    return stack.resources()["ProducerFunction"]["Properties"]["Environment"]["Variables"]


def test_disabled_by_default_no_table_no_permission_and_an_empty_variable() -> None:
    stack = deploy(**BASE)
    assert "IdempotencyTable" not in stack.resources()
    assert producer_environment(stack)[environment.IDEMPOTENCY_TABLE] == ""
    assert not {a for a in stack.role_actions("ProducerRole") if a.startswith("dynamodb:")}


def test_enabled_creates_the_powertools_table_and_scopes_the_producer_to_it() -> None:
    stack = deploy(**BASE, EnableIdempotency="true", IdempotencyTtlSeconds="3600")
    table = stack.resources()["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    variables = producer_environment(stack)
    assert variables[environment.IDEMPOTENCY_TABLE] == "<IdempotencyTable>"  # the table resource
    assert str(variables[environment.IDEMPOTENCY_TTL_SECONDS]) == "3600"
    statement = stack.statement("ProducerRole", "IdempotencyRecords")
    assert set(statement["Action"]) == POWERTOOLS_ACTIONS
    assert statement["Resource"] == "<IdempotencyTable.Arn>"
    dynamodb = {a for a in stack.role_actions("ProducerRole") if a.startswith("dynamodb:")}
    assert dynamodb == POWERTOOLS_ACTIONS
    # Nobody else reads or writes it.
    for name, resource in stack.resources().items():
        if name != "ProducerRole" and resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            assert "IdempotencyTable" not in str(resource), name


def test_the_ttl_is_bounded_like_the_variable() -> None:
    assert refused(**BASE, EnableIdempotency="true", IdempotencyTtlSeconds="0")
    assert refused(**BASE, EnableIdempotency="true", IdempotencyTtlSeconds="31622401")
    assert refused(**BASE, EnableIdempotency="yes")
