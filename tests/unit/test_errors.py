import json
import pickle
import uuid

import pytest
from kafka import errors as kafka_errors

from kafka_connector import redaction
from kafka_connector.errors import (
    ConnectorInputError,
    KafkaNonRetryableError,
    KafkaRetryableError,
    classify_kafka_error,
)
from tests.support.leaks import leaks


def test_message_is_the_documented_json():
    error = ConnectorInputError("'message.value' is required", "more")
    assert json.loads(str(error)) == {
        "status": 400,
        "error": "ConnectorInputError",
        "message": "'message.value' is required",
        "description": "more",
    }
    assert json.loads(str(KafkaRetryableError("x")))["status"] == 500
    assert json.loads(str(KafkaNonRetryableError("x")))["status"] == 400


def test_errors_survive_pickling_unchanged():
    error = KafkaRetryableError("m", "d")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy)) == (KafkaRetryableError, str(error))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (kafka_errors.KafkaTimeoutError("Failed to update metadata"), KafkaRetryableError),
        (kafka_errors.NotEnoughReplicasError(), KafkaRetryableError),
        (kafka_errors.LeaderNotAvailableError(), KafkaRetryableError),
        (kafka_errors.UnknownTopicOrPartitionError(), KafkaRetryableError),
        (kafka_errors.KafkaConnectionError("refused"), KafkaRetryableError),
        (kafka_errors.MessageSizeTooLargeError(), KafkaNonRetryableError),
        (kafka_errors.InvalidTopicError(), KafkaNonRetryableError),
        (kafka_errors.TopicAuthorizationFailedError(), KafkaNonRetryableError),
        (kafka_errors.SaslAuthenticationFailedError(), KafkaNonRetryableError),
        (ConnectionResetError("peer"), KafkaRetryableError),
    ],
)
def test_kafka_errors_classified_by_their_retriable_flag(error, expected):
    assert type(classify_kafka_error(error)) is expected


def test_secrets_are_masked_in_error_messages():
    redaction.register(["hunter2-secret"])
    error = KafkaNonRetryableError("login as bob with hunter2-secret failed", "hunter2-secret")
    assert "hunter2-secret" not in str(error)
    assert redaction.MASK in error.message


def test_a_secret_quoted_escaped_in_an_error_is_masked_in_every_field():
    value = f"gen'\\\"{uuid.uuid4().hex}"
    redaction.register([value])
    error = KafkaRetryableError(f"unexpected KeyError: {value!r}", f"config { ({'password': value})!r}")
    body = str(error)
    assert json.loads(body)["message"] == "unexpected KeyError: '******'"
    assert json.loads(body)["description"] == "config {'password': '******'}"
    assert not leaks(
        {"secret": value},
        {"str": body, "repr": repr(error), "pickled": str(pickle.loads(pickle.dumps(error)))},
    )


def test_a_secret_registered_after_the_error_was_made_is_masked_when_it_is_written():
    late = f"late-{uuid.uuid4().hex}"
    error = ConnectorInputError(f"bad value {late}")
    redaction.register([late])  # e.g. another request resolved it meanwhile
    assert late not in str(error)
    assert json.loads(str(error))["message"] == "bad value ******"
