"""The dead-letter body: every record leaves its partition, whatever its event fields hold."""

import base64
import json

from kafka_connector.inbound.dead_letter import dead_letter_body
from kafka_connector.limits import MAX_SQS_MESSAGE_BYTES


def record(**fields):
    return {"topic": "payments", "partition": 2, "offset": 41, "timestamp": 1732190000000, **fields}


def test_the_body_carries_the_record_and_why():
    body = json.loads(dead_letter_body(record(value="e30="), "bad", "UndecodableRecord"))
    assert (body["topic"], body["partition"], body["offset"]) == ("payments", 2, 41)
    assert (body["error"], body["reason"]) == ("UndecodableRecord", "bad")
    assert body["record"]["value"] == "e30="


def test_a_value_too_large_for_sqs_is_left_out_saying_so():
    big = base64.b64encode(b"x" * MAX_SQS_MESSAGE_BYTES).decode()
    text = dead_letter_body(record(value=big), "too large", "KafkaMessageTooLarge")
    body = json.loads(text)
    assert len(text.encode()) <= MAX_SQS_MESSAGE_BYTES
    assert "value" not in body["record"]
    assert "valueOmitted" in body


def test_event_fields_no_encoder_can_write_still_give_a_body():
    headers = []
    for _ in range(100_000):
        headers = [headers]
    body = json.loads(dead_letter_body(record(headers=headers), "headers are not bytes", "UndecodableRecord"))
    assert body["record"] == {"topic": "payments", "partition": 2, "offset": 41, "timestamp": 1732190000000}
    assert "recordOmitted" in body
