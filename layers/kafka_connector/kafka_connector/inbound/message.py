"""One activated record on its way to a workflow: the message, its key and id, and the result.

Built by :mod:`.batch` before any AWS call and handed to :mod:`.correlation` (correlate
mode) or started as an execution (start mode). The costly parts (decoding headers,
serialising the result) are done on first use: most messages of a busy topic go nowhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kafka_connector.inbound.keys import head_key
from kafka_connector.inbound.records import decode_headers
from kafka_connector.limits import fits_step_functions


def expression_context(message: dict[str, Any]) -> dict[str, Any]:
    """What expressions see: the message's fields, and the message itself as ``response``.

    The reference connector's result expressions are written both ways
    (``value.itemId`` and ``response.timestamp``); both work here.
    """
    return {**message, "response": message}


@dataclass(slots=True)
class Inbound:
    """One activated message, ready to correlate.

    The result's JSON text is made on first use: a message nobody waits for (the common
    case of a busy topic) is never serialised at all.
    """

    message_name: str
    correlation_key: str
    message_id: str
    message: dict[str, Any]
    result: Any
    #: The record's raw headers while ``message["headers"]`` is not decoded yet.
    pending_headers: list[Any] | None = None
    _result_json: str | None = None

    def complete(self) -> dict[str, Any]:
        """The message with its headers decoded: call before it is shown to anyone or sent."""
        if self.pending_headers is not None:
            self.message["headers"] = decode_headers(self.pending_headers)
            self.pending_headers = None
        return self.message

    @property
    def head(self) -> str:
        return head_key(self.message_name, self.correlation_key)

    @property
    def result_json(self) -> str:
        if self._result_json is None:
            self.complete()  # the result holds the message itself unless RESULT_EXPRESSION reshaped it
            self._result_json = json.dumps(self.result, separators=(",", ":"), ensure_ascii=False)
        return self._result_json

    @property
    def result_size(self) -> int:
        """The result's size in UTF-8 bytes, as Step Functions counts it."""
        return len(self.result_json.encode())

    @property
    def too_large(self) -> bool:
        """Over what Step Functions accepts as task output or execution input (G6)."""
        return not fits_step_functions(self.result_json)
