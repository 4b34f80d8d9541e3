"""Static checks of template.yaml and the example state machines (README: Deploying with SAM).

Fast and offline: the template is read with a YAML loader that understands CloudFormation's
short tags, then every reference, condition, environment variable, IAM statement and ASL
placeholder is checked against what it points to. cfn-lint (``make lint``) validates the
resource schemas; these tests pin down what a schema cannot know: that the consumer's
environment is exactly what ConsumerConfig reads, that the state machines' placeholders
match their substitutions, and which IAM statements may use ``Resource: "*"``.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_connector import environment
from kafka_connector.inbound.config import ConsumerConfig
from local.template import CloudFormationLoader, load_template
from tests.support.template import EVENT_SOURCE_VPC_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "kafka_connector" / "kafka_connector"
RUNTIME = "python3.12"
#: cfn-lint's copies of the Lambda runtime lifecycle and of the IAM action catalogue.
CFN_LINT_SPECS = importlib.resources.files("cfnlint.data.AdditionalSpecs")

# -- the template, read with CloudFormation's short tags (the local runtime's loader) ----------------


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources() -> dict[str, Any]:
    return template()["Resources"]


def resources_of(kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources().items() if r["Type"] == kind}


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every node of the template with its path, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def function_env(name: str) -> dict[str, Any]:
    return resources()[name]["Properties"]["Environment"]["Variables"]


def global_function_property(name: str) -> Any:
    return template().get("Globals", {}).get("Function", {}).get(name)


# -- references -----------------------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def sub_variables(text: str) -> list[str]:
    """``${Name}`` and ``${Res.Attr}`` in a Fn::Sub string, without ``${!Literal}``."""
    return [v for v in _SUB_VARIABLE.findall(text) if not v.startswith("!")]


def test_template_is_sam() -> None:
    assert template()["Transform"] == "AWS::Serverless-2016-10-31"
    assert set(resources_of("AWS::Serverless::Function")) == {
        "ProducerFunction",
        "ConsumerFunction",
        "SubscribeFunction",
        "RedriveFunction",
    }


def test_every_ref_names_a_parameter_or_resource() -> None:
    known = set(template()["Parameters"]) | set(resources())
    refs = [
        (path, node["Ref"]) for path, node in walk(template()) if isinstance(node, dict) and "Ref" in node
    ]
    assert refs
    bad = [(path, name) for path, name in refs if name not in known and not name.startswith("AWS::")]
    assert not bad


def test_every_getatt_names_a_resource() -> None:
    getatts = [
        (path, node["Fn::GetAtt"])
        for path, node in walk(template())
        if isinstance(node, dict) and "Fn::GetAtt" in node
    ]
    assert getatts
    for path, value in getatts:
        assert isinstance(value, list)
        assert len(value) == 2, path
        assert value[0] in resources(), path


def test_every_sub_variable_is_defined() -> None:
    known = set(template()["Parameters"]) | set(resources())
    subs = [
        (path, node["Fn::Sub"])
        for path, node in walk(template())
        if isinstance(node, dict) and "Fn::Sub" in node
    ]
    assert subs
    for path, value in subs:
        text, local = (value, {}) if isinstance(value, str) else (value[0], value[1])
        for variable in sub_variables(text):
            if variable.startswith("AWS::") or variable in local:
                continue
            if "." in variable:
                assert variable.split(".", 1)[0] in resources(), (path, variable)
            else:
                assert variable in known, (path, variable)


def test_sub_variable_parsing() -> None:
    assert sub_variables("arn:${AWS::Partition}:x:${Name}:${Res.Arn}/${!Literal}") == [
        "AWS::Partition",
        "Name",
        "Res.Arn",
    ]


def test_depends_on_names_resources() -> None:
    for name, resource in resources().items():
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends:
            assert target in resources(), (name, target)


def used_conditions() -> set[str]:
    used: set[str] = set()
    for _path, node in walk(template()):
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("Condition"), str):  # resource/output Condition, or !Condition
            used.add(node["Condition"])
        if "Fn::If" in node:
            used.add(node["Fn::If"][0])
    return used


def test_every_condition_used_is_defined_and_every_defined_one_used() -> None:
    defined = set(template()["Conditions"])
    assert used_conditions() <= defined
    assert defined <= used_conditions(), "unused conditions"


def test_every_parameter_has_a_default_and_is_used() -> None:
    """`sam deploy --guided` offers each default; an unused parameter is a lie to the deployer."""
    referenced = {node["Ref"] for _, node in walk(template()) if isinstance(node, dict) and "Ref" in node}
    for _, node in walk(template()):
        if isinstance(node, dict) and "Fn::Sub" in node:
            value = node["Fn::Sub"]
            referenced.update(sub_variables(value if isinstance(value, str) else value[0]))
    for name, parameter in template()["Parameters"].items():
        assert "Default" in parameter, name
        assert name in referenced, name


# -- functions -------------------------------------------------------------------------------------


def effective(resource: dict[str, Any], name: str) -> Any:
    return resource["Properties"].get(name, global_function_property(name))


@cache
def lambda_runtime_lifecycle() -> dict[str, Any]:
    return json.loads(CFN_LINT_SPECS.joinpath("LmbdRuntimeLifecycle.json").read_text())


def test_runtimes_are_python312_and_supported_by_lambda() -> None:
    for name, function in resources_of("AWS::Serverless::Function").items():
        assert effective(function, "Runtime") == RUNTIME, name
        assert effective(function, "Handler") == "app.lambda_handler", name
        code = ROOT / function["Properties"]["CodeUri"] / "app.py"
        assert "def lambda_handler(" in code.read_text(), name
    layer = resources()["KafkaConnectorLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Properties"]["ContentUri"] == "layers/kafka_connector/"
    assert layer["Metadata"]["BuildMethod"] == RUNTIME
    # A runtime Lambda knows (cfn-lint's copy of the runtime lifecycle). Whether it is past its
    # deprecation is a question of today's date, which a test must not depend on: cfn-lint in
    # `make lint` (rule W2531/E2531) reports that when it happens.
    assert "create-block" in lambda_runtime_lifecycle()[RUNTIME]


def test_functions_use_the_layer_and_powertools_settings() -> None:
    # This stack's layer, or another instance's (ExistingLayerArn, tests/unit/test_template_nested.py).
    assert global_function_property("Layers") == [
        {"Fn::If": ["CreateLayer", {"Ref": "KafkaConnectorLayer"}, {"Ref": "ExistingLayerArn"}]}
    ]
    assert global_function_property("Tracing") == "Active"
    shared = global_function_property("Environment")["Variables"]
    assert shared["POWERTOOLS_METRICS_NAMESPACE"] == "KafkaConnector"
    assert shared["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    services = {
        name: function_env(name)["POWERTOOLS_SERVICE_NAME"]
        for name in resources_of("AWS::Serverless::Function")
    }
    assert services == {
        "ProducerFunction": "kafka-producer",
        "ConsumerFunction": "kafka-consumer",
        "SubscribeFunction": "kafka-subscribe",
        "RedriveFunction": "kafka-redrive",
    }


def test_producer_outlives_the_kafka_client_waits() -> None:
    # kafka-python: bootstrap up to 30 s, then delivery.timeout.ms (45 s) + 5 s margin.
    assert resources()["ProducerFunction"]["Properties"]["Timeout"] > 30 + 45 + 5 + 10
    for function in resources_of("AWS::Serverless::Function").values():
        assert function["Properties"]["MemorySize"] >= 256


class RecordingEnvironment(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return super().get(name, default)


def test_consumer_config_reads_exactly_the_consumer_variables() -> None:
    env = RecordingEnvironment(
        {
            "CORRELATION_KEY_EXPRESSION": "=key",
            "CORRELATION_TABLE": "t",
            "SERIALIZATION_TYPE": "avro",
            "AVRO_WIRE_FORMAT": "glue",
        }
    )
    ConsumerConfig.from_environment(env)
    assert env.read == environment.CONSUMER_VARIABLES


def own_variables(name: str) -> set[str]:
    return {v for v in function_env(name) if not v.startswith("POWERTOOLS_")}


def test_consumer_environment_is_exactly_what_consumer_config_reads() -> None:
    assert {"CONNECTOR_MODE", "CORRELATION_KEY_EXPRESSION", "DEAD_LETTER_QUEUE_URL", "AVRO_SCHEMA"} <= (
        environment.CONSUMER_VARIABLES
    )
    assert own_variables("ConsumerFunction") == environment.CONSUMER_VARIABLES


def test_other_functions_environment() -> None:
    assert own_variables("SubscribeFunction") == environment.SUBSCRIBE_VARIABLES == {"CORRELATION_TABLE"}
    assert own_variables("ProducerFunction") == environment.PRODUCER_VARIABLES


def test_the_functions_read_the_variables_by_their_constant() -> None:
    """No function spells a variable name itself: each goes through kafka_connector.environment."""
    for code in ("producer", "consumer", "subscribe"):
        text = (ROOT / "functions" / code / "app.py").read_text()
        assert not re.search(r"environ(?:\.get\(|\[)\s*\"", text), code


def default_value(node: Any) -> str:
    """An environment value as a deployment with every parameter at its default would set it."""
    if isinstance(node, dict) and "Ref" in node:
        parameter = template()["Parameters"].get(node["Ref"])
        return str(parameter["Default"]) if parameter else f"<{node['Ref']}>"
    return str(node)


def test_consumer_configuration_with_default_parameters_is_valid() -> None:
    from kafka_connector.inbound.config import ConsumerConfig, Mode

    env = {name: default_value(value) for name, value in function_env("ConsumerFunction").items()}
    config = ConsumerConfig.from_environment(env)
    assert config.mode is Mode.CORRELATE
    assert config.correlation_key is not None
    assert config.ttl_seconds == 0
    assert config.message_name is None  # empty MessageName: each record's topic


# -- storage and the event source mapping -------------------------------------------------------------


def test_correlation_table_schema() -> None:
    from kafka_connector.inbound import table as correlation_table

    table = resources()["CorrelationTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    source = Path(correlation_table.__file__).read_text()
    assert '{"pk": {"S": key}}' in source
    assert "expiresAt" in source


def test_dead_letter_queue() -> None:
    queue = resources()["DeadLetterQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(
    ("name", "condition", "source_config", "access_condition"),
    [
        ("MskEventSourceMapping", "HasMskEventSource", "AmazonManagedKafkaEventSourceConfig", "IsSecretAuth"),
        (
            "SelfManagedEventSourceMapping",
            "HasSelfManagedEventSource",
            "SelfManagedKafkaEventSourceConfig",
            "HasSelfManagedSourceAccess",
        ),
    ],
)
def test_event_source_mapping(name: str, condition: str, source_config: str, access_condition: str) -> None:
    mapping = resources()[name]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    assert mapping["Condition"] == condition
    properties = mapping["Properties"]
    assert properties["FunctionName"] == {"Ref": "ConsumerFunction"}
    assert properties["Topics"] == [{"Ref": "TopicName"}]
    assert properties["StartingPosition"] == {"Ref": "StartingPosition"}
    assert properties["StartingPositionTimestamp"]["Fn::If"][0] == "IsAtTimestamp"
    assert properties["BatchSize"] == {"Ref": "BatchSize"}
    assert properties["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["MaximumRetryAttempts"] == {"Ref": "MaximumRetryAttempts"}
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    }
    # Kafka's error-handling controls above only work in provisioned mode.
    assert properties["ProvisionedPollerConfig"] == {
        "MinimumPollers": {"Ref": "MinimumPollers"},
        "MaximumPollers": {"Ref": "MaximumPollers"},
    }
    group = properties[source_config]["Fn::If"][1]["ConsumerGroupId"]  # beside SchemaRegistryConfig
    assert group == {"Fn::If": ["HasConsumerGroupId", {"Ref": "ConsumerGroupId"}, {"Ref": "AWS::NoValue"}]}
    assert properties["SourceAccessConfigurations"]["Fn::If"][0] == access_condition
    assert properties["SourceAccessConfigurations"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert mapping["DependsOn"] == "ConsumerLogGroup"


def test_msk_mapping_access_is_the_auth_entry_alone() -> None:
    """Lambda uses the cluster's own VPC and trusts MSK's certificates: only the auth secret goes here."""
    access = resources()["MskEventSourceMapping"]["Properties"]["SourceAccessConfigurations"]["Fn::If"][1]
    assert access == [{"Type": {"Ref": "KafkaAuthType"}, "URI": {"Ref": "KafkaAuthSecretArn"}}]


#: Lambda's VPC limits (VpcConfig: 16 subnets, 5 security groups). The producer's VpcConfig takes the
#: same two lists, so a deployment with more fails there instead of dropping ids here.
SUBNET_SLOTS, SECURITY_GROUP_SLOTS = 16, 5


def padded_select(index: int, parameter: str, slots: int) -> dict[str, Any]:
    """``!Select [index, <parameter> padded with empty ids>]``: in range for any list of up to ``slots``."""
    padding = "," * (slots - 1)
    joined = {"Fn::Join": [",", [{"Fn::Join": [",", {"Ref": parameter}]}, padding]]}
    return {"Fn::Select": [index, {"Fn::Split": [",", joined]}]}


def self_managed_access() -> list[Any]:
    access = resources()["SelfManagedEventSourceMapping"]["Properties"]["SourceAccessConfigurations"]
    return access["Fn::If"][1]


def test_self_managed_mapping_access_entries() -> None:
    auth, root_ca, *vpc = self_managed_access()
    assert auth == {
        "Fn::If": [
            "IsSecretAuth",
            {"Type": {"Ref": "KafkaAuthType"}, "URI": {"Ref": "KafkaAuthSecretArn"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert root_ca == {
        "Fn::If": [
            "HasServerRootCa",
            {"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": {"Ref": "KafkaServerRootCaSecretArn"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert len(vpc) == SUBNET_SLOTS + SECURITY_GROUP_SLOTS
    conditions = template()["Conditions"]
    slots = [("HasEventSourceSubnet", "VPC_SUBNET", "subnet:", "SubnetIds", SUBNET_SLOTS)] * SUBNET_SLOTS + [
        (
            "HasEventSourceSecurityGroup",
            "VPC_SECURITY_GROUP",
            "security_group:",
            "SecurityGroupIds",
            SECURITY_GROUP_SLOTS,
        )
    ] * SECURITY_GROUP_SLOTS
    indexes = list(range(SUBNET_SLOTS)) + list(range(SECURITY_GROUP_SLOTS))
    for entry, (prefix, kind, uri_prefix, parameter, size), index in zip(vpc, slots, indexes, strict=True):
        condition = f"{prefix}{index}"
        select = padded_select(index, parameter, size)
        assert entry == {
            "Fn::If": [
                condition,
                {"Type": kind, "URI": {"Fn::Join": ["", [uri_prefix, select]]}},
                {"Ref": "AWS::NoValue"},
            ]
        }
        # The slot is on when the list has an index-th id, and only for a self-managed cluster in a VPC.
        assert conditions[condition] == {
            "Fn::And": [{"Condition": "IsSelfManagedInVpc"}, {"Fn::Not": [{"Fn::Equals": [select, ""]}]}]
        }
    assert conditions["IsSelfManagedInVpc"] == {
        "Fn::And": [{"Condition": "IsSelfManaged"}, {"Condition": "HasVpc"}]
    }
    assert conditions["HasSelfManagedSourceAccess"] == {
        "Fn::Or": [
            {"Condition": "IsSecretAuth"},
            {"Condition": "HasServerRootCa"},
            {"Condition": "IsSelfManagedInVpc"},
        ]
    }


def test_vpc_slots_cover_what_the_producer_accepts() -> None:
    vpc = resources()["ProducerFunction"]["Properties"]["VpcConfig"]["Fn::If"]
    assert vpc[:2] == [
        "HasVpc",
        {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
    ]
    assert "at most 16" in template()["Parameters"]["SubnetIds"]["Description"]
    assert "at most 5" in template()["Parameters"]["SecurityGroupIds"]["Description"]


def test_self_managed_mapping_endpoints() -> None:
    properties = resources()["SelfManagedEventSourceMapping"]["Properties"]
    assert properties["SelfManagedEventSource"] == {
        "Endpoints": {"KafkaBootstrapServers": {"Fn::Split": [",", {"Ref": "KafkaBootstrapServers"}]}}
    }
    assert resources()["MskEventSourceMapping"]["Properties"]["EventSourceArn"] == {"Ref": "MskClusterArn"}


def test_every_function_has_a_log_group_with_retention() -> None:
    groups = resources_of("AWS::Logs::LogGroup").values()
    named = {
        g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups if "RetentionInDays" in g["Properties"]
    }
    for name in resources_of("AWS::Serverless::Function"):
        assert f"/aws/lambda/${{{name}}}" in named


@pytest.mark.parametrize(
    "name",
    ["CorrelationTable", "DeadLetterQueue", "ProducerLogGroup", "ConsumerLogGroup", "SubscribeLogGroup"],
)
def test_state_outlives_the_stack(name: str) -> None:
    """Waiting tokens, dead-lettered records and the logs explaining them survive deletion and replacement."""
    assert resources()[name]["DeletionPolicy"] == "Retain"
    assert resources()[name]["UpdateReplacePolicy"] == "Retain"


def test_first_deployment_reads_what_the_topic_holds() -> None:
    assert template()["Parameters"]["StartingPosition"]["Default"] == "TRIM_HORIZON"
    overrides = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
    starting = [o for o in overrides["parameter_overrides"] if o.startswith("StartingPosition=")]
    assert starting in ([], ["StartingPosition=TRIM_HORIZON"])


# -- rules ----------------------------------------------------------------------------------------------


def test_rules_refuse_half_a_vpc_and_msk_scram_without_a_customer_key() -> None:
    """What each rule asserts; tests/unit/test_template_transform.py evaluates them on parameter sets."""
    rules = template()["Rules"]
    empty = {
        name: {"Fn::EachMemberEquals": [{"Ref": name}, ""]} for name in ("SubnetIds", "SecurityGroupIds")
    }
    assert rules["SubnetsNeedSecurityGroups"] == {
        "RuleCondition": {"Fn::Not": [empty["SubnetIds"]]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [empty["SecurityGroupIds"]]},
                "AssertDescription": "SubnetIds need SecurityGroupIds (give both, or neither)",
            }
        ],
    }
    assert rules["SecurityGroupsNeedSubnets"]["RuleCondition"] == {"Fn::Not": [empty["SecurityGroupIds"]]}
    assert rules["SecurityGroupsNeedSubnets"]["Assertions"][0]["Assert"] == {"Fn::Not": [empty["SubnetIds"]]}
    scram = rules["MskScramNeedsCustomerManagedKey"]
    assert scram["RuleCondition"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "KafkaSource"}, "MSK"]},
            {"Fn::Equals": [{"Ref": "KafkaAuthType"}, "SASL_SCRAM_512_AUTH"]},
        ]
    }
    assert scram["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KafkaAuthSecretKmsKeyArn"}, ""]}]
    }
    root_ca = rules["ServerRootCaIsForSelfManaged"]
    assert root_ca["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "KafkaSource"}, "SelfManaged"]}


def test_auth_types_lambda_offers_per_source() -> None:
    """Lambda: MSK takes SCRAM-512, mTLS and IAM; self-managed SCRAM-256/512, PLAIN and mTLS (+ a root CA)."""
    allowed = set(template()["Parameters"]["KafkaAuthType"]["AllowedValues"])
    assert allowed == {
        "SASL_SCRAM_512_AUTH",
        "SASL_SCRAM_256_AUTH",
        "BASIC_AUTH",
        "CLIENT_CERTIFICATE_TLS_AUTH",
        "IAM",
        "NONE",
    }
    msk = template()["Rules"]["MskAuthTypes"]["Assertions"][0]["Assert"]["Fn::Or"]
    assert {e["Fn::Equals"][1] for e in msk} == {
        "SASL_SCRAM_512_AUTH",
        "CLIENT_CERTIFICATE_TLS_AUTH",
        "IAM",
        "NONE",
    }
    secret = template()["Rules"]["SecretAuthNeedsSecret"]["RuleCondition"]["Fn::Or"]
    assert {e["Fn::Equals"][1] for e in secret} == allowed - {"IAM", "NONE"}
    is_secret = template()["Conditions"]["IsSecretAuth"]["Fn::And"][0]["Fn::Or"]
    assert {e["Fn::Equals"][1] for e in is_secret} == allowed - {"IAM", "NONE"}


# -- state machines ----------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

EXPECTED_STATES = {
    "statemachines/order-payment.asl.json": {
        "PublishOrder",
        "WaitForPayment",
        "Done",
        "PublishFailed",
        "PaymentFailed",
    },
    "statemachines/order-payment-direct.asl.json": {"WaitForPayment", "Done", "PaymentFailed"},
    "statemachines/on-payment.asl.json": {"ShapePayment", "Done"},
}


def state_machines() -> dict[str, dict[str, Any]]:
    return resources_of("AWS::Serverless::StateMachine")


def substitutions(machine: dict[str, Any]) -> dict[str, Any]:
    return machine["Properties"].get("DefinitionSubstitutions", {})


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def substituted(machine: dict[str, Any]) -> dict[str, Any]:
    """The definition as CloudFormation would hand it to Step Functions (dummy values)."""
    text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text()
    dummies = {name: f"dummy-{name.lower()}" for name in substitutions(machine)}
    return json.loads(_PLACEHOLDER.sub(lambda m: dummies[m.group(1)], text))


def test_each_example_state_machine_is_declared() -> None:
    uris = {m["Properties"]["DefinitionUri"] for m in state_machines().values()}
    assert uris == set(EXPECTED_STATES)
    for machine in state_machines().values():
        assert machine["Properties"]["Type"] == "STANDARD"  # waitForTaskToken; execution names dedupe


@pytest.mark.parametrize(
    "name", ["OrderPaymentStateMachine", "OrderPaymentDirectStateMachine", "OnPaymentStateMachine"]
)
def test_asl_placeholders_match_substitutions(name: str) -> None:
    machine = state_machines()[name]
    text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text()
    definition = json.loads(text)  # valid JSON before substitution
    placeholders = _PLACEHOLDER.findall(text)
    assert set(placeholders) == set(substitutions(machine))
    assert not [v for v in _SUB_VARIABLE.findall(text) if not _PLACEHOLDER.fullmatch(f"${{{v}}}")]
    # Placeholders only inside JSON strings: every one found in the text is in a parsed string.
    in_strings = [p for s in strings(definition) for p in _PLACEHOLDER.findall(s)]
    assert sorted(in_strings) == sorted(placeholders)
    # The top-level Comment documents each substitution variable by name.
    for variable in substitutions(machine):
        assert variable in definition["Comment"], variable
    if not substitutions(machine):
        assert "none" in definition["Comment"]


@pytest.mark.parametrize(
    "name", ["OrderPaymentStateMachine", "OrderPaymentDirectStateMachine", "OnPaymentStateMachine"]
)
def test_substituted_definition_is_valid(name: str) -> None:
    machine = state_machines()[name]
    definition = substituted(machine)
    states = definition["States"]
    assert set(states) == EXPECTED_STATES[machine["Properties"]["DefinitionUri"]]
    assert definition["StartAt"] in states
    assert "QueryLanguage" not in definition or definition["QueryLanguage"] == "JSONPath"
    for state_name, state in states.items():
        assert state.get("End") or state.get("Next") in states or state["Type"] in ("Succeed", "Fail"), (
            state_name
        )
    assert states["Done"] == {"Type": "Succeed"}


def test_order_payment_workflow() -> None:
    states = substituted(state_machines()["OrderPaymentStateMachine"])["States"]
    publish = states["PublishOrder"]
    assert publish["Resource"] == "arn:aws:states:::lambda:invoke"
    assert publish["Parameters"] == {
        "FunctionName": "dummy-producerfunctionarn",
        "Payload": {
            "topic": {
                "bootstrapServers": "dummy-kafkabootstrapservers",
                "topicName.$": "States.Format('dummy-orderstopic/{}', $.orderId)",
            },
            "message": {"value.$": "$"},
            "headers": {"source": "order-workflow"},
        },
    }
    assert publish["ResultSelector"] == {
        "topic.$": "$.Payload.topic",
        "partition.$": "$.Payload.partition",
        "offset.$": "$.Payload.offset",
        "timestamp.$": "$.Payload.timestamp",
    }
    assert publish["ResultPath"] != "$"  # WaitForPayment still needs $.orderId
    assert publish["Next"] == "WaitForPayment"
    wait = states["WaitForPayment"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"] == {
        "FunctionName": "dummy-subscribefunctionarn",
        "Payload": {
            "taskToken.$": "$$.Task.Token",
            "messageName": "dummy-messagename",
            "correlationKey.$": "$.orderId",
            "ttlSeconds": 86400,
        },
    }
    assert wait["TimeoutSeconds"] > 0
    assert wait["ResultPath"] == "$.payment"
    assert wait["Next"] == "Done"
    assert [c["Next"] for c in publish["Catch"]] == ["PublishFailed"] * len(publish["Catch"])
    assert [c["Next"] for c in wait["Catch"]] == ["PaymentFailed"] * len(wait["Catch"])


def test_direct_subscription_writes_the_subscribe_functions_schema() -> None:
    wait = substituted(state_machines()["OrderPaymentDirectStateMachine"])["States"]["WaitForPayment"]
    assert wait["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
    assert wait["Parameters"] == {
        "TableName": "dummy-correlationtable",
        "Key": {"pk": {"S.$": "States.Format('dummy-messagename#{}', $.orderId)"}},
        "UpdateExpression": "SET #sub = :sub ADD version :one",
        "ExpressionAttributeNames": {
            "#sub.$": "States.Format('sub_{}', States.Hash($$.Task.Token, 'SHA-256'))"
        },
        "ExpressionAttributeValues": {
            ":sub": {"M": {"token": {"S.$": "$$.Task.Token"}}},
            ":one": {"N": "1"},
        },
    }
    assert wait["ResultPath"] == "$.payment"


# What Retry and Catch may name: the connector's own errors, and the services' errors.
CONNECTOR_ERRORS = {"ConnectorInputError", "KafkaNonRetryableError", "KafkaRetryableError"}
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}
DYNAMODB_TRANSIENT = {
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceeded",
    "DynamoDb.InternalServerErrorException",
}
#: Retrying these can never succeed: the same input, the same refusal.
NEVER_RETRIED = {
    "ConnectorInputError",
    "KafkaNonRetryableError",
    "KafkaMessageTooLarge",
    "States.ALL",
    "States.Timeout",
    "States.TaskFailed",
    "DynamoDb.ValidationException",
    "DynamoDb.DynamoDbException",
}
#: What each kind of task must catch by name (before the final States.ALL).
CAUGHT_BY_NAME = {
    "arn:aws:states:::lambda:invoke": {"ConnectorInputError", "KafkaNonRetryableError"},
    "arn:aws:states:::lambda:invoke.waitForTaskToken": {
        "ConnectorInputError",
        "KafkaNonRetryableError",
        "KafkaMessageTooLarge",
        "States.Timeout",
    },
    "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken": {
        "DynamoDb.ValidationException",
        # What Step Functions reports for DynamoDB errors the SDK does not model, ValidationException
        # among them (a key over 2,048 bytes: tests/integration/test_state_machine_failures.py).
        "DynamoDb.DynamoDbException",
        "KafkaMessageTooLarge",
        "States.Timeout",
    },
}
#: The consumer's default message (docs/payloads.md); the waiting tasks keep the value and coordinates.
MESSAGE_FIELDS = {"key", "value", "rawValue", "headers", "topic", "partition", "offset", "timestamp"}
SELECTED_PAYMENT = {
    "value.$": "$.value",
    "topic.$": "$.topic",
    "partition.$": "$.partition",
    "offset.$": "$.offset",
    "timestamp.$": "$.timestamp",
}


def tasks() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(machine, state name, state, all states) for every Task state of every example state machine."""
    for name, machine in state_machines().items():
        states = substituted(machine)["States"]
        for state_name, state in states.items():
            if state["Type"] == "Task":
                yield name, state_name, state, states


