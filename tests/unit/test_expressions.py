import math
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import jsonatapy
import pytest

from kafka_connector.errors import ConnectorError, ConnectorInputError
from kafka_connector.inbound import expressions
from kafka_connector.inbound.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
    strip_markers,
    truthy,
)

# The consumer's message for the reference document's example record.
MESSAGE = {
    "key": "employee1",
    "value": {"itemId": "a4f6j2", "correlationKey": "myValue", "amount": 12.5, "note": None},
    "rawValue": '{"itemId":"a4f6j2","correlationKey":"myValue","amount":12.5,"note":null}',
    "headers": {"source": "shop"},
    "topic": "orders",
    "partition": 0,
    "offset": 42,
    "timestamp": 1714564800000,
}


def compiled(source, name="TEST_EXPRESSION"):
    expression = compile_expression(source, name=name)
    assert isinstance(expression, Expression)
    return expression


# --------------------------------------------------------------------------- reference examples


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('=(value.itemId = "a4f6j2")', MESSAGE, True),
        ('=(value.itemId = "a4f6j2")', {"value": {"itemId": "other"}}, False),
        ("=value.correlationKey", MESSAGE, "myValue"),
        ("=key", MESSAGE, "employee1"),
        ('= {"itemId": value.itemId}', MESSAGE, {"itemId": "a4f6j2"}),
        ('= {\n  "itemId": value.itemId\n}', MESSAGE, {"itemId": "a4f6j2"}),
        (
            '= {"messageAcknowledgedAt": response.timestamp}',
            {"response": {"timestamp": "2024-05-01T12:00:00Z"}},
            {"messageAcknowledgedAt": "2024-05-01T12:00:00Z"},
        ),
        ("{% value.amount > 10 %}", MESSAGE, True),
    ],
)
def test_reference_examples_work_verbatim(source, data, expected):
    assert compiled(source).evaluate(data) == expected


def test_source_and_text_are_kept():
    expression = compiled('  = (value.itemId = "a4f6j2") ', name="ACTIVATION_CONDITION")
    assert expression.source == '  = (value.itemId = "a4f6j2") '
    assert expression.text == '(value.itemId = "a4f6j2")'
    assert expression.name == "ACTIVATION_CONDITION"
    assert "ACTIVATION_CONDITION" in repr(expression)


# --------------------------------------------------------------------------- markers


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("=key", "key"),
        ("= key", "key"),
        ("  =  key  ", "key"),
        ("=\n{\n  'a': 1\n}", "{\n  'a': 1\n}"),
        ("{% key %}", "key"),
        ("{%key%}", "key"),
        ("  {%\n  value.itemId\n%}  ", "value.itemId"),
        ("key", "key"),  # plain JSONata needs no marker
        ('{"a": 1}', '{"a": 1}'),  # an object constructor is not a {% %} wrapper
        ("{%a%} & {%b%}", "a%} & {%b"),  # the wrapper is the whole string, greedy
        ("{% a", "{% a"),  # unclosed: left as is (and the parser will say why)
        ("a = b", "a = b"),  # '=' inside is JSONata's equality
    ],
)
def test_strip_markers(source, text):
    assert strip_markers(source) == text


@pytest.mark.parametrize("source", [None, "", "   ", "=", " = ", "{%%}", "{%  \n %}"])
def test_nothing_to_compile_is_none(source):
    assert compile_expression(source, name="ACTIVATION_CONDITION") is None


@pytest.mark.parametrize("source", [42, True, ["=key"], {"expr": "key"}])
def test_non_string_source_is_an_input_error(source):
    with pytest.raises(ConnectorInputError, match="MESSAGE_ID_EXPRESSION"):
        compile_expression(source, name="MESSAGE_ID_EXPRESSION")


# --------------------------------------------------------------------------- truthiness


