"""The consumer function against moto: executions that really wait, really resume (docs/guarantees.md).

Each guarantee G1–G6 has its own test; each asserts what AWS shows afterwards: execution
status, output and history, items in the correlation table, messages on the dead-letter queue.
"""

import json
import time

import pytest
from botocore.exceptions import ClientError

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.keys import head_key, subscription_attribute
from local.kafka_event import KafkaRecord, lambda_kafka_event
from local.resources import definition
from tests.support.aws import CallbackLog

TOPIC = "payments"


def payment(offset, order_id, amount=10, partition=0, **extra):
    value = json.dumps({"orderId": order_id, "amount": amount, **extra}).encode()
    return KafkaRecord(
        TOPIC, partition, offset, value, order_id.encode(), [("source", b"psp")], 1732190000000
    )


def event(*records, source="aws:kafka"):
    return lambda_kafka_event(records, source=source)


def expected_message(record):
    return {
        "key": record.key.decode(),
        "value": json.loads(record.value),
        "rawValue": None,  # INCLUDE_RAW_VALUE's default: not for JSON values
        "headers": {"source": "psp"},
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }


# -- correlate mode --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["aws:kafka", "SelfManagedKafka"])
def test_waiting_execution_resumes_with_the_message(aws, make_consumer, subscribe_handler, source):
    arn, token = aws.start_waiting("order-1", {"orderId": "o-1"})
    assert subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-1"}) == {
        "status": "waiting",
        "messageName": "payment",
        "correlationKey": "o-1",
    }
    record = payment(5, "o-1")
    assert make_consumer().handle(event(record, source=source)) == {"batchItemFailures": []}
    assert aws.output(arn) == {"orderId": "o-1", "message": expected_message(record)}
    assert aws.head(head_key("payment", "o-1")) is None  # delivered and cleaned up


def test_g1_every_matching_subscription_resumes_exactly_once(aws, make_consumer, subscribe_handler):
    plain, plain_token = aws.start_waiting("plain")
    big, big_token = aws.start_waiting("big-only")
    small, small_token = aws.start_waiting("small-ok")
    other, other_token = aws.start_waiting("other-key")
    for token, key, condition in [
        (plain_token, "o-1", None),
        (big_token, "o-1", "=value.amount > 100"),
        (small_token, "o-1", "=value.amount > 10"),
        (other_token, "o-2", None),
    ]:
        subscribe_handler(
            {
                "taskToken": token,
                "messageName": "payment",
                "correlationKey": key,
                "activationCondition": condition,
            }
        )
    callbacks = CallbackLog().install()
    consumer = make_consumer()
    batch = event(payment(0, "o-1", amount=50))
    assert consumer.handle(batch) == {"batchItemFailures": []}
    # One delivery resumes every matching subscription, not one of them per delivery.
    for arn, token in ((plain, plain_token), (small, small_token)):
        assert aws.output(arn)["message"]["value"]["amount"] == 50
        assert len(callbacks.accepted(token)) == 1
    assert make_consumer().handle(batch) == {"batchItemFailures": []}  # delivered twice by the mapping
    for arn, token in ((plain, plain_token), (small, small_token)):
        assert aws.output(arn)["message"]["value"]["amount"] == 50
        assert aws.resumptions(arn) == 1
        assert len(callbacks.accepted(token)) == 1  # the redelivery called nobody back
    assert aws.status(big) == aws.status(other) == "RUNNING"
    assert callbacks.accepted(big_token) == callbacks.accepted(other_token) == []
    head = aws.head(head_key("payment", "o-1"))
    assert set(head) == {"pk", "version", "expiresAt", subscription_attribute(big_token)}


def test_g2_buffered_message_goes_to_the_first_subscriber_only(aws, make_consumer, subscribe_handler):
    record = payment(9, "o-9")
    assert make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(record)) == {"batchItemFailures": []}
    assert any(k.startswith("msg_") for k in aws.head(head_key("payment", "o-9")))
    first, first_token = aws.start_waiting("first")
    second, second_token = aws.start_waiting("second")
    request = {"messageName": "payment", "correlationKey": "o-9"}
    assert subscribe_handler({**request, "taskToken": first_token})["status"] == "delivered"
    assert aws.output(first)["message"] == expected_message(record)
    assert subscribe_handler({**request, "taskToken": second_token})["status"] == "waiting"
    time.sleep(0.3)
    assert aws.status(second) == "RUNNING"


