"""The redrive function's handler: its options, its refusals, its response (moto)."""

import pytest

from kafka_connector.errors import ConnectorInputError
from local.context import LocalLambdaContext
from tests.support.cold_start import reloaded
from tests.support.handover import OK, event, payment


@pytest.fixture
def redrive_handler(aws, monkeypatch):
    """The redrive function after a cold start, configured as the consumer is."""
    env = {
        "CONNECTOR_MODE": "correlate",
        "MESSAGE_NAME": "payment",
        "CORRELATION_KEY_EXPRESSION": "=value.orderId",
        "CORRELATION_TABLE": aws.table,
        "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    app = reloaded(monkeypatch, "functions.redrive.app", env)
    app.redriver.wait_seconds = 0
    return lambda e: app.lambda_handler(e, LocalLambdaContext("redrive"))


def test_the_function_replays_and_reports(aws, make_consumer, redrive_handler):
    assert make_consumer(CORRELATION_KEY_EXPRESSION="=value.nope").handle(event(payment(3, "o-1"))) == OK
    dry = redrive_handler({"dryRun": True})
    assert (dry["dryRun"], dry["received"], dry["messages"][0]["outcome"]) == (True, 1, "would replay")
    report = redrive_handler({})
    assert (report["received"], report["replayed"], report["messages"][0]["offset"]) == (1, 1, 3)
    assert redrive_handler(None)["received"] == 0
    assert aws.dead_letters() == []


@pytest.mark.parametrize(
    ("request_event", "field"),
    [
        ({"maxMessages": 0}, "maxMessages"),
        ({"maxMessages": "5"}, "maxMessages"),
        ({"maxMessages": True}, "maxMessages"),
        ({"dryRun": "yes"}, "dryRun"),
        ({"dryrun": True}, "dryrun"),
        ([], "JSON object"),
    ],
)
def test_bad_options_are_refused_naming_the_field(redrive_handler, request_event, field):
    with pytest.raises(ConnectorInputError, match=field):
        redrive_handler(request_event)