TRUTH_TABLE = [
    (None, False),
    (False, False),
    (True, True),
    (0, False),
    (0.0, False),
    (-0.0, False),
    (1, True),
    (-2.5, True),
    ("", False),
    ("false", True),
    ("0", True),
    ([], False),
    ([0], False),
    ([0, "", False, None], False),
    ([0, 1], True),
    ([[]], False),
    ([[1]], True),
    ({}, False),  # JSONata: an empty object is false (JavaScript would say true)
    ({"a": 0}, True),
    ({"a": None}, True),
]


@pytest.mark.parametrize(("value", "expected"), TRUTH_TABLE)
def test_truthiness_table(value, expected):
    assert truthy(value) is expected
    assert compiled("=value.flag").is_true({"value": {"flag": value}}) is expected


@pytest.mark.parametrize(("value", "expected"), [(v, e) for v, e in TRUTH_TABLE if v is not None])
def test_truthiness_is_jsonatas_own_boolean(value, expected):
    # The rule is JSONata's $boolean: the engine itself agrees with every row.
    assert jsonatapy.compile("$boolean(v)").evaluate({"v": value}) is expected


def test_nan_is_false():
    assert truthy(math.nan) is False


def test_missing_field_is_false():
    assert compiled("=value.nothing").is_true(MESSAGE) is False


# --------------------------------------------------------------------------- undefined and null


def test_undefined_and_null_are_both_none():
    assert compiled("=value.nothing").evaluate(MESSAGE) is None  # undefined
    assert compiled("=value.note").evaluate(MESSAGE) is None  # null


def test_undefined_drops_an_object_field_null_keeps_it():
    assert compiled('={"n": value.nothing}').evaluate(MESSAGE) == {}
    assert compiled('={"n": value.note}').evaluate(MESSAGE) == {"n": None}


def test_null_is_still_null_inside_the_expression():
    assert compiled("=value.note = null").evaluate(MESSAGE) is True
    assert compiled("=value.nothing = null").evaluate(MESSAGE) is False
    assert compiled("=$exists(value.note)").evaluate(MESSAGE) is True


def test_tombstone_message_values():
    tombstone = dict(MESSAGE, value=None, rawValue=None)
    assert compiled("=value.correlationKey").evaluate(tombstone) is None
    assert compiled('=(value.itemId = "a4f6j2")').is_true(tombstone) is False


# --------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("=value.itemId ==", "S0211"),
        ("= a +", "S0207"),
        ("{% (value %}", "S0203"),
        ('="unterminated', "S0101"),
        ("==key", "S0211"),
    ],
)
def test_syntax_error_names_the_variable_and_the_reason(source, reason):
    with pytest.raises(ConnectorInputError) as caught:
        compile_expression(source, name="ACTIVATION_CONDITION")
    error = caught.value
    assert error.status == 400
    assert "ACTIVATION_CONDITION" in error.message
    assert "not a valid JSONata expression" in error.message
    assert reason in error.message
    assert source in error.description


def test_syntax_error_is_not_cached_as_a_success():
    for _ in range(2):
        with pytest.raises(ConnectorInputError):
            compile_expression("=a +", name="RESULT_EXPRESSION")


# --------------------------------------------------------------------------- evaluation errors


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ('=$number("x")', "D3030"),
        ("=$noSuchFunction(value)", "T1006"),
        ('="a" + 1', "T2001"),
        ("=value.itemId + 1", "T2001"),
        ('=$error("refused")', "D3137"),
        ("=($f := function($n){1 + $f($n + 1)}; $f(0))", "U1001"),
    ],
)
def test_evaluation_error_is_an_expression_error(source, code):
    expression = compiled(source, name="RESULT_EXPRESSION")
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(MESSAGE)
    error = caught.value
    assert error.name == "RESULT_EXPRESSION"
    assert error.code == code
    assert code in error.reason
    assert str(error).startswith("RESULT_EXPRESSION: expression failed: ")
    assert not isinstance(error, ConnectorError)  # the record's error, not the configuration's


def test_is_true_raises_too():
    with pytest.raises(ExpressionError):
        compiled('=$number("x") > 0').is_true(MESSAGE)


def test_non_json_input_is_an_expression_error():
    with pytest.raises(ExpressionError, match="TEST_EXPRESSION"):
        compiled("=value").evaluate({"value": {1, 2}})


