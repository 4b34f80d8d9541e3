"""template.yaml as a nested application: many inbound connectors sharing one layer, producer and table.

README: Deploying with SAM → Many connectors in one account. The root template is the whole
connector with its defaults; its Sharing parameters (``ExistingLayerArn``,
``ExistingCorrelationTableName``, ``DeployProducer``/``DeploySubscribe``/``DeployConsumer``/
``DeployExamples``, ``StartStateMachineArn``) turn it into a shared instance or an inbound one.
``examples/multi-connector/template.yaml`` instantiates it three times. Both templates go
through the SAM translator here, and each nested instance is then resolved with the
parameters the example hands it — the shared instance's Outputs included — exactly as
tests/unit/test_template_transform.py resolves one deployment.

The SAM CLI is not in the test venv: aws-sam-cli pins boto3 to its own exact version, which
the layer's pinned boto3 contradicts. cfn-lint (with the serverless rules) is run on both
templates here instead; ``sam validate --lint`` runs the same cfn-lint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from tests.unit.test_template_transform import (
    ACCOUNT,
    BROKERS,
    MSK_CLUSTER,
    PSEUDO,
    REGION,
    SELF_MANAGED,
    Stack,
    no_managed_policies,
    refused,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multi-connector" / "template.yaml"
ROOT_TEMPLATE_URL = "https://deployment-bucket.s3.us-east-1.amazonaws.com/template.yaml"

LAYER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:KafkaConnectorLayer:7"
TABLE_NAME = "connectors-Shared-1ABC-CorrelationTable-XYZ"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}"
TARGET_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bookkeeping"

SHARED = {"DeployConsumer": "false"}
INBOUND = {
    "ExistingLayerArn": LAYER_ARN,
    "ExistingCorrelationTableName": TABLE_NAME,
    "DeployProducer": "false",
    "DeploySubscribe": "false",
    "DeployExamples": "false",
}


class Deployed(Stack):
    """A resolved stack whose resources have physical ids of the right shape, as created.

    Another instance receives them through this one's Outputs, and its parameters' patterns
    (a layer version ARN, a table name, a state machine ARN) must accept them.
    """

    def ref(self, name: str) -> Any:
        resource = self.template["Resources"].get(name)
        if resource is None:
            return super().ref(name)
        kind = resource["Type"]
        if kind == "AWS::Lambda::LayerVersion":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:1"
        if kind == "AWS::DynamoDB::Table":
            return f"{PSEUDO['AWS::StackName']}-{name}-1A2B3C"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-1A2B3C"
        return super().ref(name)

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.value(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }


def instance(**parameters: str) -> Deployed:
    """One instance of template.yaml with these parameters; fails if CloudFormation would refuse it."""
    stack = Deployed(translate(parameters), parameters)
    assert stack.parameter_errors() == []
    assert stack.rule_violations() == []
    return stack


def names_of(stack: Stack, kind: str) -> set[str]:
    return set(stack.of_type(kind))


def layer_of(stack: Stack, function: str) -> list[Any]:
    return stack.resources()[function]["Properties"]["Layers"]


def environment_of(stack: Stack, function: str) -> dict[str, Any]:
    return stack.resources()[function]["Properties"]["Environment"]["Variables"]


# -- the root template's sharing parameters ---------------------------------------------------------


def test_defaults_deploy_the_whole_connector() -> None:
    stack = instance(**SELF_MANAGED)
    (layer,) = names_of(stack, "AWS::Lambda::LayerVersion")
    assert names_of(stack, "AWS::DynamoDB::Table") == {"CorrelationTable"}
    assert names_of(stack, "AWS::Lambda::Function") == {
        "ProducerFunction",
        "ConsumerFunction",
        "SubscribeFunction",
        "RedriveFunction",
    }
    assert names_of(stack, "AWS::SQS::Queue") == {"DeadLetterQueue"}
    assert len(stack.of_type("AWS::StepFunctions::StateMachine")) == 3
    assert len(stack.of_type("AWS::Lambda::EventSourceMapping")) == 1
    for function in ("ProducerFunction", "ConsumerFunction", "SubscribeFunction", "RedriveFunction"):
        assert layer_of(stack, function) == [stack.ref(layer)]
    assert environment_of(stack, "ConsumerFunction")["CORRELATION_TABLE"] == stack.ref("CorrelationTable")
    outputs = stack.outputs()
    assert outputs["KafkaConnectorLayerArn"] == stack.ref(layer)
    assert outputs["CorrelationTableName"] == stack.ref("CorrelationTable")


def test_an_inbound_instance_creates_no_layer_and_no_table_and_uses_the_given_ones() -> None:
    stack = instance(**SELF_MANAGED, **INBOUND)
    assert names_of(stack, "AWS::Lambda::LayerVersion") == set()
    assert names_of(stack, "AWS::DynamoDB::Table") == set()
    assert names_of(stack, "AWS::Lambda::Function") == {"ConsumerFunction", "RedriveFunction"}
    assert names_of(stack, "AWS::StepFunctions::StateMachine") == set()
    assert names_of(stack, "AWS::Logs::LogGroup") == {"ConsumerLogGroup", "RedriveLogGroup"}
    for function in ("ConsumerFunction", "RedriveFunction"):
        assert layer_of(stack, function) == [LAYER_ARN]
        assert environment_of(stack, function)["CORRELATION_TABLE"] == TABLE_NAME
    statement = stack.statement("ConsumerFunctionRole", "CorrelationTable")
    assert statement["Resource"] == TABLE_ARN
    # Its own mapping and dead-letter queue: a record's failures stay with its connector.
    (_, mapping) = next(iter(stack.of_type("AWS::Lambda::EventSourceMapping").items()))
    assert mapping["Properties"]["FunctionName"] == "<ConsumerFunction>"
    assert mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == "<DeadLetterQueue.Arn>"
    # Correlate mode and no example: nothing to start, no permission to start anything.
    assert environment_of(stack, "ConsumerFunction")["STATE_MACHINE_ARN"] == ""
    assert "states:StartExecution" not in stack.role_actions("ConsumerFunctionRole")
    outputs = stack.outputs()
    assert (outputs["KafkaConnectorLayerArn"], outputs["CorrelationTableName"]) == (LAYER_ARN, TABLE_NAME)
    assert outputs["CorrelationTableArn"] == TABLE_ARN
    assert "ProducerFunctionArn" not in outputs
    assert "SubscribeFunctionArn" not in outputs


@pytest.mark.parametrize(
    ("given", "layers", "tables"),
    [
        ({"ExistingLayerArn": LAYER_ARN}, 0, {"CorrelationTable"}),
        ({"ExistingCorrelationTableName": TABLE_NAME}, 1, set()),
    ],
    ids=["layer-only", "table-only"],
)
def test_each_shared_part_is_given_on_its_own(given: dict[str, str], layers: int, tables: set[str]) -> None:
    stack = instance(**SELF_MANAGED, **given)
    assert len(stack.of_type("AWS::Lambda::LayerVersion")) == layers
    assert names_of(stack, "AWS::DynamoDB::Table") == tables
    (layer,) = layer_of(stack, "SubscribeFunction")
    assert (layer == LAYER_ARN) == ("ExistingLayerArn" in given)
    table = environment_of(stack, "SubscribeFunction")["CORRELATION_TABLE"]
    assert table == (TABLE_NAME if tables == set() else stack.ref("CorrelationTable"))


def test_a_shared_instance_has_no_consumer() -> None:
    stack = instance(**SELF_MANAGED, **SHARED)
    assert names_of(stack, "AWS::Lambda::Function") == {"ProducerFunction", "SubscribeFunction"}
    assert stack.of_type("AWS::Lambda::EventSourceMapping") == {}
    assert stack.of_type("AWS::SQS::Queue") == {}
    assert names_of(stack, "AWS::Logs::LogGroup") == {"ProducerLogGroup", "SubscribeLogGroup"}
    assert len(stack.of_type("AWS::Lambda::LayerVersion")) == 1
    assert names_of(stack, "AWS::DynamoDB::Table") == {"CorrelationTable"}
    assert environment_of(stack, "SubscribeFunction")["CORRELATION_TABLE"] == stack.ref("CorrelationTable")
    outputs = stack.outputs()
    assert {"ConsumerFunctionArn", "DeadLetterQueueUrl", "EventSourceMappingId"}.isdisjoint(outputs)
    assert {"ProducerFunctionArn", "SubscribeFunctionArn", "OnPaymentStateMachineArn"} <= set(outputs)


def test_a_start_instance_starts_the_given_state_machine_only() -> None:
    stack = instance(**SELF_MANAGED, **INBOUND, ConnectorMode="start", StartStateMachineArn=TARGET_ARN)
    assert environment_of(stack, "ConsumerFunction")["STATE_MACHINE_ARN"] == TARGET_ARN
    statement = stack.statement("ConsumerFunctionRole", "StartExecutions")
    assert (statement["Action"], statement["Resource"]) == ("states:StartExecution", TARGET_ARN)
    # With the examples and no ARN: the example OnPayment state machine, as before.
    default = instance(**SELF_MANAGED, ConnectorMode="start")
    assert environment_of(default, "ConsumerFunction")["STATE_MACHINE_ARN"] == default.ref(
        "OnPaymentStateMachine"
    )
    assert default.statement("ConsumerFunctionRole", "StartExecutions")["Resource"] == default.ref(
        "OnPaymentStateMachine"
    )


def test_order_payment_example_needs_the_producer_and_subscribe_here() -> None:
    stack = instance(**SELF_MANAGED, DeployProducer="false")
    machines = names_of(stack, "AWS::StepFunctions::StateMachine")
    assert machines == {"OrderPaymentDirectStateMachine", "OnPaymentStateMachine"}
    assert "OrderPaymentStateMachineArn" not in stack.outputs()


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        (
            {**SELF_MANAGED, **INBOUND, "ConnectorMode": "start"},
            "ConnectorMode=start needs StartStateMachineArn",
        ),
        (
            {**SELF_MANAGED, "ExistingLayerArn": "KafkaConnectorLayer"},
            "ExistingLayerArn: 'KafkaConnectorLayer'",
        ),
        ({**SELF_MANAGED, "ExistingCorrelationTableName": "a/b"}, "ExistingCorrelationTableName: 'a/b'"),
        ({**SELF_MANAGED, "StartStateMachineArn": "bookkeeping"}, "StartStateMachineArn: 'bookkeeping'"),
        ({**SELF_MANAGED, "DeployConsumer": "no"}, "DeployConsumer: 'no' is not allowed"),
    ],
)
def test_refused(parameters: dict[str, str], reason: str) -> None:
    reasons = refused(**parameters)
    assert any(reason in r for r in reasons), reasons


def test_a_shared_start_instance_without_consumer_needs_no_target() -> None:
    assert refused(**SELF_MANAGED, **SHARED, ConnectorMode="start", DeployExamples="false") == []


# -- the example: one shared instance and two inbound connectors ------------------------------------


@cache
def example_transformed() -> str:
    """The example as `sam package` hands it over (Location uploaded), through the translator."""
    template = json.loads(json.dumps(cfn_yaml.loads(EXAMPLE.read_text())))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Application":
            assert resource["Properties"]["Location"] == "../../template.yaml"  # the root template itself
            resource["Properties"]["Location"] = ROOT_TEMPLATE_URL
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return json.dumps(
        translator.translate(
            template, parameter_values=dict(PSEUDO), get_managed_policy_map=no_managed_policies
        )
    )


class Parent(Stack):
    """The example stack: a nested stack's outputs are known once that stack is resolved."""

    def __init__(self, template: dict[str, Any], overrides: dict[str, str]) -> None:
        super().__init__(template, overrides)
        self.children: dict[str, Deployed] = {}

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
            name, attribute = node["Fn::GetAtt"]
            if attribute.startswith("Outputs."):
                return self.children[name].outputs()[attribute.removeprefix("Outputs.")]
        return super().value(node)

    def deploy_children(self) -> dict[str, Deployed]:
        nested = self.of_type_unresolved("AWS::CloudFormation::Stack")
        while len(self.children) < len(nested):
            for name, resource in nested.items():
                if name not in self.children and self._ready(resource):
                    properties = self.value(resource["Properties"])
                    assert properties["TemplateURL"] == ROOT_TEMPLATE_URL
                    parameters = {k: str(v) for k, v in properties["Parameters"].items()}
                    self.children[name] = instance(**parameters)
        return self.children

    def of_type_unresolved(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r for n, r in self.template["Resources"].items() if r["Type"] == kind}

    def _ready(self, resource: dict[str, Any]) -> bool:
        text = json.dumps(resource)
        return all(
            f'["{other}", "Outputs.' not in text
            for other in self.template["Resources"]
            if other not in self.children
        )


