"""template.yaml's schema registry parameters, deployed on paper (README.md#schema-registries).

Through the SAM translator and CloudFormation's own evaluation (tests/unit/test_template_transform.py):
the consumer function gets SCHEMA_REGISTRY_URL and SCHEMA_REGISTRY_AUTH_SECRET, its role
reads exactly that secret, and each kind of event source mapping holds the
SchemaRegistryConfig its parameters ask for — and none without them.
"""

from __future__ import annotations

import pytest

from tests.unit.test_template_transform import (
    ACCOUNT,
    MSK,
    REGION,
    SCRAM_SECRET,
    SELF_MANAGED,
    deploy,
    refused,
)

REGISTRY = "https://psrc-abc12.eu-central-1.aws.confluent.cloud"
REGISTRY_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:confluent-sr-key-AbCdEf"
GLUE_REGISTRY = f"arn:aws:glue:{REGION}:{ACCOUNT}:registry/payments"
SOURCES = {
    "msk": ({**MSK, "KafkaAuthType": "IAM"}, "MskEventSourceMapping", "AmazonManagedKafkaEventSourceConfig"),
    "self-managed": (SELF_MANAGED, "SelfManagedEventSourceMapping", "SelfManagedKafkaEventSourceConfig"),
}


def source_config(stack, mapping, config):
    return stack.resources()[mapping]["Properties"].get(config)


def consumer_environment(stack):
    return stack.resources()["ConsumerFunction"]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize(("parameters", "mapping", "config"), SOURCES.values(), ids=SOURCES)
def test_without_registry_parameters_nothing_changes(parameters, mapping, config):
    stack = deploy(**parameters)
    assert source_config(stack, mapping, config) is None
    assert source_config(deploy(**parameters, ConsumerGroupId="payments"), mapping, config) == {
        "ConsumerGroupId": "payments"
    }
    environment = consumer_environment(stack)
    assert (environment["SCHEMA_REGISTRY_URL"], environment["SCHEMA_REGISTRY_AUTH_SECRET"]) == ("", "")
    policies = stack.resources()["ConsumerFunctionRole"]["Properties"]["Policies"]
    sids = {s.get("Sid") for p in policies for s in p["PolicyDocument"]["Statement"]}
    assert not sids & {"SchemaRegistryAuthSecret", "EventSourceGlueRegistry"}


@pytest.mark.parametrize(("parameters", "mapping", "config"), SOURCES.values(), ids=SOURCES)
def test_a_confluent_registry_for_the_function_and_the_mapping(parameters, mapping, config):
    stack = deploy(
        **parameters,
        ConsumerGroupId="payments",
        SchemaRegistryUrl=REGISTRY,
        SchemaRegistryAuthSecretArn=REGISTRY_SECRET,
        EventSourceSchemaRegistryUri=REGISTRY,
    )
    assert source_config(stack, mapping, config) == {
        "ConsumerGroupId": "payments",
        "SchemaRegistryConfig": {
            "SchemaRegistryURI": REGISTRY,
            "EventRecordFormat": "JSON",
            "AccessConfigs": [{"Type": "BASIC_AUTH", "URI": REGISTRY_SECRET}],
            "SchemaValidationConfigs": [{"Attribute": "VALUE"}],
        },
    }
    environment = consumer_environment(stack)
    assert environment["SCHEMA_REGISTRY_URL"] == REGISTRY
    assert environment["SCHEMA_REGISTRY_AUTH_SECRET"] == REGISTRY_SECRET
    statement = stack.statement("ConsumerFunctionRole", "SchemaRegistryAuthSecret")
    assert (statement["Action"], statement["Resource"]) == ("secretsmanager:GetSecretValue", REGISTRY_SECRET)


