"""local/template.py: a function's environment as template.yaml and sam local invoke give it."""

import pytest

from local.template import LocalIds, Parameters, Resolver, TemplateError, load_template, parse_overrides

IDS = LocalIds(
    refs={"CorrelationTable": "table", "DeadLetterQueue": "http://queue", "OnPaymentStateMachine": "arn:sm"},
    attributes={("ProducerFunction", "Arn"): "arn:producer", ("SubscribeFunction", "Arn"): "arn:subscribe"},
)


def resolver(**overrides: str) -> Resolver:
    template = load_template()
    return Resolver(template, Parameters.resolve(template, overrides), IDS)


def test_the_consumer_gets_the_templates_defaults_and_the_local_resources():
    env = resolver().environment("ConsumerFunction")
    assert env["CONNECTOR_MODE"] == "correlate"
    assert env["MESSAGE_NAME"] == ""
    assert env["CORRELATION_KEY_EXPRESSION"] == "=value.orderId"
    assert env["MESSAGE_TTL_SECONDS"] == "0"
    assert env["SERIALIZATION_TYPE"] == "json"
    assert env["AVRO_WIRE_FORMAT"] == "plain"
    assert env["CORRELATION_TABLE"] == "table"
    assert env["DEAD_LETTER_QUEUE_URL"] == "http://queue"
    assert env["STATE_MACHINE_ARN"] == "arn:sm"
    # Globals come first, the function's own variables after them.
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "KafkaConnector"
    assert env["POWERTOOLS_SERVICE_NAME"] == "kafka-consumer"


def test_parameter_overrides_reach_the_environment():
    env = resolver(ConnectorMode="start", MessageTtlSeconds="60", LogLevel="DEBUG").environment(
        "ConsumerFunction"
    )
    assert (env["CONNECTOR_MODE"], env["MESSAGE_TTL_SECONDS"], env["POWERTOOLS_LOG_LEVEL"]) == (
        "start",
        "60",
        "DEBUG",
    )
    assert resolver(SecretsPrefix="team/").environment("ProducerFunction")["SECRETS_PREFIX"] == "team/"


def test_substitutions_follow_the_templates_conditions():
    machine = load_template()["Resources"]["OrderPaymentStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    assert resolver().value(machine)["MessageName"] == "payments"  # HasMessageName false: the topic
    assert resolver(MessageName="pay").value(machine)["MessageName"] == "pay"
    assert resolver().value(machine)["ProducerFunctionArn"] == "arn:producer"


SYNTHETIC = {
    "Parameters": {
        "A": {"Type": "String", "Default": ""},
        "L": {"Type": "CommaDelimitedList", "Default": "x,y"},
    },
    "Conditions": {"HasA": {"Fn::Not": [{"Fn::Equals": [{"Ref": "A"}, ""]}]}},
    "Resources": {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Environment": {
                    "Variables": {
                        "IF": {"Fn::If": ["HasA", {"Ref": "A"}, "none"]},
                        "SUB": {"Fn::Sub": "${A}-${AWS::Region}-${Other.Arn}"},
                        "SUB_VARS": {"Fn::Sub": ["${x}!", {"x": {"Ref": "A"}}]},
                        "GONE": {"Fn::If": ["HasA", "a", {"Ref": "AWS::NoValue"}]},
                        "JOIN": {"Fn::Join": ["+", {"Ref": "L"}]},
                        "PICK": {"Fn::Select": [1, {"Fn::Split": [",", "p,q"]}]},
                    }
                }
            },
        },
        "Uncreated": {"Type": "AWS::SNS::Topic"},
        "Broken": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Environment": {"Variables": {"TOPIC": {"Ref": "Uncreated"}}}},
        },
    },
}


def synthetic(**overrides: str) -> Resolver:
    ids = LocalIds(attributes={("Other", "Arn"): "arn:other"})
    return Resolver(SYNTHETIC, Parameters.resolve(SYNTHETIC, overrides), ids)


def test_intrinsic_functions():
    assert synthetic().environment("Fn") == {
        "IF": "none",
        "SUB": "-us-east-1-arn:other",
        "SUB_VARS": "!",
        "JOIN": "x+y",
        "PICK": "q",
    }
    given = synthetic(A="v").environment("Fn")
    assert (given["IF"], given["SUB"], given["SUB_VARS"], given["GONE"]) == (
        "v",
        "v-us-east-1-arn:other",
        "v!",
        "a",
    )


def test_a_resource_the_local_runtime_does_not_create_is_named_and_can_be_given_instead():
    with pytest.raises(
        TemplateError, match=r"^Broken TOPIC: the local runtime does not create Uncreated.*--env TOPIC="
    ):
        synthetic().environment("Broken")
    assert synthetic().environment("Broken", skip=("TOPIC",)) == {}


def test_overrides_are_checked_against_the_template():
    with pytest.raises(TemplateError, match="unknown template parameter Nope"):
        resolver(Nope="1")
    with pytest.raises(TemplateError, match="ConnectorMode=bogus: allowed values are correlate, start"):
        resolver(ConnectorMode="bogus")


def test_both_forms_of_parameter_overrides():
    assert parse_overrides(["A=1", "B==key", "ParameterKey=C,ParameterValue=x,y"]) == {
        "A": "1",
        "B": "=key",
        "C": "x,y",
    }
    with pytest.raises(TemplateError, match="expects Key=Value"):
        parse_overrides(["nothing"])