def test_non_terminating_expression_times_out(monkeypatch):
    monkeypatch.setattr(expressions, "EVALUATION_TIMEOUT_MS", 50)
    expression = compiled("=($loop := function(){$loop()}; $loop()) /* timeout test */")
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(MESSAGE)
    assert caught.value.code == "D1012"


def test_expression_error_pickles():
    error = ExpressionError("ACTIVATION_CONDITION", "D3030: Cannot convert 'x' to number", "D3030")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.name, copy.reason, copy.code) == (error.name, error.reason, error.code)
    assert str(copy) == str(error)


class PanicException(BaseException):  # the name pyo3 gives a Rust panic
    pass


class _Raising:
    def __init__(self, error):
        self.error = error

    def evaluate(self, data):
        raise self.error


def test_engine_panic_is_the_records_error(monkeypatch):
    monkeypatch.setattr(expressions, "_compiled", lambda text: _Raising(PanicException("boom")))
    with pytest.raises(ExpressionError, match="boom"):
        Expression("=$string(key)", "$string(key)", "TEST_EXPRESSION").evaluate(MESSAGE)


def test_keyboard_interrupt_is_not_swallowed(monkeypatch):
    monkeypatch.setattr(expressions, "_compiled", lambda text: _Raising(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        Expression("=$string(key)", "$string(key)", "TEST_EXPRESSION").evaluate(MESSAGE)


# --------------------------------------------------------------------------- numbers


def test_integers_beyond_64_bits_become_doubles_like_in_jsonata_js():
    message = {"value": {"id": 2**64, "small": 7, "nested": [{"n": -(2**70)}]}}
    assert compiled("=value.id").evaluate(message) == float(2**64)
    assert compiled("=value.small").evaluate(message) == 7
    assert compiled("=value.nested[0].n < 0").evaluate(message) is True


def test_integer_beyond_double_range_is_an_expression_error():
    with pytest.raises(ExpressionError):
        compiled("=value.id").evaluate({"value": {"id": 10**400}})


def test_64_bit_integers_stay_exact():
    assert compiled("=value.id").evaluate({"value": {"id": 2**63 - 1}}) == 2**63 - 1


# --------------------------------------------------------------------------- caching


def test_compile_expression_is_cached_by_source_and_name():
    first = compile_expression("=value.correlationKey", name="CORRELATION_KEY_EXPRESSION")
    assert compile_expression("=value.correlationKey", name="CORRELATION_KEY_EXPRESSION") is first
    other = compile_expression("=value.correlationKey", name="ACTIVATION_CONDITION")
    assert other is not first
    assert other.name == "ACTIVATION_CONDITION"


def test_engine_objects_are_cached_by_text_per_thread():
    a = compile_expression("=value.itemId", name="A")
    b = compile_expression("{% value.itemId %}", name="B")
    assert a.text == b.text
    here = expressions._compiled(a.text)
    assert expressions._compiled(b.text) is here

    def in_another_thread():
        mine = expressions._compiled(a.text)
        # Identity checks only: calling `here` from this thread would panic.
        seen.append((mine is here, expressions._compiled(a.text) is mine, mine.evaluate(MESSAGE)))

    seen = []
    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()
    assert seen == [(False, True, "a4f6j2")]


# --------------------------------------------------------------------------- threads


def test_shared_expression_from_many_threads():
    # Compiled here, evaluated in other threads: jsonatapy's compiled objects are
    # thread-bound (PanicException elsewhere), so this exercises the per-thread cache.
    expression = compiled('={"id": value.itemId & "-" & $string(offset), "ok": value.amount > 0}')
    barrier = threading.Barrier(8)

    def work(worker):
        barrier.wait()
        results = []
        for offset in range(300):
            message = {"value": {"itemId": f"w{worker}", "amount": offset}, "offset": offset}
            results.append(expression.evaluate(message) == {"id": f"w{worker}-{offset}", "ok": offset > 0})
        return all(results)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(8)))


