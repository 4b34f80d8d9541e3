"""Correlation keys: one canonical text on both sides (docs/correlation-table.md#correlation-keys).

The subscribe function and the consumer both store ``keys.correlation_key_text`` of the key
they were given; the consumer's key comes out of ``CORRELATION_KEY_EXPRESSION`` evaluated on
the decoded record. A key that differs by spelling only (``1`` / ``1.0`` / ``1e0``), or an
id beyond a double's 53 bits, must give the same text on both sides, or the message is
silently dropped and the workflow waits until its timeout.
"""

import base64
import json
from decimal import Decimal

import pytest
from aws_lambda_powertools import Metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.expressions import compile_expression
from kafka_connector.inbound.keys import correlation_key_text
from kafka_connector.inbound.records import parse_text
from kafka_connector.inbound.subscription import SubscriptionRequest

TOKEN = "t" * 40


def subscribed_text(key_json: str) -> str:
    """The text the subscribe function stores for a correlationKey written as ``key_json``.

    The Lambda runtime hands the function the event as Python's ``json`` reads it.
    """
    event = json.loads(f'{{"taskToken": "{TOKEN}", "messageName": "payment", "correlationKey": {key_json}}}')
    return SubscriptionRequest.from_event(event).correlation_key


def consumed_text(value_json: str, expression: str = "=value.orderId") -> str:
    """The text the consumer stores for a record whose value is ``{"orderId": <value_json>}``."""
    consumer = BatchConsumer(
        ConsumerConfig.from_environment(
            {"CORRELATION_KEY_EXPRESSION": expression, "MESSAGE_NAME": "payment", "CORRELATION_TABLE": "t"}
        ),
        metrics=Metrics(namespace="KafkaConnectorTests"),
    )
    raw = {
        "topic": "payments",
        "partition": 0,
        "offset": 1,
        "value": base64.b64encode(f'{{"orderId": {value_json}}}'.encode()).decode(),
    }
    prepared = consumer.prepare(raw)
    assert prepared.failure is None, prepared.failure
    assert prepared.inbound is not None
    return prepared.inbound.correlation_key


@pytest.mark.parametrize(
    ("spellings", "text"),
    [
        (["1", "1.0", "1e0", "1E0", "10e-1", "0.1e1", "1.000"], "1"),
        (["0", "-0", "0.0", "-0.0", "0e5"], "0"),
        (["-42", "-42.0", "-4.2e1"], "-42"),
        (["1e21", "1000000000000000000000", "1000000000000000000000.0"], "1000000000000000000000"),
        (["1.5", "1.50", "15e-1", "0.15E1"], "1.5"),
        (["0.1", "1e-1"], "0.1"),
        (["1e-7", "0.0000001"], "1e-7"),
        (["0.000001", "1e-6"], "0.000001"),
    ],
)
def test_the_same_number_is_the_same_key_whatever_its_spelling(spellings, text):
    for spelling in spellings:
        assert subscribed_text(spelling) == text, spelling
        assert consumed_text(spelling) == text, spelling


@pytest.mark.parametrize(
    "integer", ["1234567890123456789", "9007199254740993", "-9223372036854775809", "1" + "0" * 40]
)
def test_integers_of_any_size_are_exact_on_both_sides(integer):
    # A double would make 1234567890123456789 into 1234567890123456768.
    assert subscribed_text(integer) == integer
    assert consumed_text(integer) == integer
    assert consumed_text(integer, "=value.`orderId`") == integer
    assert consumed_text(integer, "{% (value.orderId) %}") == integer


def test_neighbouring_big_ids_stay_apart():
    assert consumed_text("1234567890123456789") != consumed_text("1234567890123456790")


def test_a_string_stays_a_string():
    assert subscribed_text('"1.0"') == consumed_text('"1.0"') == "1.0"
    assert subscribed_text('"1001"') == consumed_text("1001") == "1001"  # string and number: one key
    assert subscribed_text('" a#b "') == " a#b "
    assert consumed_text('"é😀"') == "é😀"


def test_the_record_key_is_parsed_then_canonical():
    assert correlation_key_text(parse_text("1.50", "key")) == "1.5"
    assert correlation_key_text(parse_text("order-17", "key")) == "order-17"


def test_other_json_values_are_canonical_compact_json():
    assert subscribed_text("true") == consumed_text("true") == "true"
    assert subscribed_text('{"b": 1.0, "a": [2, "x"]}') == '{"a":[2,"x"],"b":1}'
    assert consumed_text('{"b": 1.0, "a": [2, "x"]}') == '{"a":[2,"x"],"b":1}'
    assert correlation_key_text(["é", {"z": None}]) == '["é",{"z":null}]'


def test_non_finite_numbers_are_the_strings_the_consumer_reads_them_as():
    assert correlation_key_text(float("nan")) == "NaN" == correlation_key_text(parse_text("NaN"))
    assert correlation_key_text(float("-inf")) == "-Infinity" == correlation_key_text(parse_text("-Infinity"))
    assert correlation_key_text([float("inf")]) == '["Infinity"]'


def test_a_plain_path_key_reaches_the_key_exactly_but_other_expressions_are_the_engines():
    data = {"value": {"id": 1234567890123456789, "ids": [1234567890123456789]}}
    assert compile_expression("=value.id", name="K").evaluate_key(data) == 1234567890123456789
    # evaluate() stays the engine's (doubles), as jsonata-js would give it.
    assert compile_expression("=value.id", name="K").evaluate(data) == 1234567890123456768
    assert compile_expression("=$string(value.id)", name="K").evaluate_key(data) == "1234567890123456800"


# -- properties ------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _spellings(number):
    """Several JSON spellings of the same number (each read back as that number)."""
    if isinstance(number, int):
        yield str(number)
        if abs(number) < 2**53:  # exactly representable: its float spellings are the same number
            yield f"{number}.0"
            yield f"{number}e0"
            yield repr(float(number))
        return
    yield repr(number)
    yield f"{Decimal(repr(number)):E}"
    if number.is_integer():
        yield str(int(number))


@settings(max_examples=300, deadline=None)
@given(number=_numbers)
def test_every_spelling_of_a_number_gives_one_key_on_both_sides(number):
    texts = set()
    for spelling in _spellings(number):
        assert json.loads(spelling) == number, spelling
        texts.add(subscribed_text(spelling))
        texts.add(consumed_text(spelling))
    assert len(texts) == 1, texts
    [text] = texts
    assert not text.startswith("+")
    if isinstance(number, int) or number.is_integer():
        assert text == str(int(number))  # exact, no exponent, no fraction
    else:
        assert float(text) == number  # the same double, read back
        assert "E" not in text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=20))
def test_every_string_is_its_own_key(text):
    assert correlation_key_text(text) == text
    if text:  # "" is no key (an input error for a subscriber)
        assert subscribed_text(json.dumps(text)) == text


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=5)),
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_canonical_text_depends_only_on_the_json_value(value):
    """Equal JSON values give equal texts: member order and number spelling do not matter."""
    text = correlation_key_text(value)
    reordered = json.loads(json.dumps(value), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert correlation_key_text(reordered) == text
    if not isinstance(value, str):
        assert correlation_key_text(json.loads(text)) == text  # strict JSON, and a fixed point