def test_every_task_is_one_the_error_rules_know() -> None:
    found = {(name, state_name, state["Resource"]) for name, state_name, state, _ in tasks()}
    assert found == {
        ("OrderPaymentStateMachine", "PublishOrder", "arn:aws:states:::lambda:invoke"),
        ("OrderPaymentStateMachine", "WaitForPayment", "arn:aws:states:::lambda:invoke.waitForTaskToken"),
        (
            "OrderPaymentDirectStateMachine",
            "WaitForPayment",
            "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken",
        ),
    }


def retriers_of(state: dict[str, Any]) -> list[dict[str, Any]]:
    return state.get("Retry", [])


def test_every_task_retries_transient_errors_with_backoff() -> None:
    for name, state_name, state, _ in tasks():
        retried = {e for r in retriers_of(state) for e in r["ErrorEquals"]}
        if state["Resource"].startswith("arn:aws:states:::lambda:"):
            assert ["KafkaRetryableError"] in [r["ErrorEquals"] for r in retriers_of(state)], (
                name,
                state_name,
            )
            assert retried >= LAMBDA_TRANSIENT, (name, state_name)
        else:
            assert retried >= DYNAMODB_TRANSIENT, (name, state_name)
        for retrier in retriers_of(state):
            assert retrier["IntervalSeconds"] >= 1, (name, state_name)
            assert 2 <= retrier["MaxAttempts"] <= 5, (name, state_name)
            assert retrier["BackoffRate"] > 1, (name, state_name)  # exponential backoff
            assert retrier.get("JitterStrategy", "NONE") in ("FULL", "NONE")