def test_compiling_from_many_threads():
    sources = [f"=value.amount > {n}" for n in range(20)]

    def work(source):
        return compiled(source, name="ACTIVATION_CONDITION").is_true(MESSAGE)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, sources * 5)) == [n < 12.5 for n in range(20)] * 5


# -- fast paths agree with the engine -----------------------------------------------------------------

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kafka_connector.inbound.fast_paths import FALLBACK, fast_path  # noqa: E402

_names = st.sampled_from(["a", "b", "value", "key", "orderId", "`my key`"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([2**53 + 1, -(2**60), 2**64]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet="ab-xé", max_size=4),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "value", "key", "orderId", "my key"]), children, max_size=4
        ),
    ),
    max_leaves=12,
)
_literals = st.one_of(
    st.sampled_from(["true", "false", "null", "0", "10", "-2.5", "1e3", '"a"', "'b'", '""', '"x-é"']),
    st.integers(min_value=-100, max_value=100).map(str),
)
_paths = st.lists(_names, min_size=1, max_size=3).map(".".join)
_expressions = st.one_of(
    _paths,
    st.tuples(_paths, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _literals).map(" ".join),
    st.tuples(_paths, st.sampled_from(["=", "!="]), _literals).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
)


@settings(max_examples=400, deadline=None)
@given(
    data=st.dictionaries(st.sampled_from(["a", "b", "value", "key", "my key"]), _json, max_size=4),
    text=_expressions,
)
def test_fast_paths_give_exactly_what_the_engine_gives(data, text):
    fast = fast_path(text)
    assume(fast is not None)
    answer = fast(data)
    assume(answer is not FALLBACK)
    try:  # the engine as the connector calls it: integers beyond 64 bits already doubles
        expected = jsonatapy.compile(text).evaluate(expressions._ints_to_doubles(data))
    except ValueError as error:
        raise AssertionError(
            f"{text!r}: the engine raises {error} but the fast path answered {answer!r}"
        ) from None
    assert answer == expected, (text, data)
    assert type(answer) is type(expected), (text, data)


@pytest.mark.parametrize(
    "text", ["value.orderId", "key", "(value.itemId = 'a4f6j2')", "value.amount > 10", "`my key`.x != null"]
)
def test_the_connectors_usual_expressions_have_a_fast_path(text):
    assert fast_path(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "$string(value)",
        "value[0]",
        "value.a + 1",
        "value.*",
        "a and b",
        "true",
        "value.in",
        "a < 'x'",
        "a > true",
    ],
)
def test_other_expressions_have_no_fast_path(text):
    assert fast_path(text) is None


# -- what a record can throw at an expression ------------------------------------------------------


def test_a_condition_on_an_array_nested_thousands_deep_is_answered():
    deep = "x"
    for _ in range(50_000):
        deep = [deep]
    assert truthy(deep) is True
    assert truthy([[[[]]], [[0, ""]]]) is False
    assert compiled("=value.d").is_true({"value": {"d": deep}}) is True


def test_evaluate_key_gives_a_plain_paths_value_exactly():
    data = {"value": {"id": 1234567890123456789, "f": 1.0, "o": {"b": 1, "a": [2**70]}}, "key": 2**64}
    assert compiled("=value.id").evaluate_key(data) == 1234567890123456789
    assert compiled("=value.f").evaluate_key(data) == 1.0
    assert compiled("=value.o").evaluate_key(data) == {"b": 1, "a": [2**70]}
    assert compiled("=key").evaluate_key(data) == 2**64
    assert compiled("=value.missing").evaluate_key(data) is None
    # Arrays along the path map and flatten: that is the engine's, with its doubles.
    assert compiled("=value.o.a").evaluate_key({"value": {"o": [{"a": 1}, {"a": 2}]}}) == [1, 2]
    assert compiled('=value.id & ""').evaluate_key(data) == "1234567890123456800"


def test_evaluate_key_raises_like_evaluate():
    with pytest.raises(ExpressionError, match="D3030"):
        compiled('=$number("x")').evaluate_key({})
