"""``make demo``: the product's main job, end to end, on the embedded broker and the emulator.

1. Correlate mode — an order workflow (``statemachines/order-payment.asl.json``) publishes
   the order to Kafka through the producer function, then waits for its payment with a
   task token (subscribe function). A payment record is published through the producer
   function; the local event source mapping hands it to the consumer function, which
   resumes the workflow with ``SendTaskSuccess``. The execution SUCCEEDS with the payment.
2. Start mode — every record on a topic starts an execution of
   ``statemachines/on-payment.asl.json``, named after the record so none starts twice.

Exit status 0 when both legs succeed; otherwise 1 with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3

from local.broker import BOOTSTRAP_ENV, create_topics, kafka_bootstrap
from local.event_source_mapping import LocalEventSourceMapping
from local.functions import LocalFunction, environment
from local.inputs import Unavailable, check_brokers
from local.invoke import local_aws
from local.resources import LocalResources, function_environment
from local.timeline import Timeline, WaitTimeout

ORDERS_TOPIC, PAYMENTS_TOPIC, SETTLEMENTS_TOPIC = "orders", "payments", "settlements"
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


class DemoFailure(Exception):
    pass


def _functions(resources: LocalResources, bootstrap: str) -> dict[str, LocalFunction]:
    """The template's functions with their template environment, plus a start-mode consumer.

    The start-mode consumer is the same ``ConsumerFunction`` deployed a second time with
    ``ConnectorMode=start`` and an activation condition, as a second stack would deploy it.
    """

    def env(code: str, **extra: str) -> dict[str, str]:
        return {**function_environment(code, resources, bootstrap), **extra, **QUIET}

    return {
        "producer": LocalFunction("producer", "producer", env("producer")),
        "subscribe": LocalFunction("subscribe", "subscribe", env("subscribe")),
        "consumer": LocalFunction("consumer", "consumer", env("consumer")),
        "consumer-start": LocalFunction(
            "consumer-start",
            "consumer",
            env("consumer", CONNECTOR_MODE="start", ACTIVATION_CONDITION='=value.status = "SETTLED"'),
        ),
    }


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


class ExecutionFollower:
    """Prints each state the execution enters, as it happens."""

    def __init__(self, timeline: Timeline, sfn: Any, execution_arn: str) -> None:
        self.timeline, self.sfn, self.execution_arn = timeline, sfn, execution_arn
        self.seen = 0

    def poll(self) -> str:
        events = _history(self.sfn, self.execution_arn)
        for event in events[self.seen :]:
            details = event.get("stateEnteredEventDetails")
            if details:
                self.timeline.say(f"  workflow  → {details['name']}")
        self.seen = len(events)
        return self.sfn.describe_execution(executionArn=self.execution_arn)["status"]


@contextlib.contextmanager
def _mapping(bootstrap: str, topic: str, function: LocalFunction) -> Iterator[LocalEventSourceMapping]:
    mapping = LocalEventSourceMapping(
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"kafka-inbound-connector-{function.name}",
        invoke=function.invoke,
        batching_window_seconds=0.2,
    ).start()
    try:
        yield mapping
    finally:
        mapping.stop()


def run(timeline: Timeline | None = None) -> int:
    timeline = timeline or Timeline()
    timeline.say("Kafka connector for AWS Step Functions — local demo")
    try:
        with contextlib.ExitStack() as stack:
            _run(timeline, stack)
    except (DemoFailure, WaitTimeout, Unavailable) as failure:
        timeline.say(f"FAILED: {failure}")
        return 1
    except KeyboardInterrupt:
        timeline.say("interrupted")
        return 130
    timeline.say(f"Demo finished in {timeline.elapsed():.1f}s: everything worked.")
    return 0


def _run(timeline: Timeline, stack: contextlib.ExitStack) -> None:
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        check_brokers(external, BOOTSTRAP_ENV)
    with timeline.step("the Kafka broker to start"):
        bootstrap = stack.enter_context(kafka_bootstrap())
    timeline.say(f"Kafka broker: {bootstrap}" + (f" ({BOOTSTRAP_ENV})" if external else " (embedded Tansu)"))
    with timeline.step("the AWS emulator to start and deploy the template"):
        emulator, resources = stack.enter_context(
            local_aws(local_defaults={"KafkaBootstrapServers": bootstrap})
        )
    timeline.say(
        f"AWS emulator: {emulator.endpoint_url} (Step Functions, DynamoDB, SQS, Secrets Manager, Glue)"
    )
    with timeline.step(f"topics {ORDERS_TOPIC}, {PAYMENTS_TOPIC}, {SETTLEMENTS_TOPIC} to be created"):
        create_topics(bootstrap, [ORDERS_TOPIC, PAYMENTS_TOPIC, SETTLEMENTS_TOPIC])
    timeline.say(
        f"topics {ORDERS_TOPIC}, {PAYMENTS_TOPIC}, {SETTLEMENTS_TOPIC}; table {resources.table}; DLQ ready"
    )

    order_machine = resources.state_machines["OrderPaymentStateMachine"]
    start_machine = resources.state_machines["OnPaymentStateMachine"]
    functions = _functions(resources, bootstrap)
    for function in functions.values():
        emulator.add_function(function)
        stack.callback(function.shutdown)
    timeline.say(
        "deployed template.yaml: state machines "
        + ", ".join(arn.rsplit(":", 1)[-1] for arn in resources.state_machines.values())
        + "; functions producer, subscribe, consumer"
    )
    stack.enter_context(environment(QUIET))

    with timeline.step("the event source mappings to join their consumer groups"):
        correlate = stack.enter_context(_mapping(bootstrap, PAYMENTS_TOPIC, functions["consumer"]))
        starter = stack.enter_context(_mapping(bootstrap, SETTLEMENTS_TOPIC, functions["consumer-start"]))
    timeline.say(
        f"event source mappings: {PAYMENTS_TOPIC} → consumer (correlate), "
        f"{SETTLEMENTS_TOPIC} → consumer-start (start)"
    )

    message_name = resources.parameters.get("MessageName") or PAYMENTS_TOPIC
    _correlate_leg(
        timeline,
        functions["producer"],
        order_machine,
        correlate,
        message_name=message_name,
        table=resources.table,
    )
    _start_leg(timeline, functions["producer"], start_machine, starter)


def _correlate_leg(
    timeline: Timeline,
    producer: LocalFunction,
    machine: str,
    mapping: LocalEventSourceMapping,
    *,
    message_name: str,
    table: str,
) -> None:
    sfn, dynamodb = boto3.client("stepfunctions"), boto3.client("dynamodb")
    timeline.say("— Leg 1: a workflow waits for its payment (correlate mode) —")
    order = {"orderId": "1001", "item": "espresso machine", "amount": 249.0}
    execution = sfn.start_execution(stateMachineArn=machine, name="order-1001", input=json.dumps(order))[
        "executionArn"
    ]
    timeline.say(f"started execution order-1001 with {json.dumps(order)}")
    follower = ExecutionFollower(timeline, sfn, execution)
    key = f"{message_name}#1001"
    timeline.wait(
        f"the workflow to subscribe to {key}",
        lambda: (
            follower.poll() == "RUNNING"
            and dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")
        ),
    )
    published = next(
        e
        for e in _history(sfn, execution)
        if e.get("taskSucceededEventDetails", {}).get("resourceType") == "lambda"
    )
    ack = json.loads(published["taskSucceededEventDetails"]["output"])["Payload"]
    timeline.say(
        f"  producer  published the order to {ack['topic']} "
        f"partition {ack['partition']} offset {ack['offset']}"
    )
    timeline.say(f"  workflow  is waiting on its task token (subscription {key} registered)")

    payment = {"orderId": "1001", "amount": 249.0, "currency": "EUR", "status": "CAPTURED"}
    with timeline.step("the producer to publish the payment"):
        ack = producer.invoke(
            {"address": f"{PAYMENTS_TOPIC}/1001", "message": {"value": payment}, "headers": {"source": "psp"}}
        )
    timeline.say(f"published the payment through the producer: {PAYMENTS_TOPIC}/1001 offset {ack['offset']}")
    status = timeline.wait(
        "the consumer to resume the workflow", lambda: (s := follower.poll()) != "RUNNING" and s, timeout=45
    )
    described = sfn.describe_execution(executionArn=execution)
    if status != "SUCCEEDED":
        raise DemoFailure(
            f"execution order-1001 ended {status}: {described.get('error')} {described.get('cause')}"
        )
    output = json.loads(described["output"])
    committed = ", ".join(
        f"{t}-{p} up to offset {o}" for (t, p), o in sorted(mapping.stats.committed.items())
    )
    timeline.say(
        f"  mapping   delivered {mapping.stats.records_delivered} record(s) to the consumer; "
        f"committed {committed}"
    )
    timeline.say(f"  consumer  correlated {key} and resumed the workflow with SendTaskSuccess")
    timeline.say(
        f"execution order-1001 SUCCEEDED; payment received: {json.dumps(output['payment']['value'])}"
    )


def _start_leg(
    timeline: Timeline, producer: LocalFunction, machine: str, mapping: LocalEventSourceMapping
) -> None:
    sfn = boto3.client("stepfunctions")
    timeline.say("— Leg 2: records start workflows (start mode) —")
    settlements = [
        {"orderId": "2001", "amount": 12.5, "status": "SETTLED"},
        {"orderId": "2002", "amount": 80.0, "status": "PENDING"},
        {"orderId": "2003", "amount": 45.0, "status": "SETTLED"},
    ]
    for settlement in settlements:
        producer.invoke(
            {"address": f"{SETTLEMENTS_TOPIC}/{settlement['orderId']}", "message": {"value": settlement}}
        )
    timeline.say(
        f"published {len(settlements)} settlements; the activation condition starts only SETTLED ones"
    )

    def finished() -> list[dict[str, Any]] | None:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        done = [e for e in executions if e["status"] != "RUNNING"]
        return executions if len(done) == 2 and len(executions) == 2 else None

    executions = timeline.wait("two executions to start and finish", finished, timeout=45)
    for execution in sorted(executions, key=lambda e: e["name"]):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "SUCCEEDED":
            raise DemoFailure(f"execution {execution['name']} ended {described['status']}")
        timeline.say(f"execution {execution['name']} SUCCEEDED with {described['output']}")
    time.sleep(0.5)  # a late, wrongly activated record would show up here
    if len(sfn.list_executions(stateMachineArn=machine)["executions"]) != 2:
        raise DemoFailure("a PENDING settlement started an execution")
    timeline.say(
        f"  mapping   delivered {mapping.stats.records_delivered} record(s); "
        "the PENDING one was skipped and committed"
    )


def main() -> int:
    return run()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