def example(**overrides: str) -> tuple[Parent, dict[str, Deployed]]:
    parent = Parent(json.loads(example_transformed()), overrides)
    assert parent.parameter_errors() == []
    return parent, parent.deploy_children()


def test_example_on_msk_with_iam() -> None:
    """The example's cluster parameters reach every instance: here two MSK mappings, IAM auth."""
    _, children = example(KafkaSource="MSK", MskClusterArn=MSK_CLUSTER, KafkaAuthType="IAM")
    for name in ("PaymentsCorrelateConnector", "PaymentsStartConnector"):
        child = children[name]
        (mapping,) = child.of_type("AWS::Lambda::EventSourceMapping").values()
        assert mapping["Properties"]["EventSourceArn"] == MSK_CLUSTER, name
        assert "kafka-cluster:ReadData" in child.role_actions("ConsumerFunctionRole"), name
    assert "kafka-cluster:WriteData" in children["Shared"].role_actions("ProducerRole")


def test_example_instantiates_the_root_template_three_times() -> None:
    parent, children = example()
    assert set(children) == {"Shared", "PaymentsCorrelateConnector", "PaymentsStartConnector"}
    # Every output of the example is one its instance really has with the parameters it gets.
    values = {name: parent.value(output["Value"]) for name, output in parent.template["Outputs"].items()}
    assert values["CorrelationTableName"] == children["Shared"].ref("CorrelationTable")
    assert all(isinstance(v, str) and v for v in values.values()), values


