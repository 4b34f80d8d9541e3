"""G3 and G4 under real concurrency: racing parties meet once, twin attempts hand over once.

Run against the local emulator: moto behind a server that, like DynamoDB, applies each
conditional write atomically (in-process moto does not under threads). The parties are the
layer's own consumer and subscriber, each in its own thread. Random races run many pairs;
chosen interleavings stop one party at an exact point (``Pause``: a botocore hook of the
layer's client) while the other runs. What was delivered is read from the executions and
from the callbacks Step Functions accepted (``CallbackLog``).
"""

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from kafka_connector.aws import clients as aws_clients
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import Aws, CallbackLog
from tests.support.concurrency import Pause, consumer, interleave, race, subscriber

OK = {"batchItemFailures": []}


def record(offset, key, partition=0):
    return KafkaRecord("payments", partition, offset, json.dumps({"n": offset}).encode(), key.encode())


def batch(*records):
    return lambda_kafka_event(records)


def offsets(callbacks, token):
    return [json.loads(sent)["offset"] for sent in callbacks.accepted(token)]


def waiting(aws, names):
    """Executions waiting on a task token: {name: (arn, token)}."""
    arns = {
        name: aws.sfn.start_execution(stateMachineArn=aws.machine(), name=name, input="{}")["executionArn"]
        for name in names
    }
    return {name: (arn, aws.token_of(name, timeout=60)) for name, arn in arns.items()}


def assert_resumed_once(aws, callbacks, execution, offset):
    arn, token = execution
    assert set(offsets(callbacks, token)) == {offset}
    assert json.loads(aws.wait_finished(arn, timeout=30)["output"])["message"]["offset"] == offset
    assert aws.resumptions(arn) == 1


def test_g3_200_concurrent_message_subscription_races(emulator):
    race(emulator, 200)


def test_overlapping_subscribes_with_one_token_hand_each_message_over_once(emulator):
    """Step Functions retrying a subscribe task whose first run still works: three runs per token."""
    aws, callbacks = Aws().setup(), CallbackLog().install()
    keys = [f"t-{i}" for i in range(20)]
    assert consumer(aws, ttl=600).handle(batch(*(record(i, k) for i, k in enumerate(keys)))) == OK
    executions = waiting(aws, keys)
    call = subscriber(aws)
    runs = [key for key in keys for _ in range(3)]
    random.Random(3).shuffle(runs)
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda key: call(executions[key][1], key), runs))
    for i, key in enumerate(keys):
        assert_resumed_once(aws, callbacks, executions[key], i)
    assert aws.markers() == []
    assert aws.claims_left() == []
    assert aws.dead_letters() == []
    for key, (_, token) in waiting(aws, [f"late-{k}" for k in keys]).items():
        assert call(token, key.removeprefix("late-")) == "waiting"
        assert callbacks.accepted(token) == []


@pytest.mark.parametrize(
    "pause",
    [
        "after-call.dynamodb.BatchGetItem",  # the consumer has read the head
        "after-call.dynamodb.GetItem",  # ... and the message's handled mark
        "provide-client-params.dynamodb.TransactWriteItems",  # ... and is about to buffer
    ],
)
def test_a_subscription_arriving_between_the_consumers_read_and_its_write_is_served(emulator, pause):
    aws, callbacks = Aws().setup(), CallbackLog().install()
    aws.write_subscription("payment#k", "not-this-one", condition="=value.n > 1000")
    execution = waiting(aws, ["late"])["late"]
    paused = Pause(aws_clients.client("dynamodb"), pause, "A")
    delivered, subscribed = interleave(
        lambda: consumer(aws, ttl=600).handle(batch(record(0, "k"))),
        lambda: subscriber(aws)(execution[1], "k"),
        paused,
    )
    assert paused.reached.is_set()
    assert (delivered, subscribed) == (OK, "waiting")
    assert aws.dead_letters() == []
    assert_resumed_once(aws, callbacks, execution, 0)
    assert aws.markers() == []  # delivered, not also buffered
    assert aws.claims_left() == []


#: Where the first attempt stops, and where the second one stops, if anywhere, while the other runs.
INTERLEAVINGS = [
    ("after-call.dynamodb.BatchGetItem", None),  # first read; second does everything
    ("after-call.dynamodb.GetItem", None),  # first read head and mark
    ("after-call.dynamodb.UpdateItem", None),  # first claimed
    ("provide-client-params.sfn.SendTaskSuccess", None),  # first about to call back
    ("after-call.sfn.SendTaskSuccess", None),  # first called back, not released
    ("provide-client-params.sfn.SendTaskSuccess", "after-call.sfn.SendTaskSuccess"),  # second called back
    ("after-call.dynamodb.UpdateItem", "after-call.sfn.SendTaskSuccess"),
    ("after-call.sfn.SendTaskSuccess", "after-call.dynamodb.UpdateItem"),  # second re-claimed
]