@pytest.mark.parametrize(("parameters", "mapping", "config"), SOURCES.values(), ids=SOURCES)
def test_a_glue_registry_for_the_mapping_uses_the_role_not_a_secret(parameters, mapping, config):
    stack = deploy(
        **parameters,
        SchemaRegistryAuthSecretArn=REGISTRY_SECRET,  # for the function's own Confluent registry only
        EventSourceSchemaRegistryUri=GLUE_REGISTRY,
        EventSourceRecordFormat="SOURCE",
        EventSourceSchemaValidation="KEY_AND_VALUE",
    )
    assert source_config(stack, mapping, config) == {
        "SchemaRegistryConfig": {
            "SchemaRegistryURI": GLUE_REGISTRY,
            "EventRecordFormat": "SOURCE",
            "SchemaValidationConfigs": [{"Attribute": "KEY"}, {"Attribute": "VALUE"}],
        },
    }
    statement = stack.statement("ConsumerFunctionRole", "EventSourceGlueRegistry")
    assert (statement["Action"], statement["Resource"]) == ("glue:GetRegistry", GLUE_REGISTRY)


@pytest.mark.parametrize(("parameters", "mapping", "config"), SOURCES.values(), ids=SOURCES)
def test_a_secret_for_the_mapping_alone_leaves_the_function_without_a_registry(parameters, mapping, config):
    """Without SchemaRegistryUrl the function decodes nothing through a registry, and still starts."""
    stack = deploy(
        **parameters, SchemaRegistryAuthSecretArn=REGISTRY_SECRET, EventSourceSchemaRegistryUri=REGISTRY
    )
    assert source_config(stack, mapping, config)["SchemaRegistryConfig"]["AccessConfigs"] == [
        {"Type": "BASIC_AUTH", "URI": REGISTRY_SECRET}
    ]
    environment = consumer_environment(stack)
    assert (environment["SCHEMA_REGISTRY_URL"], environment["SCHEMA_REGISTRY_AUTH_SECRET"]) == (
        "",
        REGISTRY_SECRET,
    )
    from kafka_connector.inbound.config import ConsumerConfig

    config = ConsumerConfig.from_environment({**environment, "CORRELATION_TABLE": "t"})
    assert config.avro.registry is None


def test_validating_keys_only():
    stack = deploy(**SELF_MANAGED, EventSourceSchemaRegistryUri=REGISTRY, EventSourceSchemaValidation="KEY")
    config = source_config(stack, "SelfManagedEventSourceMapping", "SelfManagedKafkaEventSourceConfig")
    assert config["SchemaRegistryConfig"]["SchemaValidationConfigs"] == [{"Attribute": "KEY"}]
    assert "AccessConfigs" not in config["SchemaRegistryConfig"]


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({"SchemaRegistryUrl": "psrc-abc12.confluent.cloud"}, "SchemaRegistryUrl"),
        ({"SchemaRegistryAuthSecretArn": "confluent-key"}, "SchemaRegistryAuthSecretArn"),
        ({"EventSourceSchemaRegistryUri": "http://registry:8081"}, "EventSourceSchemaRegistryUri"),
        ({"EventSourceSchemaRegistryUri": SCRAM_SECRET}, "EventSourceSchemaRegistryUri"),
        ({"EventSourceRecordFormat": "AVRO"}, "EventSourceRecordFormat"),
    ],
)
def test_refused(parameters, reason):
    reasons = refused(**SELF_MANAGED, **parameters)
    assert any(reason in r for r in reasons), reasons


def test_the_producer_reads_and_registers_glue_versions_under_named_schemas_only():
    stack = deploy(**SELF_MANAGED)
    statement = stack.statement("ProducerRole", "GlueSchemaVersionForAvro")
    assert set(statement["Action"]) == {
        "glue:GetSchemaByDefinition",
        "glue:GetSchemaVersion",  # avro.version: names the registry and the schema
        "glue:RegisterSchemaVersion",  # avro.autoRegister
    }
    assert statement["Resource"] == [
        f"arn:aws:glue:{REGION}:{ACCOUNT}:registry/*",
        f"arn:aws:glue:{REGION}:{ACCOUNT}:schema/*",
    ]