def test_g2_subscription_condition_skips_buffered_messages_that_do_not_match(
    aws, make_consumer, subscribe_handler
):
    make_consumer(MESSAGE_TTL_SECONDS=600).handle(
        event(payment(0, "o-3", amount=5), payment(1, "o-3", amount=500))
    )
    arn, token = aws.start_waiting("picky")
    outcome = subscribe_handler(
        {
            "taskToken": token,
            "messageName": "payment",
            "correlationKey": "o-3",
            "activationCondition": "=value.amount > 100",
        }
    )
    assert outcome["status"] == "delivered"
    assert aws.output(arn)["message"]["value"]["amount"] == 500
    oldest, oldest_token = aws.start_waiting("anyone")
    subscribe_handler({"taskToken": oldest_token, "messageName": "payment", "correlationKey": "o-3"})
    assert aws.output(oldest)["message"]["value"]["amount"] == 5


def test_g2_without_ttl_an_unmatched_message_is_dropped(aws, make_consumer, subscribe_handler):
    make_consumer().handle(event(payment(0, "o-4")))
    assert aws.items() == []
    _, token = aws.start_waiting("late")
    assert (
        subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-4"})["status"]
        == "waiting"
    )


def test_g2_expired_buffered_message_is_not_delivered(aws, make_consumer):
    from kafka_connector.inbound.correlation import subscribe
    from kafka_connector.inbound.step_functions import TaskCallbacks
    from kafka_connector.inbound.table import CorrelationTable

    make_consumer(MESSAGE_TTL_SECONDS=60).handle(event(payment(0, "o-5")))
    arn, token = aws.start_waiting("too-late")
    outcome = subscribe(
        CorrelationTable(aws.table),
        TaskCallbacks(),
        message_name="payment",
        correlation_key="o-5",
        task_token=token,
        condition=None,
        ttl_seconds=None,
        clock=lambda: time.time() + 61,
    )
    assert outcome.value == "waiting"
    assert aws.status(arn) == "RUNNING"


def test_g4_redelivered_buffered_message_is_buffered_once(aws, make_consumer, subscribe_handler):
    consumer = make_consumer(MESSAGE_TTL_SECONDS=600)
    batch = event(payment(3, "o-6"))
    consumer.handle(batch)
    consumer.handle(batch)
    head = aws.head(head_key("payment", "o-6"))
    assert sum(k.startswith("msg_") for k in head) == 1
    first, first_token = aws.start_waiting("first")
    subscribe_handler({"taskToken": first_token, "messageName": "payment", "correlationKey": "o-6"})
    assert aws.output(first)["message"]["offset"] == 3
    # The record comes again after it was delivered: nobody gets it a second time.
    consumer.handle(batch)
    second, second_token = aws.start_waiting("second")
    assert (
        subscribe_handler({"taskToken": second_token, "messageName": "payment", "correlationKey": "o-6"})[
            "status"
        ]
        == "waiting"
    )
    time.sleep(0.2)
    assert aws.status(second) == "RUNNING"


def test_g5_gone_subscriptions_are_removed_and_the_message_moves_on(aws, make_consumer, subscribe_handler):
    timed_out, timed_out_token = aws.start_waiting("times-out", timeout_seconds=1)
    alive, alive_token = aws.start_waiting("alive")
    for token in (timed_out_token, alive_token):
        subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-7"})
    assert aws.wait_finished(timed_out)["status"] in {"FAILED", "TIMED_OUT"}
    make_consumer().handle(event(payment(0, "o-7")))
    assert aws.output(alive)["message"]["value"]["orderId"] == "o-7"
    assert aws.head(head_key("payment", "o-7")) is None


def test_g5_invalid_token_is_dropped_and_the_message_buffered(aws, make_consumer):
    key = head_key("payment", "o-8")
    aws.dynamodb.put_item(
        TableName=aws.table,
        Item={
            "pk": {"S": key},
            "version": {"N": "1"},
            subscription_attribute("junk"): {"M": {"token": {"S": "junk"}}},
        },
    )
    make_consumer(MESSAGE_TTL_SECONDS=60).handle(event(payment(0, "o-8")))
    head = aws.head(key)
    assert subscription_attribute("junk") not in head
    assert any(k.startswith("msg_") for k in head)


def test_g6_output_too_large_fails_the_task_and_dead_letters(aws, make_consumer, subscribe_handler):
    arn, token = aws.start_waiting("huge")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-big"})
    record = payment(4, "o-big", blob="x" * 300_000)
    assert make_consumer().handle(event(record)) == {"batchItemFailures": []}
    described = aws.wait_finished(arn)
    assert described["status"] == "FAILED"
    assert described.get("error") == "KafkaMessageTooLarge"
    [dead] = aws.dead_letters()
    assert (dead["topic"], dead["partition"], dead["offset"], dead["error"]) == (
        TOPIC,
        0,
        4,
        "KafkaMessageTooLarge",
    )
    assert dead["record"]["value"] == event(record)["records"][f"{TOPIC}-0"][0]["value"]
    assert aws.head(head_key("payment", "o-big")) is None


