"""G1/G4 for runs (docs/correlation-table.md#runs): a fault or a crash between any two of a run's
requests leaves every waiting task resumed exactly once, with its own message, and nothing behind.

A run hands over consecutive records of one partition together: one ``TransactWriteItems``
claims them all, ``SendTaskSuccess`` resumes them one by one, one ``TransactWriteItems``
releases them with their handled marks. Each crash point is its own test. ``Point`` fails the
layer's n-th call of an operation through botocore event hooks — before it is made
(``provide-client-params``) or after it took effect, its answer lost (``after-call``) — with
an error the layer sees (throttling), or with ``Crash``, which nothing in the layer catches:
the invocation dies there (a timeout, an out-of-memory kill) and the mapping runs the whole
batch again. moto, with executions that really wait on task tokens; every run of the batch is
checked to be a run (the transactions' shapes).
"""

import json

import pytest
from botocore.exceptions import ClientError

from kafka_connector.aws import clients as aws_clients
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from local.kafka_event import KafkaRecord
from tests.support.aws import CallbackLog
from tests.support.handover import OK, TOPIC, Harness, event, held_back, payment

RUN = 4  # records in the batch: one run, all in partition 0, one waiting task each


class Crash(BaseException):
    """The invocation dies here: not an ``Exception``, so nothing in the layer handles it."""


def throttled(name):
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, name)


class Point:
    """Fails the ``n``-th call (from 1) of ``operation``, ``when`` before it is made or after it took effect.

    Also records what every ``TransactWriteItems`` was: a run's claim, a run's release, or a
    single hand-over's request.
    """

    def __init__(self, operation, n, when, error=throttled, times=1):
        self.operation, self.n, self.when, self.error, self.times = operation, n, when, error, times
        self.calls = 0
        self.fired = 0
        self.transactions = []
        self.events = []

    def install(self):
        for service, prefix in (("dynamodb", "dynamodb"), ("stepfunctions", "sfn")):
            events = aws_clients.client(service).meta.events
            events.register(f"provide-client-params.{prefix}", self._before)
            events.register(f"after-call.{prefix}", self._after)
            self.events.append((events, prefix))
        return self

    def remove(self):
        for events, prefix in self.events:
            events.unregister(f"provide-client-params.{prefix}", self._before)
            events.unregister(f"after-call.{prefix}", self._after)

    def _before(self, model, params, context, **_):
        if model.name == "TransactWriteItems":
            self.transactions.append(shape(params["TransactItems"]))
        if model.name != self.operation:
            return
        self.calls += 1
        if self.n <= self.calls < self.n + self.times:
            if self.when == "before":
                self.fired += 1
                raise self.error(model.name)
            context["fail_after_the_call"] = True

    def _after(self, model, context, **_):
        if context.pop("fail_after_the_call", False):
            self.fired += 1
            raise self.error(model.name)


def shape(actions):
    """``claim-run``, ``release-run``, ``return`` or ``single``: what a transaction was."""
    kinds = {next(iter(a)) for a in actions}
    updates = [a["Update"]["UpdateExpression"] for a in actions if "Update" in a]
    if kinds == {"Update"} and all(u.startswith("SET ") and ".claim = " in u for u in updates):
        return "claim-run" if len(actions) > 1 else "single"
    if kinds == {"Update"} and all(u.startswith("REMOVE ") and ".claim," in u for u in updates):
        return "return"
    if "Put" in kinds and len(actions) > 2:
        return "release-run"
    return "single"


@pytest.fixture
def h(aws, make_consumer, subscribe_handler):
    return Harness(aws, CallbackLog().install(), make_consumer, subscribe_handler)


def waiting(aws, h, count=RUN, prefix="run", timing_out=()):
    """``count`` waiting tasks, one per key ``<prefix>-<i>``, subscribed through the subscribe function;
    those in ``timing_out`` time out (their tasks gone) before this returns."""
    executions = []
    for i in range(count):
        arn, token = aws.start_waiting(f"{prefix}-{i}", timeout_seconds=1 if i in timing_out else None)
        assert h.subscribe(token, f"{prefix}-{i}") == "waiting"
        executions.append((arn, token))
    for i in timing_out:
        assert aws.wait_finished(executions[i][0])["status"] in {"FAILED", "TIMED_OUT"}
    return executions


