"""The local event source mapping keeps the AWS contract: commit what is reported done, retry the rest."""

from kafka import KafkaProducer

from kafka_connector.inbound.records import decode_record, iter_records
from local.event_source_mapping import LocalEventSourceMapping
from tests.support.kafka import create_topic


def produce(bootstrap, topic, count, partition=0, headers=None):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(count):
        producer.send(
            topic, value=f"v{i}".encode(), key=f"k{i}".encode(), partition=partition, headers=headers or []
        )
    producer.flush()
    producer.close()


class Recorder:
    """A consumer function stand-in that records each event and answers as told."""

    def __init__(self, answers=()):
        self.events = []
        self.answers = list(answers)

    def __call__(self, event):
        self.events.append(event)
        answer = self.answers.pop(0) if self.answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        return answer

    def offsets(self, index):
        return [
            (r["partition"], r["offset"]) for batch in self.events[index]["records"].values() for r in batch
        ]


def mapping(bootstrap, topic, invoke, **kwargs):
    return LocalEventSourceMapping(
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"g-{topic}",
        invoke=invoke,
        backoff_seconds=0,
        **kwargs,
    )


def poll_until(esm, predicate, rounds=60):
    for _ in range(rounds):
        esm.poll_once(timeout_ms=300)
        if predicate():
            return
    raise AssertionError("condition not reached")


def test_partial_failure_commits_up_to_the_failed_record_and_redelivers_from_it(bootstrap):
    topic = create_topic(bootstrap, partitions=1)
    produce(bootstrap, topic, 5)
    failure = {"batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": 2}}]}
    recorder = Recorder([failure])
    with mapping(bootstrap, topic, recorder) as esm:
        poll_until(esm, lambda: len(recorder.events) >= 2)
        assert recorder.offsets(0) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]
        assert recorder.offsets(1) == [(0, 2), (0, 3), (0, 4)]  # from the failed one on, nothing before it
        assert esm.stats.committed[(topic, 0)] == 5
    with mapping(bootstrap, topic, recorder) as again:  # the group's committed offset is real
        again.poll_once(timeout_ms=2000)
        assert len(recorder.events) == 2


def test_invocation_error_retries_the_whole_batch(bootstrap):
    topic = create_topic(bootstrap, partitions=1)
    produce(bootstrap, topic, 3)
    recorder = Recorder([RuntimeError("cold start failed")])
    with mapping(bootstrap, topic, recorder) as esm:
        poll_until(esm, lambda: len(recorder.events) >= 2)
        assert recorder.offsets(0) == recorder.offsets(1) == [(0, 0), (0, 1), (0, 2)]
        assert esm.stats.retries == 1


def test_malformed_response_is_a_whole_batch_failure(bootstrap):
    topic = create_topic(bootstrap, partitions=1)
    produce(bootstrap, topic, 2)
    recorder = Recorder([{"batchItemFailures": [{"itemIdentifier": "not-kafka"}]}])
    with mapping(bootstrap, topic, recorder) as esm:
        poll_until(esm, lambda: len(recorder.events) >= 2)
        assert recorder.offsets(1) == [(0, 0), (0, 1)]


def test_partition_order_and_no_gaps_across_batches(bootstrap):
    topic = create_topic(bootstrap, partitions=2)
    produce(bootstrap, topic, 12, partition=0)
    produce(bootstrap, topic, 7, partition=1)
    recorder = Recorder()
    with mapping(bootstrap, topic, recorder, batch_size=5) as esm:
        poll_until(esm, lambda: esm.stats.records_committed >= 19)
    seen = {0: [], 1: []}
    for index in range(len(recorder.events)):
        for partition, offset in recorder.offsets(index):
            seen[partition].append(offset)
    assert seen == {0: list(range(12)), 1: list(range(7))}
    assert all(sum(len(b) for b in e["records"].values()) <= 5 for e in recorder.events)


def test_events_carry_signed_header_bytes_and_decode_back(bootstrap):
    topic = create_topic(bootstrap, partitions=1)
    produce(bootstrap, topic, 1, headers=[("trace", "é€ÿ".encode()), ("raw", bytes([0, 127, 128, 255]))])
    recorder = Recorder()
    with mapping(bootstrap, topic, recorder, source="aws:kafka") as esm:
        poll_until(esm, lambda: recorder.events)
    event = recorder.events[0]
    assert event["eventSource"] == "aws:kafka"
    assert list(event["records"]) == [f"{topic}-0"]
    [record] = iter_records(event)
    assert record["headers"][1] == {"raw": [0, 127, -128, -1]}
    assert decode_record(record)["headers"]["trace"] == "é€ÿ"
    assert decode_record(record)["key"] == "k0"


def test_retry_limit_sends_the_records_to_the_on_failure_destination(bootstrap):
    topic = create_topic(bootstrap, partitions=1)
    produce(bootstrap, topic, 3)
    failure = {"batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": 1}}]}
    recorder = Recorder([failure] * 10)
    destination = []
    with mapping(
        bootstrap, topic, recorder, retry_limit=2, on_failure=lambda event, reason: destination.append(event)
    ) as esm:
        poll_until(esm, lambda: destination)
        assert esm.stats.committed[(topic, 0)] == 3
    [sent] = destination
    assert [r["offset"] for r in sent["records"][f"{topic}-0"]] == [1, 2]
    assert len(recorder.events) == 3  # the first attempt and two retries
