"""``python -m local redrive``: replay the running stack's dead-letter queue (the layer's ``Redriver``).

The consumer is built as ``up`` runs it — its environment from the stack's state file,
``--env NAME=VALUE`` on top (today's configuration, e.g. a corrected expression) — and each
message's record goes through it as in the redrive function (docs/outcomes.md#redrive).
One line per message on standard output (``--json``: the function's response).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local.stack import QUIET, attached


def redrive(overrides: Mapping[str, str], *, max_messages: int, dry_run: bool, as_json: bool) -> int:
    from aws_lambda_powertools import Metrics  # noqa: PLC0415 - the layer, once on the path

    from kafka_connector.inbound.batch import BatchConsumer  # noqa: PLC0415
    from kafka_connector.inbound.config import ConsumerConfig  # noqa: PLC0415
    from kafka_connector.inbound.redrive import Redriver  # noqa: PLC0415

    with attached() as state:
        env = {**state.consumer_environment, **QUIET, **dict(overrides)}
        consumer = BatchConsumer(
            ConsumerConfig.from_environment(env), metrics=Metrics(namespace="KafkaConnector")
        )
        report = Redriver(consumer, wait_seconds=0).run(max_messages=max_messages, dry_run=dry_run)
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    for message in report["messages"]:
        print(_line(message))
    print(
        f"{report['received']} message(s): {report['replayed']} replayed, {report['deadLettered']}"
        f" dead-lettered again, {report['heldBack']} held back, {report['kept']} kept"
        + (" (dry run: nothing changed)" if dry_run else "")
    )
    return 0


def _line(message: Mapping[str, Any]) -> str:
    place = (
        f"{message['topic']}-{message['partition']}@{message['offset']}"
        if message["topic"]
        else message["messageId"]
    )
    why = f": {message['error']}: {message['reason']}" if message["reason"] else ""
    return f"{place}  {message['outcome']}{why}"