def test_no_task_retries_an_error_that_cannot_succeed() -> None:
    for name, state_name, state, _ in tasks():
        retried = {e for r in retriers_of(state) for e in r["ErrorEquals"]}
        assert not retried & NEVER_RETRIED, (name, state_name)


def test_every_task_catches_into_a_fail_state() -> None:
    for name, state_name, state, states in tasks():
        catchers = state["Catch"]
        assert catchers[-1]["ErrorEquals"] == ["States.ALL"], (name, state_name)  # nothing escapes uncaught
        by_name = {e for c in catchers[:-1] for e in c["ErrorEquals"]}
        assert CAUGHT_BY_NAME[state["Resource"]] <= by_name, (name, state_name)
        assert not by_name & {e for r in retriers_of(state) for e in r["ErrorEquals"]}
        for catcher in catchers:
            assert states[catcher["Next"]]["Type"] == "Fail", (name, state_name)
            assert catcher["ResultPath"] == "$.error", (
                name,
                state_name,
            )  # the input stays, the error beside it


def test_fail_states_name_a_fixed_error_and_carry_the_caught_one() -> None:
    """A Fail state may not raise a ``States.*`` name: ErrorPath on a caught States.Timeout would be a
    States.Runtime failure instead (the emulator's interpreter enforces it). The caught error, with
    its name, is the cause."""
    for machine in state_machines().values():
        for state_name, state in substituted(machine)["States"].items():
            if state["Type"] == "Fail":
                assert state["Error"] == state_name
                assert "ErrorPath" not in state
                assert state["CausePath"] == "States.JsonToString($.error)"


