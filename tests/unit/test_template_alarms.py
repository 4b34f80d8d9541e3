"""The dashboard and alarms of template.yaml (README: Monitoring), deployed on paper.

Each parameter set goes through the SAM translator and CloudFormation's resolution of
conditions and functions (``test_template_transform.deploy``), so what is checked is what a
deployment creates. The metric names, namespace and dimension the alarms and the dashboard
read are checked against what the code emits: an alarm on a metric nobody writes never fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kafka_connector.inbound.outcomes import (
    METRIC_NAMES,
    PARTITIONS_HELD_BACK,
    RECORDS_ACTIVATED,
    RECORDS_SEEN,
    Outcome,
    field_name,
)
from tests.unit.test_template_transform import MSK, SELF_MANAGED, Stack, deploy, refused

ROOT = Path(__file__).resolve().parents[2]
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:kafka-connector-alarms"
ALARMS = {"DeadLetterQueueAlarm", "RecordsHeldBackAlarm", "ConsumerErrorsAlarm", "OffsetLagAlarm"}
#: What the consumer emits per batch (inbound/outcomes.py), and the producer per invocation.
CONSUMER_METRICS = {RECORDS_SEEN, RECORDS_ACTIVATED, PARTITIONS_HELD_BACK, *METRIC_NAMES.values()}
PRODUCER_METRICS = {"RecordsPublished", "Errors"}


def cloudwatch(stack: Stack) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in stack.resources().items()
        if resource["Type"].startswith("AWS::CloudWatch::")
    }


def alarm(stack: Stack, name: str) -> dict[str, Any]:
    return cloudwatch(stack)[name]


def dashboard(stack: Stack) -> dict[str, Any]:
    return json.loads(cloudwatch(stack)["MonitoringDashboard"]["DashboardBody"])


def function_environment(stack: Stack, function: str) -> dict[str, str]:
    """What the function's environment holds after the transform merged the Globals in."""
    return stack.resources()[function]["Properties"]["Environment"]["Variables"]


def test_monitoring_is_on_by_default_with_every_alarm_and_the_dashboard():
    stack = deploy(**MSK)
    assert set(cloudwatch(stack)) == {*ALARMS, "MonitoringDashboard"}


@pytest.mark.parametrize("source", [MSK, SELF_MANAGED], ids=["msk", "self-managed"])
def test_monitoring_disabled_creates_nothing_in_cloudwatch(source):
    assert cloudwatch(deploy(**source, Monitoring="Disabled")) == {}


@pytest.mark.parametrize("source", [MSK, SELF_MANAGED], ids=["msk", "self-managed"])
def test_both_kinds_of_source_get_the_offset_lag_alarm(source):
    """Lambda publishes OffsetLag for MSK and self-managed Kafka mappings alike."""
    stack = deploy(**source)
    assert stack.of_type("AWS::Lambda::EventSourceMapping")
    assert "OffsetLagAlarm" in cloudwatch(stack)


def test_alarms_notify_the_topic_only_when_one_is_given():
    quiet, notifying = deploy(**MSK), deploy(**MSK, AlarmTopicArn=TOPIC_ARN)
    for name in ALARMS:
        assert "AlarmActions" not in alarm(quiet, name)
        assert "OKActions" not in alarm(quiet, name)
        assert alarm(notifying, name)["AlarmActions"] == [TOPIC_ARN]
        assert alarm(notifying, name)["OKActions"] == [TOPIC_ARN]


def test_a_topic_that_is_not_an_sns_arn_is_refused():
    assert any("AlarmTopicArn" in reason for reason in refused(**MSK, AlarmTopicArn="my-topic"))
    assert not refused(**MSK, AlarmTopicArn=TOPIC_ARN)


def test_dead_letter_queue_alarm_fires_on_the_first_message():
    props = alarm(deploy(**MSK), "DeadLetterQueueAlarm")
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": "<DeadLetterQueue.QueueName>"}]
    assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        0,
    )


