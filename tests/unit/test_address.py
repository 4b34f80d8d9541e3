import pytest

from kafka_connector.errors import ConnectorInputError
from kafka_connector.outbound.address import TargetAddress, parse_address, validate_topic_name


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("orders", TargetAddress("orders")),
        ("orders/employee1", TargetAddress("orders", key="employee1")),
        ("orders#2", TargetAddress("orders", partition=2)),
        ("orders#0", TargetAddress("orders", partition=0)),
        # The first separator decides: everything after a '/' is the key.
        ("orders/a#1", TargetAddress("orders", key="a#1")),
        ("orders/a/b", TargetAddress("orders", key="a/b")),
        ("my.topic_name-1/k", TargetAddress("my.topic_name-1", key="k")),
        ("t" * 249, TargetAddress("t" * 249)),
    ],
)
def test_valid_addresses(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "non-empty"),
        ("orders/", "empty key"),
        ("orders#", "partition"),
        ("orders#-1", "partition"),
        ("orders#1.5", "partition"),
        ("orders#x", "partition"),
        ("orders#1/a", "partition"),
        ("orders# 1", "partition"),
        ("orders#١", "partition"),  # a non-ASCII digit is not a partition number
        ("/key", "topic"),
        ("#1", "topic"),
        (".", "topic"),
        ("..", "topic"),
        ("bad topic", "topic"),
        ("ümlaut", "topic"),
        ("t" * 250, "topic"),
    ],
)
def test_invalid_addresses_name_the_field(address, reason):
    with pytest.raises(ConnectorInputError) as caught:
        parse_address(address, "topic.topicName")
    assert "topic.topicName" in caught.value.message
    assert reason in (caught.value.message + caught.value.description)


@pytest.mark.parametrize("value", [None, 3, ["orders"]])
def test_non_string_address(value):
    with pytest.raises(ConnectorInputError, match="address"):
        parse_address(value)


def test_topic_name_rule_allows_dots_inside():
    assert validate_topic_name("a..b", "f") == "a..b"