def test_named_errors_are_the_connectors() -> None:
    from kafka_connector import errors
    from kafka_connector.inbound.exceptions import MessageTooLarge

    defined = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type)}
    assert defined >= CONNECTOR_ERRORS
    named = {
        e
        for _, _, state, _ in tasks()
        for handler in state.get("Retry", []) + state["Catch"]
        for e in handler["ErrorEquals"]
        if "." not in e
    }
    assert named == CONNECTOR_ERRORS | {MessageTooLarge.error}


def test_waiting_tasks_keep_the_value_and_the_coordinates() -> None:
    """ResultSelector: the message's value once (not value and rawValue), where it came from, no headers."""
    for name, state_name, state, _ in tasks():
        if state["Resource"].endswith(".waitForTaskToken"):
            assert state["ResultSelector"] == SELECTED_PAYMENT, (name, state_name)
            assert {path.removeprefix("$.") for path in SELECTED_PAYMENT.values()} <= MESSAGE_FIELDS
            assert state["ResultPath"] == "$.payment", (name, state_name)
            assert 0 < state["TimeoutSeconds"] <= 86400, (name, state_name)
            assert "OutputPath" not in state  # the order stays in the output beside its payment


def test_on_payment_shapes_the_message() -> None:
    shape = substituted(state_machines()["OnPaymentStateMachine"])["States"]["ShapePayment"]
    assert shape["Type"] == "Pass"
    assert shape["Parameters"] == {"orderId.$": "$.value.orderId", "amount.$": "$.value.amount"}


