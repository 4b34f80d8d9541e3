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
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_connector import environment
from kafka_connector.inbound.config import ConsumerConfig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "kafka_connector" / "kafka_connector"
RUNTIME = "python3.12"
#: cfn-lint's copies of the Lambda runtime lifecycle and of the IAM action catalogue.
CFN_LINT_SPECS = importlib.resources.files("cfnlint.data.AdditionalSpecs")

# -- a YAML loader for CloudFormation short tags ------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """``!Ref X`` → ``{"Ref": "X"}``, ``!GetAtt A.B`` → ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub``…"""


def _construct(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct)


@cache
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


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
    assert global_function_property("Layers") == [{"Ref": "KafkaConnectorLayer"}]
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
    ("name", "condition", "source_config"),
    [
        ("MskEventSourceMapping", "IsMsk", "AmazonManagedKafkaEventSourceConfig"),
        ("SelfManagedEventSourceMapping", "IsSelfManaged", "SelfManagedKafkaEventSourceConfig"),
    ],
)
def test_event_source_mapping(name: str, condition: str, source_config: str) -> None:
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
    assert properties[source_config]["Fn::If"][1] == {"ConsumerGroupId": {"Ref": "ConsumerGroupId"}}
    assert properties["SourceAccessConfigurations"]["Fn::If"][0] == "IsSecretAuth"
    assert mapping["DependsOn"] == "ConsumerLogGroup"


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


# -- state machines ----------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

EXPECTED_STATES = {
    "statemachines/order-payment.asl.json": {"PublishOrder", "WaitForPayment", "Done"},
    "statemachines/order-payment-direct.asl.json": {"WaitForPayment", "Done"},
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
    assert "KafkaRetryableError" in publish["Retry"][0]["ErrorEquals"]
    assert "Catch" not in publish
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
        "CorrelationTable": {"Ref": "CorrelationTable"},
        "MessageName": {"Fn::If": ["HasMessageName", {"Ref": "MessageName"}, {"Ref": "TopicName"}]},
    }
    # Start mode starts the example start-mode state machine.
    assert function_env("ConsumerFunction")["STATE_MACHINE_ARN"] == {"Ref": "OnPaymentStateMachine"}


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
    ("ConsumerFunction", "MskEventSourceDiscovery"): {
        "kafka:GetBootstrapBrokers",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    },
}


def test_iam_statements_exist_everywhere_expected() -> None:
    owners = {owner for owner, _ in statements()}
    assert owners == {
        "ProducerRole",
        "ConsumerFunction",
        "SubscribeFunction",
        "OrderPaymentStateMachine",
        "OrderPaymentDirectStateMachine",
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
    assert found == STAR_RESOURCE_EXCEPTIONS


@cache
def iam_actions() -> dict[str, Any]:
    return json.loads(CFN_LINT_SPECS.joinpath("Policies.json").read_text())


def test_star_resource_exceptions_have_no_resource_type() -> None:
    """The reason for each exception, checked against cfn-lint's copy of the IAM action catalogue."""
    for actions in STAR_RESOURCE_EXCEPTIONS.values():
        for action in actions:
            service, name = action.split(":")
            assert not iam_actions()[service]["Actions"][name.lower()].get("Resources"), action


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
    } <= consumer
    assert not {a for a in consumer if a.startswith(("dynamodb:Scan", "dynamodb:Query", "states:Stop"))}
    producer = actions_of("ProducerRole")
    assert {
        "secretsmanager:GetSecretValue",
        "glue:GetSchemaByDefinition",
        "kafka-cluster:WriteData",
    } <= producer
    assert actions_of("OrderPaymentStateMachine") == {"lambda:InvokeFunction"}
    assert actions_of("OrderPaymentDirectStateMachine") == {"dynamodb:UpdateItem"}


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
        Loader=CfnLoader,
    )
    assert loaded == {
        "a": {"Fn::GetAtt": ["R", "Arn"]},
        "b": {"Fn::Sub": ["x", {"y": {"Ref": "P"}}]},
        "c": {"Fn::If": ["C", {"Condition": "D"}, {"Fn::Select": [0, {"Fn::Split": [",", "s"]}]}]},
    }