def the_batch(count=RUN, prefix="run"):
    return event(*(payment(i, f"{prefix}-{i}") for i in range(count)))


def assert_all_handed_over_once(aws, h, executions, ttl):
    """Each task resumed once with its own record; no claim or marker left; the batch again changes
    nothing; a subscriber who comes now is not resumed by it."""
    for offset, (arn, token) in enumerate(executions):
        h.assert_resumed_once(arn, token, offset)
    assert aws.claims_left() == []
    assert aws.markers() == []
    assert aws.dead_letters() == []
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "run-1") == "waiting"
    assert h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(the_batch()) == OK  # a lost commit
    for offset, (arn, token) in enumerate(executions):
        h.assert_resumed_once(arn, token, offset)
    h.assert_still_waiting(late, late_token, "run-1")


def run_until_clean(consumer, batch, limit=6):
    """Run ``batch`` as the mapping does: a crash re-runs it whole, held-back records from their offset."""
    responses = []
    records = batch
    for _ in range(limit):
        try:
            response = consumer.handle(records)
        except Crash:
            responses.append("crash")
            continue
        responses.append(response)
        if response == OK:
            return responses
        lowest = min(f["itemIdentifier"]["offset"] for f in response["batchItemFailures"])
        records = event(*(payment(i, f"run-{i}") for i in range(lowest, RUN)))
    raise AssertionError(responses)


def test_a_run_costs_two_writes_and_the_callbacks(aws, h):
    executions = waiting(aws, h)
    point = Point("none", 1, "before").install()
    assert h.make_consumer().handle(the_batch()) == OK
    assert point.transactions == ["claim-run", "release-run"]
    assert_all_handed_over_once(aws, h, executions, 0)


# -- each crash point of a run, alone -----------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, 600])
@pytest.mark.parametrize(
    "case",
    [
        # The run's claim never made: each record is handed over alone, in its turn.
        ("TransactWriteItems", 1, "before", OK, ["claim-run", "return", "single"]),
        # The claims were written, the answer lost: taken back, then each record alone.
        ("TransactWriteItems", 1, "after", OK, ["claim-run", "return", "single"]),
        # The release never made: each record released alone, its mark with it.
        ("TransactWriteItems", 2, "before", OK, ["claim-run", "release-run", "single"]),
        # Released, the answer lost: each release alone finds its work done, the marks there.
        ("TransactWriteItems", 2, "after", OK, ["claim-run", "release-run", "single"]),
        # The second record's callback throttled: the first delivered and released, the
        # second held back with its claim, the rest given back, not called.
        ("SendTaskSuccess", 2, "before", held_back(1, 2, 3), ["claim-run", "release-run"]),
        # The second task resumed, the answer lost: held back; its retry finishes the claim.
        ("SendTaskSuccess", 2, "after", held_back(1, 2, 3), ["claim-run", "release-run"]),
    ],
    ids=[
        "claim-before",
        "claim-after",
        "release-before",
        "release-after",
        "callback-before",
        "callback-after",
    ],
)
def test_a_fault_at_each_step_of_a_run(aws, h, ttl, case):
    operation, n, when, first_response, transactions = case
    executions = waiting(aws, h)
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=ttl)
    point = Point(operation, n, when).install()
    assert consumer.handle(the_batch()) == first_response
    assert point.fired == 1
    assert point.transactions[: len(transactions)] == transactions
    point.remove()
    assert run_until_clean(consumer, the_batch())[-1] == OK
    assert_all_handed_over_once(aws, h, executions, ttl)


def test_the_run_release_and_then_one_release_alone_fail(aws, h):
    """The first record's own release fails too: it is held back (with its partition); its retry
    finds its claim and releases it; the others were released alone and are duplicates."""
    executions = waiting(aws, h)
    consumer = h.make_consumer()
    point = Point("TransactWriteItems", 2, "before", times=2).install()
    assert consumer.handle(the_batch()) == held_back(0, 1, 2, 3)
    assert point.fired == 2
    point.remove()
    assert run_until_clean(consumer, the_batch())[-1] == OK
    assert_all_handed_over_once(aws, h, executions, 0)