def test_state_machine_wiring() -> None:
    assert substitutions(state_machines()["OrderPaymentStateMachine"]) == {
        "ProducerFunctionArn": {"Fn::GetAtt": ["ProducerFunction", "Arn"]},
        "SubscribeFunctionArn": {"Fn::GetAtt": ["SubscribeFunction", "Arn"]},
        "KafkaBootstrapServers": {"Ref": "KafkaBootstrapServers"},
        "OrdersTopic": {"Ref": "OrdersTopicName"},
        "MessageName": {"Fn::If": ["HasMessageName", {"Ref": "MessageName"}, {"Ref": "TopicName"}]},
    }
    assert substitutions(state_machines()["OrderPaymentDirectStateMachine"]) == {
        "CorrelationTable": {
            "Fn::If": [
                "CreateCorrelationTable",
                {"Ref": "CorrelationTable"},
                {"Ref": "ExistingCorrelationTableName"},
            ]
        },
        "MessageName": {"Fn::If": ["HasMessageName", {"Ref": "MessageName"}, {"Ref": "TopicName"}]},
    }
    # Start mode starts StartStateMachineArn, else the example start-mode state machine.
    assert function_env("ConsumerFunction")["STATE_MACHINE_ARN"] == {
        "Fn::If": [
            "HasStartStateMachineArn",
            {"Ref": "StartStateMachineArn"},
            {"Fn::If": ["HasExamples", {"Ref": "OnPaymentStateMachine"}, ""]},
        ]
    }