def test_example_shares_one_layer_one_table_one_producer_one_subscribe() -> None:
    _, children = example()
    total: dict[str, list[str]] = {}
    for name, child in children.items():
        for resource, body in child.resources().items():
            total.setdefault(body["Type"], []).append(f"{name}.{resource}")
    assert total["AWS::Lambda::LayerVersion"] == [total["AWS::Lambda::LayerVersion"][0]]
    assert total["AWS::Lambda::LayerVersion"][0].startswith("Shared.")
    assert total["AWS::DynamoDB::Table"] == ["Shared.CorrelationTable"]
    assert sorted(total["AWS::Lambda::Function"]) == [
        "PaymentsCorrelateConnector.ConsumerFunction",
        "PaymentsCorrelateConnector.RedriveFunction",
        "PaymentsStartConnector.ConsumerFunction",
        "PaymentsStartConnector.RedriveFunction",
        "Shared.ProducerFunction",
        "Shared.SubscribeFunction",
    ]
    # One mapping and one dead-letter queue per inbound connector.
    assert sorted(total["AWS::Lambda::EventSourceMapping"]) == [
        "PaymentsCorrelateConnector.SelfManagedEventSourceMapping",
        "PaymentsStartConnector.SelfManagedEventSourceMapping",
    ]
    assert sorted(total["AWS::SQS::Queue"]) == [
        "PaymentsCorrelateConnector.DeadLetterQueue",
        "PaymentsStartConnector.DeadLetterQueue",
    ]


