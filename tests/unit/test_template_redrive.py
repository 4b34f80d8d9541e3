"""The redrive function in template.yaml: the consumer's configuration, invoked by hand, least privilege.

The redrive re-processes dead-lettered records through the consumer's own code, so its
environment must be the consumer's, variable for variable (a redrive with another
configuration than the consumer's would replay records under rules nobody deployed). Its
role may do what handling a record needs and settle the dead-letter queue, nothing more:
it never reads Kafka.
"""

from __future__ import annotations

from kafka_connector import environment
from kafka_connector.inbound.redrive import DEFAULT_VISIBILITY_TIMEOUT
from tests.unit.test_template import actions_of, as_list, function_env, resources, statements, template
from tests.unit.test_template_transform import deploy

REDRIVE = "RedriveFunction"
QUEUE = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
CONSUMER_TABLE = {
    "Fn::If": [
        "CreateCorrelationTable",
        {"Fn::GetAtt": ["CorrelationTable", "Arn"]},
        {
            "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}"
            ":table/${ExistingCorrelationTableName}"
        },
    ]
}


def test_redrive_has_the_consumers_environment() -> None:
    redrive, consumer = function_env(REDRIVE), function_env("ConsumerFunction")
    assert redrive.pop("POWERTOOLS_SERVICE_NAME") == "kafka-redrive"
    consumer.pop("POWERTOOLS_SERVICE_NAME")
    assert redrive == consumer
    assert set(redrive) == environment.CONSUMER_VARIABLES
    assert redrive["DEAD_LETTER_QUEUE_URL"] == {"Ref": "DeadLetterQueue"}


def test_redrive_is_invoked_by_hand_and_outlives_its_visibility_timeout() -> None:
    properties = resources()[REDRIVE]["Properties"]
    assert properties["CodeUri"] == "functions/redrive/"
    assert "Events" not in properties  # no schedule, no queue trigger: an operator starts it
    assert not [
        r
        for r in resources().values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": REDRIVE}
    ]
    assert properties["Timeout"] >= DEFAULT_VISIBILITY_TIMEOUT
    assert "VpcConfig" not in properties
    assert template()["Outputs"]["RedriveFunctionName"]["Value"] == {"Ref": REDRIVE}


def test_redrive_log_group_is_retained_with_a_retention() -> None:
    group = resources()["RedriveLogGroup"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${RedriveFunction}"}
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_redrive_may_settle_the_queue_and_handle_records_and_nothing_more() -> None:
    assert actions_of(REDRIVE) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibility",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:StartExecution",
        "s3:PutObject",  # claim checks (EnableClaimCheck)
        "secretsmanager:GetSecretValue",  # the schema registry's credentials (SchemaRegistryAuthSecretArn)
        "glue:GetSchemaVersion",
    }
    # Every action of the redrive's is one the consumer has: it handles records as the consumer does.
    assert actions_of(REDRIVE) - actions_of("ConsumerFunction") == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
    }
    for owner, statement in statements():
        if owner != REDRIVE:
            continue
        actions = set(as_list(statement["Action"]))
        if any(a.startswith("sqs:") for a in actions):
            assert statement["Resource"] == QUEUE, statement["Sid"]
        if any(a.startswith("dynamodb:") for a in actions):
            # This stack's table or the shared one, as for the consumer.
            assert statement["Resource"] == CONSUMER_TABLE


def test_redrive_role_after_the_transform() -> None:
    stack = deploy(KafkaBootstrapServers="b-1.kafka.example.com:9092")
    role = stack.resources()["RedriveFunctionRole"]["Properties"]
    managed = role["ManagedPolicyArns"]
    assert not [arn for arn in managed if "VPC" in arn or "MSK" in arn]
    assert (
        stack.statement("RedriveFunctionRole", "RedriveDeadLetterQueue")["Resource"]
        == "<DeadLetterQueue.Arn>"
    )
    function = stack.resources()[REDRIVE]["Properties"]
    assert function["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] == "<DeadLetterQueue>"