# -- IAM -----------------------------------------------------------------------------------------------


def statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """(owning resource, statement) for every inline IAM permission statement, conditional ones included."""
    for owner, resource in resources().items():
        for path, node in walk(resource.get("Properties", {})):
            if "AssumeRolePolicyDocument" in path:  # a trust policy grants no permissions
                continue
            if isinstance(node, dict) and isinstance(node.get("Statement"), list):
                for statement in node["Statement"]:
                    yield owner, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


#: The only statements allowed ``Resource: "*"``: actions that have no resource type in the
#: Service Authorization Reference, so IAM evaluates them against "*" only.
STAR_RESOURCE_EXCEPTIONS = {
    ("ConsumerFunction", "ResumeWaitingExecutions"): {"states:SendTaskSuccess", "states:SendTaskFailure"},
    ("SubscribeFunction", "DeliverBufferedMessage"): {"states:SendTaskSuccess"},
    ("RedriveFunction", "RedriveResumeTasks"): {"states:SendTaskSuccess", "states:SendTaskFailure"},
    ("ConsumerFunction", "MskEventSourceDiscovery"): {"kafka:GetBootstrapBrokers"},
    ("ConsumerFunction", "EventSourceNetworkDiscovery"): {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    },
}
#: Statements allowed ``Resource: "*"`` although the action has resource types: the request the
#: connector makes names none of them, and IAM then authorizes it against "*" only.
STAR_RESOURCE_BY_REQUEST = {
    # GetSchemaVersion by SchemaVersionId alone (Glue's documentation; awslabs/aws-glue-schema-registry#68).
    ("ConsumerFunction", "GlueSchemaVersionById"): {"glue:GetSchemaVersion"},
    ("RedriveFunction", "RedriveGlueSchemaVersionById"): {"glue:GetSchemaVersion"},
}