@pytest.mark.parametrize("ttl", [0, 600])
@pytest.mark.parametrize("beside", [False, True], ids=["alone", "beside-another"])
@pytest.mark.parametrize(("first_stops", "second_stops"), INTERLEAVINGS)
def test_a_redelivered_batch_running_while_the_first_still_delivers(
    emulator, ttl, beside, first_stops, second_stops
):
    """Alone, a release deletes the head; beside a subscription this message does not match, it
    removes just its entry (so only the claims' attempt tells a twin's claim from its own)."""
    aws, callbacks = Aws().setup(), CallbackLog().install()
    if beside:
        aws.write_subscription("payment#k", "not-this-one", condition="=value.n > 1000")
    execution = waiting(aws, ["waiting"])["waiting"]
    assert subscriber(aws)(execution[1], "k") == "waiting"
    event = batch(record(0, "k"))

    def paused(event_name, thread):
        service = "stepfunctions" if ".sfn." in event_name else "dynamodb"
        return Pause(aws_clients.client(service), event_name, thread)

    def settle():  # Step Functions refuses a second callback once the task is done; let it be done
        if callbacks.accepted(execution[1]):
            aws.wait_finished(execution[0], timeout=30)

    first = paused(first_stops, "A")
    second = paused(second_stops, "B") if second_stops else None
    results = interleave(
        lambda: consumer(aws, ttl).handle(event),
        lambda: consumer(aws, ttl).handle(event),
        first,
        second,
        settle=settle,
    )
    assert results == (OK, OK)
    assert aws.dead_letters() == []
    assert first.reached.is_set()
    assert_resumed_once(aws, callbacks, execution, 0)
    assert aws.claims_left() == []
    assert aws.markers() == []
    late = waiting(aws, ["late"])["late"]
    assert subscriber(aws)(late[1], "k") == "waiting"
    assert consumer(aws, ttl).handle(event) == OK  # and once more, later
    assert callbacks.accepted(late[1]) == []


def drain(aws, ttl, event, limit=20):
    """Hand ``event`` to a fresh consumer until it reports nothing held back."""
    for _ in range(limit):
        response = consumer(aws, ttl).handle(event)
        if response == OK:
            return
        # The mapping resumes each partition at its lowest reported offset.
        first = {}
        for failure in response["batchItemFailures"]:
            partition = failure["itemIdentifier"]["partition"]
            first[partition] = min(
                first.get(partition, failure["itemIdentifier"]["offset"]), failure["itemIdentifier"]["offset"]
            )
        event = {
            **event,
            "records": {
                p: [r for r in records if p in first and r["offset"] >= first[p]]
                for p, records in event["records"].items()
                if p in first
            },
        }
    raise AssertionError("the batch kept failing")


def test_redelivered_batches_running_together_hand_each_message_over_once(emulator):
    """Two invocations with the same batch at once, three times; then late subscribers and a replay."""
    aws, callbacks = Aws().setup(), CallbackLog().install()
    keys = [f"r-{i}" for i in range(30)]
    subscribed = keys[:20]  # the other ten are buffered
    executions = waiting(aws, subscribed)
    call = subscriber(aws)
    for key in subscribed:
        assert call(executions[key][1], key) == "waiting"
    event = batch(*(record(i // 3, key, partition=i % 3) for i, key in enumerate(keys)))
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: drain(aws, 600, event), range(2)))
    for i, key in enumerate(subscribed):
        assert_resumed_once(aws, callbacks, executions[key], i // 3)
    assert sorted(message for _, message in aws.markers()) == sorted(
        f"payments-{i % 3}-{i // 3}" for i in range(20, 30)
    )
    late = waiting(aws, [f"late-{n}-{key}" for key in keys for n in range(2)])
    for name, (_, token) in late.items():
        call(token, name.split("-", 2)[2])
    drain(aws, 600, event)  # replayed once more after everyone came
    for i, key in enumerate(keys):
        taken = [offsets(callbacks, late[f"late-{n}-{key}"][1]) for n in range(2)]
        assert sorted(taken) == ([[], []] if key in subscribed else [[], [i // 3]])
    assert aws.markers() == []
    assert aws.claims_left() == []
    assert aws.dead_letters() == []