def test_the_claims_lost_and_not_taken_back(aws, h):
    """The run's claims written with the answer lost, and taking them back fails as well: each
    record, handed over alone, finds a claim of an attempt that never called back — not an
    earlier attempt's, so it is claimed again and resumed, not counted as delivered."""
    executions = waiting(aws, h)
    consumer = h.make_consumer()
    points = [
        Point("TransactWriteItems", 1, "after").install(),  # the claims
        Point("TransactWriteItems", 2, "before").install(),  # taking them back at once
        Point("UpdateItem", 1, "before", times=RUN).install(),  # ... and one by one
    ]
    assert consumer.handle(the_batch()) == OK
    assert [p.fired for p in points] == [1, 1, RUN]
    for point in points:
        point.remove()
    assert_all_handed_over_once(aws, h, executions, 0)


@pytest.mark.parametrize("ttl", [0, 600])
@pytest.mark.parametrize(
    "at",
    [
        ("TransactWriteItems", 1, "after"),  # claimed, then died: nobody called back
        ("SendTaskSuccess", 2, "after"),  # two resumed, none released
        ("TransactWriteItems", 2, "before"),  # all resumed, none released
        ("TransactWriteItems", 2, "after"),  # released with the marks, the offsets not committed
    ],
    ids=["after-claim", "mid-callbacks", "before-release", "after-release"],
)
def test_a_crash_at_each_point_of_a_run(aws, h, ttl, at):
    """The invocation dies; the mapping runs the whole batch again: every retried record finishes
    its earlier attempt's claims, a record already released is a duplicate."""
    executions = waiting(aws, h)
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=ttl)
    point = Point(*at, error=lambda _: Crash()).install()
    responses = run_until_clean(consumer, the_batch())
    assert responses == ["crash", OK]
    point.remove()
    assert_all_handed_over_once(aws, h, executions, ttl)


# -- a run's records whose tasks are gone ---------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, 600])
def test_a_gone_task_in_a_run(aws, h, ttl):
    """TTL 0: the record is dropped and the run goes on. TTL > 0: the run stops after it, the
    record is buffered in its turn, the records after it are handed over alone, in order."""
    executions = waiting(aws, h, timing_out={1})
    point = Point("none", 1, "before").install()
    assert h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(the_batch()) == OK
    for offset, (arn, token) in enumerate(executions):
        if offset != 1:
            h.assert_resumed_once(arn, token, offset)
    assert h.callbacks.accepted(executions[1][1]) == []
    assert point.transactions[:2] == ["claim-run", "release-run"]
    assert aws.claims_left() == []
    late, late_token = aws.start_waiting("late")
    status = h.subscribe(late_token, "run-1")
    if ttl:
        assert status == "delivered"
        assert json.loads(aws.wait_finished(late)["output"])["message"]["offset"] == 1
    else:
        assert status == "waiting"
        h.assert_still_waiting(late, late_token, "run-1")
    assert aws.markers() == []


def test_the_claims_lost_and_not_taken_back_and_a_task_gone(aws, h):
    """As above, with the second task timed out: its "gone" on a claim nobody called back for
    means gone — the message is buffered for the next subscriber, not counted as delivered."""
    executions = waiting(aws, h, timing_out={1})
    points = [
        Point("TransactWriteItems", 1, "after").install(),
        Point("TransactWriteItems", 2, "before").install(),
        Point("UpdateItem", 1, "before", times=RUN).install(),
    ]
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(the_batch()) == OK
    assert [p.fired for p in points] == [1, 1, RUN]
    for point in points:
        point.remove()
    for offset, (arn, token) in enumerate(executions):
        if offset != 1:
            h.assert_resumed_once(arn, token, offset)
    assert aws.claims_left() == []
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "run-1") == "delivered"
    h.assert_resumed_once(late, late_token, 1)


