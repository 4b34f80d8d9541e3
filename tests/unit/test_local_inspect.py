"""``python -m local dlq`` / ``table``: one readable line per message or item, tokens never shown."""

from local.inspect import dlq_line, table_line


def test_dlq_lines():
    body = {"topic": "payments", "partition": 0, "offset": 5, "error": "ExpressionError", "reason": "no key"}
    assert dlq_line({"messageId": "m1", "body": body}) == "payments-0@5  ExpressionError  no key"
    mapping = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "KafkaBatchInfo": {"recordsInfo": {"payments-1": {"firstRecordOffset": "41"}}},
    }
    assert dlq_line({"messageId": "m2", "body": mapping}).startswith("payments-1@41…  RetryAttemptsExhausted")
    assert "not a dead-letter message" in dlq_line({"messageId": "m3", "body": "hello"})


def test_table_lines_never_show_a_token():
    head = {
        "pk": "payment#1001",
        "version": 3,
        "sub_aa": {"token": "SECRET-TOKEN", "claim": "payments-0-1"},
        "sub_bb": {"token": "OTHER-TOKEN"},
        "msg_cc": {"id": "payments-0-2", "at": 1, "expiresAt": 2},
    }
    line = table_line(head)
    assert line == "head      payment#1001  version 3  2 waiting, 1 buffered, 1 claimed"
    assert "TOKEN" not in line
    mark = {"pk": "msg#ab", "head": "payment#1001", "messageId": "payments-0-1", "handledAt": 0}
    assert table_line(mark) == "handled   payment#1001  message payments-0-1  at 1970-01-01T00:00:00Z"
    body = {
        "pk": "msg#cd",
        "head": "payment#1001",
        "messageId": "payments-0-2",
        "message": "{}",
        "expiresAt": 60,
    }
    assert table_line(body) == "buffered  payment#1001  message payments-0-2  kept until 1970-01-01T00:01:00Z"
