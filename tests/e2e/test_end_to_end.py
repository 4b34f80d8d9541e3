"""End to end: producer function → real broker → consumer group → Lambda event → consumer function.

Everything is real except AWS, which is the local emulator (moto server): the state
machine invokes the subscribe function through Lambda's Invoke API and really waits on
its task token until the consumer function resumes it.
"""

import json
import time

from local.event_source_mapping import LocalEventSourceMapping
from local.functions import LocalFunction
from tests.support.aws import ROLE_ARN, Aws
from tests.support.kafka import create_topic

WAIT_FOR_PAYMENT = {
    "StartAt": "WaitForPayment",
    "States": {
        "WaitForPayment": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:subscribe",
                "Payload": {
                    "taskToken.$": "$$.Task.Token",
                    "messageName": "payment",
                    "correlationKey.$": "$.orderId",
                },
            },
            "ResultPath": "$.payment",
            "End": True,
        }
    },
}


def test_record_published_by_the_producer_resumes_the_waiting_execution(bootstrap, emulator):
    aws = Aws().setup()
    topic = create_topic(bootstrap, partitions=2, prefix="payments")
    emulator.add_function(LocalFunction("subscribe", "subscribe", {"CORRELATION_TABLE": aws.table}))
    consumer = LocalFunction(
        "consumer-e2e",
        "consumer",
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        },
    )
    producer = LocalFunction("producer-e2e", "producer")
    machine = aws.sfn.create_state_machine(
        name="order", definition=json.dumps(WAIT_FOR_PAYMENT), roleArn=ROLE_ARN
    )["stateMachineArn"]
    execution = aws.sfn.start_execution(stateMachineArn=machine, name="order-1", input='{"orderId": "o-1"}')[
        "executionArn"
    ]
    deadline = time.monotonic() + 10
    while not aws.items() and time.monotonic() < deadline:  # the subscription is in place
        time.sleep(0.05)

    ack = producer.invoke(
        {
            "topic": {"bootstrapServers": bootstrap, "topicName": f"{topic}/o-1"},
            "message": {"value": {"orderId": "o-1", "amount": 42}},
            "headers": {"source": "psp"},
        }
    )
    with LocalEventSourceMapping(
        bootstrap_servers=bootstrap, topic=topic, group_id=f"g-{topic}", invoke=consumer.invoke
    ) as mapping:
        deadline = time.monotonic() + 30
        while aws.status(execution) == "RUNNING" and time.monotonic() < deadline:
            mapping.poll_once(timeout_ms=500)
    output = aws.output(execution)
    assert output["payment"] == {
        "key": "o-1",
        "value": {"orderId": "o-1", "amount": 42},
        "rawValue": None,  # a JSON value: INCLUDE_RAW_VALUE's default leaves it out
        "headers": {"source": "psp"},
        "topic": topic,
        "partition": ack["partition"],
        "offset": ack["offset"],
        "timestamp": ack["timestamp"],
    }
    assert mapping.stats.committed[(topic, ack["partition"])] == ack["offset"] + 1