@pytest.mark.parametrize("ttl", [0, 600])
def test_a_redelivered_run_resumes_no_new_subscriber(aws, h, ttl):
    """Everyone subscribed again after the run was handed over: the batch again is all duplicates."""
    executions = waiting(aws, h)
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=ttl)
    assert consumer.handle(the_batch()) == OK
    late = []
    for i in range(RUN):
        arn, token = aws.start_waiting(f"late-{i}")
        assert h.subscribe(token, f"run-{i}") == "waiting"
        late.append((arn, token))
    point = Point("none", 1, "before").install()
    assert h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(the_batch()) == OK
    assert "claim-run" not in point.transactions
    for offset, (arn, token) in enumerate(executions):
        h.assert_resumed_once(arn, token, offset)
    for arn, token in late:
        assert h.callbacks.accepted(token) == []
        assert aws.status(arn) == "RUNNING"
    # The next messages for those keys form a run, and reach them.
    assert consumer.handle(event(*(payment(10 + i, f"run-{i}") for i in range(RUN)))) == OK
    for i, (arn, token) in enumerate(late):
        h.assert_resumed_once(arn, token, 10 + i)
    assert aws.claims_left() == []


def test_a_subscriber_arriving_before_the_run_claims_is_served(aws, h):
    """A subscription for the third key is written after the heads were read, before the run's
    claim: its claim is refused (the version moved), the run is cut before it and claimed again,
    and the third record, handed over alone, resumes both of its key's tasks (G1, G3)."""
    executions = waiting(aws, h)
    newcomer, newcomer_token = aws.start_waiting("newcomer")
    dynamodb = aws_clients.client("dynamodb")
    arrivals = []

    def subscribe_first(params, **_):
        if not arrivals and len(params["TransactItems"]) == RUN:
            arrivals.append(aws.write_subscription("payment#run-2", newcomer_token))

    dynamodb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", subscribe_first)
    point = Point("none", 1, "before").install()
    try:
        assert h.make_consumer().handle(the_batch()) == OK
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", subscribe_first)
    assert arrivals
    assert point.transactions[:3] == ["claim-run", "claim-run", "release-run"]
    h.assert_resumed_once(newcomer, newcomer_token, 2)
    assert_all_handed_over_once(aws, h, executions, 0)


def test_a_run_claim_refused_as_invalid_leaves_each_record_to_find_out_alone(aws, h):
    """DynamoDB refuses the run's claim as a request that can never succeed (ValidationException):
    nothing was written; each record is handed over alone (and would be dead-lettered alone)."""
    executions = waiting(aws, h)

    def invalid(name):
        return ClientError({"Error": {"Code": "ValidationException", "Message": "x"}}, name)

    point = Point("TransactWriteItems", 1, "before", error=invalid).install()
    assert h.make_consumer().handle(the_batch()) == OK
    assert point.fired == 1
    assert point.transactions == ["claim-run"] + ["single"] * RUN  # then each release alone
    point.remove()
    assert_all_handed_over_once(aws, h, executions, 0)


# -- found by review: a claim check refused inside a run; a subscriber arriving during a release ------


def big_payment(offset, order_id):
    """A record whose result is over the Step Functions limit: claim-checked when a bucket is set."""
    value = json.dumps({"orderId": order_id, "note": "x" * (MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1)}).encode()
    return KafkaRecord(TOPIC, 0, offset, value, order_id.encode(), [], 1732190000000)


def test_a_refused_claim_check_inside_a_run_leaves_no_claim(aws, h):
    """As test_large_messages.py::test_a_refused_claim_check_leaves_the_waiting_task_unclaimed,
    with the large record second in its partition: selecting the run that starts at the first
    record calls ``Inbound.complete()`` on the second ahead of its turn and swallows the S3 error.
    ``complete()`` had already set ``_result_json``, so in the second record's turn it does not
    try S3 again: the record is claimed (alone or in a run) and S3 fails at the callback, after
    the claim. Alone, it fails before anything is claimed."""
    executions = waiting(aws, h, count=3)
    consumer = h.make_consumer(CLAIM_CHECK_BUCKET="no-such-bucket")
    batch = event(payment(0, "run-0"), big_payment(1, "run-1"), payment(2, "run-2"))
    assert consumer.handle(batch) == held_back(1, 2)
    h.assert_resumed_once(*executions[0], 0)
    assert aws.status(executions[1][0]) == "RUNNING"
    assert aws.claims_left() == []  # was: run-1's subscription is left claimed by offset 1


