"""Powertools Logger, Metrics and Tracer, configured once, with secrets masked at the exit.

Two paths carry log text out of the function: Powertools' JSON formatter (our own
records, with their ``extra`` fields and exceptions) and the runtime's root handler
(kafka-python's and botocore's records). The formatter subclass below redacts the first
field by field, before serialising; a log-record factory redacts the second when a record
is made, which happens only for records that will be emitted. Both first register the
credentials a logged structure carries under a credential key (an event logged whole, a
Secrets Manager response body that botocore logs at DEBUG before we have seen the secret).
"""

from __future__ import annotations

import functools
import logging
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.filters import SuppressFilter
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from kafka_connector import redaction
from kafka_connector.errors import ConnectorError, KafkaRetryableError
from kafka_connector.inbound.exceptions import TransientAwsError
from kafka_connector.version import VERSION

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KafkaConnector")
#: The layer's modules log to children of this logger (``kafka_connector.inbound.batch``, …).
LAYER_LOGGER = "kafka_connector"


def _redacted_text(value: object) -> str:
    """What Powertools writes for a value JSON cannot hold (its default is ``str``), redacted."""
    return redaction.redact(str(value))


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' structured JSON, with every registered secret replaced by ``******``.

    The log entry (message, ``extra`` fields, exception text, stack trace) is redacted
    string by string before it is serialised, so each string is seen before JSON escapes
    it and the line stays valid JSON whatever the secret is.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_default", _redacted_text)
        super().__init__(**kwargs)

    def serialize(self, log: Any) -> str:
        redaction.register_credentials(log)
        return super().serialize(redaction.redact_data(log))


def _redact_record(record: logging.LogRecord) -> None:
    args = record.args
    logged = (record.msg, *(args.values() if isinstance(args, Mapping) else args or ()))
    redaction.register_credentials(logged)
    if isinstance(record.msg, Mapping | list) and not args:
        record.msg = redaction.redact_data(record.msg)  # a structured message stays structured
    else:
        try:
            message = record.getMessage()
        except Exception:  # logging reports a bad format at emit time, quoting the raw arguments
            message = f"{record.msg} {args!r}"
        record.msg, record.args = redaction.redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redaction.redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redaction.redact(record.stack_info)


@functools.cache
def _install_record_redaction() -> None:
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_record)


def get_logger(service: str) -> Logger:
    """The function's Powertools logger: JSON lines carrying ``service_version``, the layer's lines too."""
    _install_record_redaction()
    logger = Logger(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", service),
        logger_formatter=RedactingFormatter(),
        service_version=VERSION,
    )
    route_layer_logs(logger)
    return logger


def route_layer_logs(logger: Logger) -> None:
    """Have the layer's own log records (``kafka_connector.*``) written by ``logger``'s handler.

    So the consumer's batch summary and per-record WARNING lines are the same structured JSON
    as the function's own, with their ``extra`` fields, the Lambda context keys and
    ``service_version``, at ``logger``'s level (the runtime's root logger is at WARNING, which
    would drop the INFO summary). Powertools' ``copy_config_to_registered_loggers`` does the
    same but sets ``propagate = False``, which also hides the records from whatever listens
    on the root logger (pytest's ``caplog``, an application embedding the layer). Instead the
    root handlers present now (the Lambda runtime's) get Powertools' ``SuppressFilter``, as
    Powertools does for its own service's child loggers, so no line is written twice;
    pytest's capture handlers are left alone, as Powertools leaves them. One function runs
    per process: a second call (a test importing several handlers) moves the layer's
    records to the newer logger.
    """
    layer = logging.getLogger(LAYER_LOGGER)
    layer.handlers = [logger.registered_handler]
    layer.setLevel(logger.log_level)
    for handler in logging.root.handlers:
        if type(handler).__name__ == "LogCaptureHandler" and type(handler).__module__ == "_pytest.logging":
            continue
        if not any(isinstance(f, SuppressFilter) and f.logger == LAYER_LOGGER for f in handler.filters):
            handler.addFilter(SuppressFilter(LAYER_LOGGER))


def get_metrics(service: str) -> Metrics:
    return Metrics(namespace=NAMESPACE, service=os.environ.get("POWERTOOLS_SERVICE_NAME", service))


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


class HandlerTracer(Protocol):
    """What the functions use of Powertools' Tracer: one decorator for the handler."""

    def capture_lambda_handler(
        self, lambda_handler: None = None, capture_response: bool | None = None
    ) -> Callable[[_Handler], _Handler]: ...


class _NoTracer:
    """Stands in for Powertools' Tracer when tracing is off.

    Powertools builds its X-Ray provider (importing aws_xray_sdk, ~150 ms of cold start)
    and wraps every invocation even when tracing is disabled; when it is off there is
    nothing to record, so the handler is returned untouched.
    """

    def capture_lambda_handler(
        self, lambda_handler: None = None, capture_response: bool | None = None
    ) -> Callable[[_Handler], _Handler]:
        return lambda handler: handler


def tracing_enabled() -> bool:
    """Powertools' own rule: on in Lambda, unless POWERTOOLS_TRACE_DISABLED or an emulator says otherwise."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated and not disabled


def get_tracer(service: str) -> HandlerTracer:
    if not tracing_enabled():
        return _NoTracer()
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 - imports aws_xray_sdk: only when tracing

    return cast("HandlerTracer", Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", service)))


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _report(logger: Logger, metrics: Metrics, error: ConnectorError) -> None:
    logger.warning(error.message, extra={"error": error.error, "status": error.status})
    count(metrics, "Errors")
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="error", value=error.error)


def handler_boundary(logger: Logger, metrics: Metrics) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let only the three documented errors leave a handler, each logged and counted by name.

    An exception we did not anticipate is a defect, not bad input, so it surfaces as the
    500-class ``KafkaRetryableError`` (the workflow may retry) with its type in the message.
    """

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except ConnectorError as error:
                _report(logger, metrics, error)
                raise
            except TransientAwsError as error:  # throttled or unavailable AWS: retry may work
                wrapped = KafkaRetryableError(str(error))
                _report(logger, metrics, wrapped)
                raise wrapped from None
            except Exception as error:  # the handler boundary: nothing else may escape
                wrapped = KafkaRetryableError(f"unexpected {type(error).__name__}: {error}")
                logger.exception("unexpected error", extra={"error": wrapped.error})
                _report(logger, metrics, wrapped)
                raise wrapped from None

        return wrapper

    return decorate