def test_iam_statements_exist_everywhere_expected() -> None:
    owners = {owner for owner, _ in statements()}
    assert owners == {
        "ProducerRole",
        "ConsumerFunction",
        "SubscribeFunction",
        "RedriveFunction",
        "OrderPaymentStateMachine",
        "OrderPaymentDirectStateMachine",
        "OnPaymentStateMachine",  # reads claim checks (test_template_claim_check.py)
    }
    assert resources()["ProducerFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["ProducerRole", "Arn"]}


def test_no_wildcard_actions() -> None:
    for owner, statement in statements():
        assert "NotAction" not in statement, owner
        assert "NotResource" not in statement, owner
        assert statement["Effect"] == "Allow", owner
        for action in as_list(statement["Action"]):
            assert isinstance(action, str), (owner, action)
            assert action != "*", owner
            assert not action.endswith(":*"), (owner, action)
            assert "*" not in action, (owner, action)


def test_star_resources_are_exactly_the_documented_exceptions() -> None:
    found = {}
    for owner, statement in statements():
        if "*" in as_list(statement["Resource"]):
            assert statement["Resource"] == "*", (owner, statement.get("Sid"))
            found[owner, statement.get("Sid")] = set(as_list(statement["Action"]))
    assert found == STAR_RESOURCE_EXCEPTIONS | STAR_RESOURCE_BY_REQUEST


@cache
def iam_actions() -> dict[str, Any]:
    return json.loads(CFN_LINT_SPECS.joinpath("Policies.json").read_text())


def test_star_resource_exceptions_have_no_resource_type() -> None:
    """The reason for each exception, checked against cfn-lint's copy of the IAM action catalogue."""
    for actions in STAR_RESOURCE_EXCEPTIONS.values():
        for action in actions:
            service, name = action.split(":")
            assert not iam_actions()[service]["Actions"][name.lower()].get("Resources"), action


def test_glue_schema_version_is_read_by_version_id_alone() -> None:
    """The reason for the Glue exception: every GetSchemaVersion call names the version id, nothing else."""
    source = (LAYER / "serialization" / "glue_registry.py").read_text()
    calls = re.findall(r"\.get_schema_version\(([^)]*)\)", source)
    assert calls
    for arguments in calls:
        assert re.fullmatch(r"\s*SchemaVersionId=[^,]+,?\s*", arguments), arguments
    # Unlike STAR_RESOURCE_EXCEPTIONS, the action has resource types: they apply to requests that name them.
    for actions in STAR_RESOURCE_BY_REQUEST.values():
        for action in actions:
            service, name = action.split(":")
            assert iam_actions()[service]["Actions"][name.lower()].get("Resources"), action


def test_every_action_exists() -> None:
    """A misspelt action is silently useless; cfn-lint checks those only in some places."""
    for owner, statement in statements():
        for action in as_list(statement["Action"]):
            service, name = action.split(":")
            assert name.lower() in iam_actions()[service]["Actions"], (owner, action)


def actions_of(owner: str) -> set[str]:
    return {a for o, s in statements() if o == owner for a in as_list(s["Action"])}


def test_least_privilege_by_function() -> None:
    assert actions_of("SubscribeFunction") == {
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",
        "states:SendTaskSuccess",
    }
    consumer = actions_of("ConsumerFunction")
    assert {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:StartExecution",
        "sqs:SendMessage",
        "glue:GetSchemaVersion",
        "kafka:DescribeClusterV2",
        "kafka-cluster:ReadData",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    } | EVENT_SOURCE_VPC_ACTIONS <= consumer
    # Lambda's VPC managed policy also assigns private IPs: the pollers do not need that.
    assert not {a for a in consumer if a.startswith("ec2:") and a not in EVENT_SOURCE_VPC_ACTIONS}
    assert not {a for a in consumer if a.startswith(("dynamodb:Scan", "dynamodb:Query", "states:Stop"))}
    producer = actions_of("ProducerRole")
    assert {
        "secretsmanager:GetSecretValue",
        "glue:GetSchemaByDefinition",
        "kafka-cluster:WriteData",
    } <= producer
    # s3:GetObject: with EnableClaimCheck only, on the claim-check bucket (test_template_claim_check.py).
    assert actions_of("OrderPaymentStateMachine") == {"lambda:InvokeFunction", "s3:GetObject"}
    assert actions_of("OrderPaymentDirectStateMachine") == {"dynamodb:UpdateItem", "s3:GetObject"}


def test_producer_secrets_are_scoped_to_the_prefix() -> None:
    (statement,) = [
        s for o, s in statements() if o == "ProducerRole" and s.get("Sid") == "ReadPlaceholderSecrets"
    ]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
        ":secret:${SecretsPrefix}*"
    }