def test_records_held_back_alarm_reads_the_metric_the_consumer_writes():
    stack = deploy(**MSK)
    props = alarm(stack, "RecordsHeldBackAlarm")
    consumer = function_environment(stack, "ConsumerFunction")
    assert props["Namespace"] == consumer["POWERTOOLS_METRICS_NAMESPACE"]
    assert props["MetricName"] == METRIC_NAMES[Outcome.HELD_BACK]
    # Powertools' only default dimension is the service: the alarm must name the same one.
    assert props["Dimensions"] == [{"Name": "service", "Value": consumer["POWERTOOLS_SERVICE_NAME"]}]
    assert (props["Statistic"], props["Threshold"]) == ("Sum", 0)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 2  # a partition stuck 10 minutes


def test_consumer_errors_and_offset_lag_alarms_read_lambdas_metrics_of_the_consumer():
    stack = deploy(**MSK, OffsetLagAlarmThreshold="2500")
    errors, lag = alarm(stack, "ConsumerErrorsAlarm"), alarm(stack, "OffsetLagAlarm")
    for props in (errors, lag):
        assert props["Namespace"] == "AWS/Lambda"
        assert props["Dimensions"] == [{"Name": "FunctionName", "Value": "<ConsumerFunction>"}]
    assert (errors["MetricName"], errors["Statistic"], errors["Threshold"]) == ("Errors", "Sum", 0)
    assert (lag["MetricName"], lag["Statistic"]) == ("OffsetLag", "Maximum")
    assert str(lag["Threshold"]) == "2500"


def dashboard_metrics(body: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...]]]:
    found = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            namespace, name, *rest = (item for item in row if isinstance(item, str))
            found.add((namespace, name, tuple(rest)))
    return found


def test_the_dashboard_shows_every_outcome_and_only_metrics_that_are_written():
    stack = deploy(**MSK)
    metrics = dashboard_metrics(dashboard(stack))
    namespace = function_environment(stack, "ConsumerFunction")["POWERTOOLS_METRICS_NAMESPACE"]
    consumer_service = function_environment(stack, "ConsumerFunction")["POWERTOOLS_SERVICE_NAME"]
    producer_service = function_environment(stack, "ProducerFunction")["POWERTOOLS_SERVICE_NAME"]
    ours = {(name, dimensions) for ns, name, dimensions in metrics if ns == namespace}
    assert {(name, ("service", consumer_service)) for name in METRIC_NAMES.values()} <= ours
    for name, dimensions in ours:
        written = CONSUMER_METRICS if dimensions == ("service", consumer_service) else PRODUCER_METRICS
        assert dimensions in {("service", consumer_service), ("service", producer_service)}, dimensions
        assert name in written, name
    assert ("AWS/Lambda", "OffsetLag", ("FunctionName", "<ConsumerFunction>")) in metrics
    assert (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        ("QueueName", "<DeadLetterQueue.QueueName>"),
    ) in (metrics)
    assert {widget["properties"]["region"] for widget in dashboard(stack)["widgets"]} == {"us-east-1"}


def test_the_producer_metrics_on_the_dashboard_are_the_ones_it_writes():
    source = (ROOT / "functions" / "producer" / "app.py").read_text() + (
        ROOT / "layers" / "kafka_connector" / "kafka_connector" / "observability.py"
    ).read_text()
    for name in PRODUCER_METRICS:
        assert f'"{name}"' in source, name


def test_the_log_widgets_query_the_consumers_log_group_by_the_summary_fields():
    queries = [w["properties"]["query"] for w in dashboard(deploy(**MSK))["widgets"] if w["type"] == "log"]
    assert len(queries) == 2
    for query in queries:
        assert query.startswith("SOURCE '<ConsumerLogGroup>' |")
    summary, warnings = queries
    for outcome in Outcome:
        assert f"sum({field_name(outcome)})" in summary, outcome
    assert "sum(records)" in summary
    # The per-record WARNING line's fields (inbound/batch.py _log_outcome).
    assert re.search(r"fields @timestamp, topic, partition, offset, outcome, error, reason", warnings)