def test_example_inbound_connectors_use_the_shared_layer_and_table() -> None:
    _, children = example()
    shared = children["Shared"]
    (layer,) = shared.of_type("AWS::Lambda::LayerVersion")
    layer_arn, table = shared.ref(layer), shared.ref("CorrelationTable")
    assert environment_of(shared, "SubscribeFunction")["CORRELATION_TABLE"] == table
    for name in ("PaymentsCorrelateConnector", "PaymentsStartConnector"):
        child = children[name]
        assert layer_of(child, "ConsumerFunction") == [layer_arn], name
        assert environment_of(child, "ConsumerFunction")["CORRELATION_TABLE"] == table, name
        assert child.statement("ConsumerFunctionRole", "CorrelationTable")["Resource"] == (
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
        )


def test_example_connectors_are_one_correlate_and_one_start() -> None:
    _, children = example()
    shared = children["Shared"]
    correlate = environment_of(children["PaymentsCorrelateConnector"], "ConsumerFunction")
    start = environment_of(children["PaymentsStartConnector"], "ConsumerFunction")
    assert (correlate["CONNECTOR_MODE"], start["CONNECTOR_MODE"]) == ("correlate", "start")
    assert start["STATE_MACHINE_ARN"] == shared.ref("OnPaymentStateMachine")
    assert children["PaymentsStartConnector"].statement("ConsumerFunctionRole", "StartExecutions")[
        "Resource"
    ] == (shared.ref("OnPaymentStateMachine"))
    # The shared example workflow waits under the name the correlate connector delivers under.
    order = shared.resources()["OrderPaymentStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert order["MessageName"] == correlate["MESSAGE_NAME"] == "payment"
    # Two consumer groups on one topic: each connector reads every record.
    groups = {
        name: next(iter(child.of_type("AWS::Lambda::EventSourceMapping").values()))["Properties"]
        for name, child in children.items()
        if name != "Shared"
    }
    assert len({g["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"] for g in groups.values()}) == 2
    assert all(
        g["SelfManagedEventSource"]["Endpoints"]["KafkaBootstrapServers"] == BROKERS.split(",")
        for g in groups.values()
    )


def test_example_correlate_connectors_sharing_a_table_use_distinct_message_names() -> None:
    """Table keys are ``<messageName>#<correlationKey>``: one name per stream keeps connectors apart."""
    _, children = example()
    by_table: dict[str, list[str]] = {}
    for child in children.values():
        if "ConsumerFunction" not in child.resources():
            continue
        env = environment_of(child, "ConsumerFunction")
        if env["CONNECTOR_MODE"] == "correlate":
            message_name = env["MESSAGE_NAME"] or child.parameters["TopicName"]
            by_table.setdefault(env["CORRELATION_TABLE"], []).append(message_name)
    assert by_table
    for names in by_table.values():
        assert len(names) == len(set(names)), names


# -- cfn-lint on the example (make lint runs it on the root template) -----------------------------


@pytest.mark.parametrize(
    "rules", [[], ["-a", "cfn_lint_serverless.rules"]], ids=["cfn-lint", "serverless-rules"]
)
def test_cfn_lint_accepts_the_example(rules: list[str]) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), *rules, "--", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
