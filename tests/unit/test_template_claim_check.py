"""template.yaml's large-message settings, deployed on paper through the SAM translator.

``IncludeRawValue`` and ``EnableClaimCheck`` (docs/payloads.md#large-messages): the bucket exists
only when asked for, is encrypted, private and lifecycle-expired, and the only access to it is
the consumer's ``s3:PutObject`` and the example state machines' ``s3:GetObject`` on its objects.
``ProducerValueBucket`` (docs/payloads.md#values-from-s3): the producer's ``s3:GetObject`` on that
bucket's objects, and nothing without it.
"""

from __future__ import annotations

import pytest

from kafka_connector import environment
from kafka_connector.inbound.config import ConsumerConfig
from tests.unit.test_template_transform import SELF_MANAGED, Stack, deploy, refused

STATE_MACHINE_ROLES = (
    "OrderPaymentStateMachineRole",
    "OrderPaymentDirectStateMachineRole",
    "OnPaymentStateMachineRole",
)
OBJECTS = "<ClaimCheckBucket.Arn>/*"


def s3_statements(stack: Stack) -> dict[tuple[str, str], dict[str, object]]:
    """Every statement granting an S3 action, by (role, Sid)."""
    found = {}
    for name, resource in stack.of_type("AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                actions = action if isinstance(action, list) else [action]
                if any(a.startswith("s3:") for a in actions):
                    found[name, statement["Sid"]] = statement
    return found


def consumer_env(stack: Stack) -> dict[str, str]:
    return stack.resources()["ConsumerFunction"]["Properties"]["Environment"]["Variables"]


def test_no_bucket_and_no_s3_access_by_default() -> None:
    stack = deploy(**SELF_MANAGED)
    assert stack.of_type("AWS::S3::Bucket") == {}
    assert s3_statements(stack) == {}
    assert consumer_env(stack)[environment.CLAIM_CHECK_BUCKET] == ""
    assert consumer_env(stack)[environment.INCLUDE_RAW_VALUE] == "auto"


def test_the_bucket_is_encrypted_private_expiring_and_retained() -> None:
    stack = deploy(**SELF_MANAGED, EnableClaimCheck="true", ClaimCheckExpirationDays="14")
    [(name, bucket)] = stack.of_type("AWS::S3::Bucket").items()
    assert name == "ClaimCheckBucket"
    properties = bucket["Properties"]
    [encryption] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    assert (rule["Status"], str(rule["ExpirationInDays"])) == ("Enabled", "14")
    assert "Prefix" not in rule
    assert "Filter" not in rule  # every object expires
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert consumer_env(stack)[environment.CLAIM_CHECK_BUCKET] == "<ClaimCheckBucket>"


def test_least_privilege_on_the_bucket() -> None:
    stack = deploy(**SELF_MANAGED, EnableClaimCheck="true")
    granted = {key: (s["Effect"], s["Action"], s["Resource"]) for key, s in s3_statements(stack).items()}
    assert granted == {
        ("ConsumerFunctionRole", "WriteClaimChecks"): ("Allow", "s3:PutObject", OBJECTS),
        ("RedriveFunctionRole", "RedriveWriteClaimChecks"): ("Allow", "s3:PutObject", OBJECTS),
        **{(role, "ReadClaimChecks"): ("Allow", "s3:GetObject", OBJECTS) for role in STATE_MACHINE_ROLES},
    }
    for statement in s3_statements(stack).values():
        assert "Condition" not in statement


@pytest.mark.parametrize("days", ["0", "401"])
def test_the_expiry_is_bounded(days: str) -> None:
    assert refused(**SELF_MANAGED, EnableClaimCheck="true", ClaimCheckExpirationDays=days)


@pytest.mark.parametrize("setting", ["auto", "true", "false"])
def test_every_include_raw_value_the_template_offers_is_read(setting: str) -> None:
    stack = deploy(**SELF_MANAGED, IncludeRawValue=setting)
    env = consumer_env(stack)
    assert env[environment.INCLUDE_RAW_VALUE] == setting
    config = ConsumerConfig.from_environment(
        {"CONNECTOR_MODE": "start", "STATE_MACHINE_ARN": "arn", environment.INCLUDE_RAW_VALUE: setting}
    )
    assert config.include_raw_value == {"auto": None, "true": True, "false": False}[setting]


def test_include_raw_value_refuses_other_values() -> None:
    assert refused(**SELF_MANAGED, IncludeRawValue="yes")


def test_the_producer_reads_values_only_from_its_bucket() -> None:
    assert s3_statements(deploy(**SELF_MANAGED)) == {}
    stack = deploy(**SELF_MANAGED, ProducerValueBucket="order-exports")
    granted = {key: (s["Effect"], s["Action"], s["Resource"]) for key, s in s3_statements(stack).items()}
    assert granted == {
        ("ProducerRole", "ReadValuesFromS3"): ("Allow", "s3:GetObject", "arn:aws:s3:::order-exports/*")
    }


@pytest.mark.parametrize("bucket", ["Order_Exports", "a", "bucket/with/path", "*"])
def test_the_producer_bucket_must_be_a_bucket_name(bucket: str) -> None:
    assert refused(**SELF_MANAGED, ProducerValueBucket=bucket)


def test_an_instance_without_the_consumer_has_no_bucket_and_grants_nothing_on_one() -> None:
    # A shared instance (examples/multi-connector) with EnableClaimCheck: nothing would write to it.
    stack = deploy(**SELF_MANAGED, EnableClaimCheck="true", DeployConsumer="false")
    assert stack.of_type("AWS::S3::Bucket") == {}
    assert s3_statements(stack) == {}