def test_a_subscriber_arriving_during_a_run_whose_task_was_gone_is_served(aws, h):
    """G3 (and G2) with runs, TTL > 0: run-0's only task timed out, so the run stops after it and
    run-0's message is to be buffered in its turn. A subscription for run-0 (path b) is written
    after the callbacks, before the run's release: the release's Delete is refused (version
    moved), run-0 is released alone, which re-reads the head *with the newcomer in it* — and the
    message is then buffered on that head without being offered to the newcomer. Buffered while
    a subscription for its key waits: "never both stored and unmatched" broken. (The single
    hand-over's release takes the same path: ``Released.reread`` is not treated as ``changed``.)"""
    executions = waiting(aws, h, count=2, timing_out={0})
    newcomer, newcomer_token = aws.start_waiting("newcomer")
    dynamodb = aws_clients.client("dynamodb")
    arrivals = []

    def subscribe_before_the_release(params, **_):
        actions = params["TransactItems"]
        claim = all(a.get("Update", {}).get("UpdateExpression", "").startswith("SET ") for a in actions)
        if not arrivals and not claim:  # the run's release (run-0's Delete, run-1 given back)
            arrivals.append(aws.write_subscription("payment#run-0", newcomer_token))

    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", subscribe_before_the_release
    )
    point = Point("none", 1, "before").install()
    try:
        assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(
            event(payment(0, "run-0"), payment(1, "run-1"))
        ) == {"batchItemFailures": []}
    finally:
        dynamodb.meta.events.unregister(
            "provide-client-params.dynamodb.TransactWriteItems", subscribe_before_the_release
        )
    assert arrivals
    assert point.transactions[0] == "claim-run"
    h.assert_resumed_once(*executions[1], 1)
    # The newcomer waited while run-0's message was being buffered: it must have received it,
    # or the message must not be buffered while it waits.
    markers = aws.markers()
    resumed = h.callbacks.accepted(newcomer_token)
    assert resumed or not markers, (markers, aws.status(newcomer))


def test_the_same_with_a_single_hand_over(aws, h):
    """The same defect without a run (one record): it predates runs, runs reach it too."""
    [(_gone_arn, _)] = waiting(aws, h, count=1, timing_out={0})
    newcomer, newcomer_token = aws.start_waiting("newcomer")
    dynamodb = aws_clients.client("dynamodb")
    arrivals = []

    def subscribe_before_the_release(**_):
        if not arrivals:
            arrivals.append(aws.write_subscription("payment#run-0", newcomer_token))

    dynamodb.meta.events.register("provide-client-params.dynamodb.DeleteItem", subscribe_before_the_release)
    try:
        assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "run-0"))) == {
            "batchItemFailures": []
        }
    finally:
        dynamodb.meta.events.unregister(
            "provide-client-params.dynamodb.DeleteItem", subscribe_before_the_release
        )
    assert arrivals
    assert h.callbacks.accepted(newcomer_token) or not aws.markers(), (aws.markers(), aws.status(newcomer))


def test_a_refused_claim_check_inside_a_run_then_loses_the_message(aws, h):
    """The consequence for G2/G4 (TTL > 0): run-1's task is gone. Alone, the record fails before
    its claim, and its retry finds the task gone and buffers the message for the next subscriber.
    After a run's selection swallowed the S3 error, the record leaves a claim; its retry takes
    that claim for an earlier attempt's, counts "gone" as delivered, and the message is lost."""
    executions = waiting(aws, h, count=3, timing_out={1})
    batch = [payment(0, "run-0"), big_payment(1, "run-1"), payment(2, "run-2")]
    consumer = h.make_consumer(CLAIM_CHECK_BUCKET="kafka-claim-checks", MESSAGE_TTL_SECONDS=600)
    assert consumer.handle(event(*batch)) == held_back(1, 2)  # the bucket does not exist yet
    __import__("boto3").client("s3").create_bucket(Bucket="kafka-claim-checks")
    assert consumer.handle(event(*batch[1:])) == {"batchItemFailures": []}
    h.assert_resumed_once(*executions[2], 2)
    _late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "run-1") == "delivered"  # was: "waiting", nothing buffered
