"""The correlation table's key scheme: which item and which attribute a message or a waiter uses.

Every name is a hash of what it stands for, so any text (a task token of kilobytes, a
message id with ``#`` in it) makes a valid, fixed-length DynamoDB name; the subscribe
function, the consumer and a state machine subscribing directly (``States.Hash``) all
compute the same one. See docs/correlation-table.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SUBSCRIPTION_PREFIX = "sub_"
MESSAGE_PREFIX = "msg_"
BODY_PREFIX = "msg#"


def correlation_key_text(value: Any) -> str:
    """The correlation key as stored: strings as they are, other JSON values as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def head_key(message_name: str, correlation_key: str) -> str:
    return f"{message_name}#{correlation_key}"


def subscription_attribute(task_token: str) -> str:
    return SUBSCRIPTION_PREFIX + hashlib.sha256(task_token.encode()).hexdigest()


def message_attribute(message_id: str) -> str:
    return MESSAGE_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()


def body_key(head: str, message_id: str) -> str:
    return BODY_PREFIX + hashlib.sha256(json.dumps([head, message_id]).encode()).hexdigest()
