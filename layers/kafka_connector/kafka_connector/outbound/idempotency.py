"""Idempotent publishing: a repeated ``idempotencyKey`` returns the first acknowledgement.

See docs/payloads.md#idempotent-publishing.

Powertools' Idempotency utility does the work on the DynamoDB table ``IDEMPOTENCY_TABLE``:
the first call with a key writes an in-progress record, publishes, and stores the
acknowledged records' metadata; a later call with the same key and the same published
fields gets that metadata back without publishing; the same key with other fields is an
input error; a call while the first is still in progress is told to retry. A failed
publish stores nothing (Powertools deletes the in-progress record), so a retry publishes.

What is compared is :func:`~kafka_connector.outbound.request.published_fields` — what is
published and where, as written — hashed by Powertools (``payload_validation_jmespath``).
Configuration, and with it every credential and resolved secret, is neither hashed nor
stored; what is stored is the metadata (topic, partition, offset, timestamp, sizes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from kafka_connector import environment as names
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import ConnectorError, ConnectorInputError, KafkaRetryableError
from kafka_connector.limits import MAX_LIFETIME_SECONDS
from kafka_connector.outbound.publisher import Acknowledgement
from kafka_connector.outbound.request import ProducerRequest
from kafka_connector.redaction import shown

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: Step Functions lets a failed execution be redriven for 14 days after it closed: a publish
#: repeated by a redrive within that window still publishes once.
DEFAULT_TTL_SECONDS: Final = 14 * 24 * 3600

log = logging.getLogger("kafka_connector.outbound")


def ttl_seconds(env: Mapping[str, str]) -> int:
    """``IDEMPOTENCY_TTL_SECONDS``: an integer 1…31,622,400, default 14 days; refused at cold start."""
    text = env.get(names.IDEMPOTENCY_TTL_SECONDS, "").strip()
    if not text:
        return DEFAULT_TTL_SECONDS
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIFETIME_SECONDS:
        raise ConnectorInputError(
            f"{names.IDEMPOTENCY_TTL_SECONDS} must be an integer from 1 to {MAX_LIFETIME_SECONDS}"
            f" (got {shown(text, 20)})"
        )
    return int(text)


class IdempotentPublisher:
    """Runs a publish at most once per ``idempotencyKey`` within the TTL, through Powertools."""

    def __init__(self, table: str, ttl: int) -> None:
        # Imported here: only a producer with IDEMPOTENCY_TABLE pays for Powertools' idempotency
        # (jmespath, the persistence layer) at cold start.
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.table = table
        self.config = IdempotencyConfig(
            event_key_jmespath="idempotencyKey",
            payload_validation_jmespath="published",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl,
        )
        store = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws_clients.client("dynamodb"))

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="publication", config=self.config, persistence_store=store
        )
        def publish_once(*, publication: dict[str, Any], run: Callable[[], list[dict[str, Any]]]) -> Any:
            return run()

        self._publish_once = publish_once

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> IdempotentPublisher | None:
        """The publisher for ``IDEMPOTENCY_TABLE``, or ``None`` when it is not set."""
        env = os.environ if env is None else env
        table = env.get(names.IDEMPOTENCY_TABLE, "").strip()
        return cls(table, ttl_seconds(env)) if table else None

    def publish(
        self,
        request: ProducerRequest,
        context: LambdaContext,
        run: Callable[[], list[Acknowledgement]],
    ) -> list[Acknowledgement]:
        """``run()``'s acknowledgements, or those stored by the first call with this key."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        outcome: dict[str, Any] = {}

        def publish() -> list[dict[str, Any]]:
            try:
                acknowledgements = run()
            except ConnectorError as error:
                outcome["error"] = error
                raise
            outcome["result"] = acknowledgements
            return [ack.to_metadata() for ack in acknowledgements]

        self.config.register_lambda_context(context)
        publication = {"idempotencyKey": request.idempotency_key, "published": request.idempotency_payload}
        try:
            stored = self._publish_once(publication=publication, run=publish)
        except IdempotencyValidationError:
            raise ConnectorInputError(
                "'idempotencyKey' was used before with a different payload",
                "A repeated call must publish the same messages to the same place; use a new key for new"
                " messages.",
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise KafkaRetryableError(
                "another call with this 'idempotencyKey' is still publishing",
                "Retry: once it is done its acknowledgement is returned; if it failed, a retry publishes.",
            ) from None
        except ConnectorError:
            raise
        except IdempotencyPersistenceLayerError as error:
            return self._without_the_table(error, outcome)
        return [Acknowledgement.from_metadata(metadata) for metadata in stored]

    def _without_the_table(self, error: Exception, outcome: dict[str, Any]) -> list[Acknowledgement]:
        """The idempotency table failed. If the publish ran, its own answer stands; else retry later.

        Powertools raises its persistence error even when the publish itself is done (storing
        the result failed) or failed (deleting the in-progress record failed): the workflow
        gets what really happened to the records, never a table error in its place.
        """
        cause = error.__cause__ or error
        if "error" in outcome:
            log.warning("idempotency table %s could not be cleaned up: %s", self.table, type(cause).__name__)
            raise outcome["error"]
        if "result" in outcome:
            log.warning(
                "idempotency table %s could not store the acknowledgement: %s",
                self.table,
                type(cause).__name__,
            )
            result: list[Acknowledgement] = outcome["result"]
            return result
        raise KafkaRetryableError(
            f"the idempotency table {self.table} could not be used: {type(cause).__name__}",
            "Nothing was published; a retry may work once DynamoDB answers.",
        ) from None