def test_activation_condition_not_met_commits_without_correlating(aws, make_consumer, subscribe_handler):
    arn, token = aws.start_waiting("filtered")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-10"})
    consumer = make_consumer(ACTIVATION_CONDITION='=(value.itemId = "a4f6j2")')
    assert consumer.handle(event(payment(0, "o-10", itemId="other"))) == {"batchItemFailures": []}
    assert aws.status(arn) == "RUNNING"
    assert consumer.handle(event(payment(1, "o-10", itemId="a4f6j2"))) == {"batchItemFailures": []}
    assert aws.output(arn)["message"]["offset"] == 1
    assert aws.dead_letters() == []


def test_key_expression_on_the_record_key_and_result_shaping(aws, make_consumer, subscribe_handler):
    arn, token = aws.start_waiting("shaped")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-11"})
    consumer = make_consumer(
        CORRELATION_KEY_EXPRESSION="=key",
        RESULT_VARIABLE="payment",
        RESULT_EXPRESSION='= {"itemId": value.orderId, "acknowledgedAt": response.timestamp}',
    )
    record = payment(2, "o-11")
    consumer.handle(event(record))
    assert aws.output(arn)["message"] == {
        "payment": expected_message(record),
        "itemId": "o-11",
        "acknowledgedAt": 1732190000000,
    }


def test_path_b_subscription_written_by_the_state_machine(aws, make_consumer):
    """The shipped no-function example (statemachines/order-payment-direct.asl.json) subscribes itself."""
    machine = aws.sfn.create_state_machine(
        name="no-function",
        definition=definition(
            "order-payment-direct.asl.json", {"CorrelationTable": aws.table, "MessageName": "payment"}
        ),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    arn = aws.sfn.start_execution(stateMachineArn=machine, name="b-1", input=json.dumps({"orderId": "o-b"}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 10
    while aws.head(head_key("payment", "o-b")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    record = payment(0, "o-b")
    make_consumer().handle(event(record))
    message = expected_message(record)
    assert json.loads(aws.wait_finished(arn)["output"])["payment"] == {
        k: message[k] for k in ("value", "topic", "partition", "offset", "timestamp")
    }  # the state's ResultSelector keeps what the workflow needs, not the value twice
    assert aws.head(head_key("payment", "o-b")) is None


# -- offsets -------------------------------------------------------------------------------------


def test_poison_record_between_good_ones_is_dead_lettered_and_committed(
    aws, make_consumer, subscribe_handler
):
    executions = {}
    for key in ("o-20", "o-22"):
        arn, token = aws.start_waiting(key)
        subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": key})
        executions[key] = arn
    poison = KafkaRecord(TOPIC, 0, 21, b'{"amount": 1}', None)  # no orderId: the key expression gives nothing
    response = make_consumer().handle(event(payment(20, "o-20"), poison, payment(22, "o-22")))
    assert response == {"batchItemFailures": []}
    assert all(aws.output(arn)["message"]["value"]["orderId"] == key for key, arn in executions.items())
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (21, "ExpressionError")
    assert "CORRELATION_KEY_EXPRESSION" in dead["reason"]


def test_undecodable_avro_is_dead_lettered(aws, make_consumer):
    from tests.support.samples import SAMPLE_SCHEMA

    consumer = make_consumer(SERIALIZATION_TYPE="avro", AVRO_SCHEMA=json.dumps(SAMPLE_SCHEMA))
    assert consumer.handle(event(KafkaRecord(TOPIC, 0, 1, b"\x02", None))) == {"batchItemFailures": []}
    [dead] = aws.dead_letters()
    assert dead["error"] == "UndecodableRecord"


def test_throttled_callback_is_a_partial_batch_failure_at_that_record(aws, make_consumer, subscribe_handler):
    executions, tokens = {}, {}
    for key in ("o-30", "o-31", "o-32"):
        executions[key], tokens[key] = aws.start_waiting(key)
        subscribe_handler({"taskToken": tokens[key], "messageName": "payment", "correlationKey": key})
    consumer = make_consumer()
    sfn = consumer.callbacks.stepfunctions

    def throttle(params, **_):
        if params.get("taskToken") == tokens["o-31"]:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess"
            )

    sfn.meta.events.register("provide-client-params.sfn.SendTaskSuccess", throttle)
    records = [payment(30, "o-30"), payment(31, "o-31"), payment(32, "o-32"), payment(7, "o-99", partition=1)]
    response = consumer.handle(event(*records))
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 31}},
            {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 32}},
        ]
    }
    assert aws.wait_finished(executions["o-30"])["status"] == "SUCCEEDED"
    assert aws.status(executions["o-31"]) == aws.status(executions["o-32"]) == "RUNNING"
    # The mapping retries from offset 31; the throttling is over.
    sfn.meta.events.unregister("provide-client-params.sfn.SendTaskSuccess", throttle)
    assert consumer.handle(event(*records[1:3])) == {"batchItemFailures": []}
    for key in ("o-30", "o-31", "o-32"):
        assert aws.resumptions(executions[key]) == 1
        assert aws.output(executions[key])["message"]["value"]["orderId"] == key