def test_vpc_permissions_only_with_a_vpc() -> None:
    managed = resources()["ProducerRole"]["Properties"]["ManagedPolicyArns"]
    vpc = [m for m in managed if isinstance(m, dict) and "Fn::If" in m]
    assert len(vpc) == 1
    assert vpc[0]["Fn::If"][0] == "HasVpc"
    assert resources()["ProducerFunction"]["Properties"]["VpcConfig"]["Fn::If"][0] == "HasVpc"
    # The consumer's: one conditional policy, on whenever the mapping's pollers run in a VPC.
    policies = resources()["ConsumerFunction"]["Properties"]["Policies"]
    holding = [
        p["Fn::If"][0]
        for p in policies
        if isinstance(p, dict)
        and "Fn::If" in p
        and any(a.startswith("ec2:") for s in p["Fn::If"][1]["Statement"] for a in as_list(s["Action"]))
    ]
    assert holding == ["EventSourceInVpc"]
    assert template()["Conditions"]["EventSourceInVpc"] == {
        "Fn::Or": [{"Condition": "IsMsk"}, {"Condition": "IsSelfManagedInVpc"}]
    }
    unconditional = [p for p in policies if not (isinstance(p, dict) and "Fn::If" in p)]
    assert not [
        a for p in unconditional for s in p["Statement"] for a in as_list(s["Action"]) if a.startswith("ec2:")
    ]


def test_network_interfaces_are_scoped_to_the_account() -> None:
    (statement,) = [s for o, s in statements() if s.get("Sid") == "EventSourceNetworkInterfaces"]
    assert set(statement["Action"]) == {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"}
    arns = [r["Fn::Sub"] for r in statement["Resource"]]
    prefix = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
    assert arns == [f"{prefix}network-interface/*", f"{prefix}subnet/*", f"{prefix}security-group/*"]


def test_kafka_secrets_are_read_only_when_configured() -> None:
    (statement,) = [
        s for o, s in statements() if o == "ConsumerFunction" and s.get("Sid") == "KafkaAuthSecret"
    ]
    assert statement["Resource"] == [
        {"Fn::If": ["IsSecretAuth", {"Ref": "KafkaAuthSecretArn"}, {"Ref": "AWS::NoValue"}]},
        {"Fn::If": ["HasServerRootCa", {"Ref": "KafkaServerRootCaSecretArn"}, {"Ref": "AWS::NoValue"}]},
    ]
    (key,) = [s for o, s in statements() if s.get("Sid") == "KafkaAuthSecretKey"]
    assert key["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    assert template()["Conditions"]["HasSecretKmsKey"]["Fn::And"][0] == {"Condition": "HasKafkaSecrets"}


# -- outputs -------------------------------------------------------------------------------------------


def test_outputs() -> None:
    outputs = template()["Outputs"]
    assert {
        "KafkaConnectorLayerArn",
        "ProducerFunctionArn",
        "ConsumerFunctionArn",
        "SubscribeFunctionArn",
        "CorrelationTableName",
        "DeadLetterQueueUrl",
        "OrderPaymentStateMachineArn",
        "OrderPaymentDirectStateMachineArn",
        "OnPaymentStateMachineArn",
    } <= set(outputs)


def test_loader_understands_short_tags() -> None:
    loaded = yaml.load(
        "a: !GetAtt R.Arn\n"
        "b: !Sub [x, {y: !Ref P}]\n"
        "c: !If [C, !Condition D, !Select [0, !Split [',', s]]]\n",
        Loader=CloudFormationLoader,
    )
    assert loaded == {
        "a": {"Fn::GetAtt": ["R", "Arn"]},
        "b": {"Fn::Sub": ["x", {"y": {"Ref": "P"}}]},
        "c": {"Fn::If": ["C", {"Condition": "D"}, {"Fn::Select": [0, {"Fn::Split": [",", "s"]}]}]},
    }