def test_dead_letter_queue_outage_is_retried_not_lost(aws, make_consumer):
    consumer = make_consumer(DEAD_LETTER_QUEUE_URL=aws.dlq_url + "-missing")
    poison = KafkaRecord(TOPIC, 0, 3, b"{}", None)
    assert consumer.handle(event(poison)) == {
        "batchItemFailures": [{"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 3}}]
    }


# -- start mode ------------------------------------------------------------------------------------


def test_start_mode_starts_one_execution_per_record_idempotently(aws, make_consumer):
    machine = aws.pass_machine("on-payment")
    consumer = make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, ACTIVATION_CONDITION="=value.amount > 0"
    )
    records = [payment(0, "o-40"), payment(1, "o-41", amount=0), payment(2, "o-42")]
    assert consumer.handle(event(*records)) == {"batchItemFailures": []}
    assert consumer.handle(event(*records)) == {"batchItemFailures": []}  # redelivered
    executions = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert sorted(e["name"] for e in executions) == [f"{TOPIC}-0-0", f"{TOPIC}-0-2"]
    by_name = {e["name"]: e["executionArn"] for e in executions}
    assert aws.output(by_name[f"{TOPIC}-0-2"]) == expected_message(records[2])


def test_start_mode_names_from_message_id_expression(aws, make_consumer):
    machine = aws.pass_machine("named")
    consumer = make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, MESSAGE_ID_EXPRESSION='="order/" & value.orderId'
    )
    consumer.handle(event(payment(0, "o-50")))
    [execution] = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"].startswith("order_o-50-")
    assert len(execution["name"]) <= 80


def test_start_mode_input_too_large_is_dead_lettered(aws, make_consumer):
    machine = aws.pass_machine("small")
    consumer = make_consumer(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine)
    assert consumer.handle(event(payment(0, "o-60", blob="y" * 300_000))) == {"batchItemFailures": []}
    assert aws.sfn.list_executions(stateMachineArn=machine)["executions"] == []
    assert aws.dead_letters()[0]["error"] == "KafkaMessageTooLarge"


# -- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CONNECTOR_MODE": "fanout"}, "CONNECTOR_MODE"),
        ({"CONNECTOR_MODE": "start"}, "STATE_MACHINE_ARN"),
        ({"CORRELATION_KEY_EXPRESSION": ""}, "CORRELATION_KEY_EXPRESSION"),
        ({"CORRELATION_TABLE": ""}, "CORRELATION_TABLE"),
        ({"ACTIVATION_CONDITION": "=value.("}, "ACTIVATION_CONDITION"),
        ({"RESULT_EXPRESSION": "= {"}, "RESULT_EXPRESSION"),
        ({"MESSAGE_TTL_SECONDS": "soon"}, "MESSAGE_TTL_SECONDS"),
        ({"MESSAGE_TTL_SECONDS": "-1"}, "MESSAGE_TTL_SECONDS"),
        ({"MESSAGE_NAME": "a#b"}, "MESSAGE_NAME"),
    ],
)
def test_configuration_errors_name_the_variable(make_consumer, env, named):
    with pytest.raises(ConnectorInputError, match=named):
        make_consumer(**env)


@pytest.mark.parametrize(
    "condition",
    ['=headers.source = "psp"', '=$contains($string($), "psp")', '=$lookup($, "headers").source = "psp"'],
)
def test_expressions_that_read_headers_see_them(aws, make_consumer, subscribe_handler, condition):
    arn, token = aws.start_waiting("headers")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-h"})
    assert make_consumer(ACTIVATION_CONDITION=condition).handle(event(payment(0, "o-h"))) == {
        "batchItemFailures": []
    }
    assert aws.output(arn)["message"]["headers"] == {"source": "psp"}


def test_headers_are_decoded_for_what_is_delivered_started_and_buffered(
    aws, make_consumer, subscribe_handler
):
    make_consumer(MESSAGE_TTL_SECONDS=60).handle(event(payment(0, "o-hb")))
    arn, token = aws.start_waiting("buffered-headers")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-hb"})
    assert aws.output(arn)["message"]["headers"] == {"source": "psp"}
