"""The AWS service limits the connector checks before a call, named once.

A payload over a limit is refused by the service with an error that no retry can fix;
checking first turns it into an outcome with a reason (``KafkaMessageTooLarge``, a
dead-lettered record) instead of a failed call. See docs/outcomes.md.
"""

from __future__ import annotations

#: Step Functions: execution input and task output (SendTaskSuccess), in UTF-8 bytes.
MAX_STEP_FUNCTIONS_PAYLOAD_BYTES = 256 * 1024
#: Step Functions: ``SendTaskFailure``'s ``cause`` field, in characters.
MAX_TASK_FAILURE_CAUSE_CHARS = 32768
#: Step Functions: execution names are at most 80 of ``[A-Za-z0-9_-]``.
MAX_EXECUTION_NAME_LENGTH = 80
#: SQS: one message body, in bytes.
MAX_SQS_MESSAGE_BYTES = 1024 * 1024
#: SQS: messages one ReceiveMessage call returns at most.
MAX_SQS_RECEIVE_MESSAGES = 10
#: Step Functions standard workflows run for at most a year; nothing stored needs to live longer.
MAX_LIFETIME_SECONDS = 366 * 24 * 3600


#: DynamoDB: a partition key value, in UTF-8 bytes.
MAX_DYNAMODB_KEY_BYTES = 2048
#: DynamoDB: one item, in bytes (names and values).
MAX_DYNAMODB_ITEM_BYTES = 400 * 1024
#: DynamoDB: actions in one ``TransactWriteItems`` (each on a different item).
MAX_TRANSACT_WRITE_ITEMS = 100
#: Step Functions: a task token, in characters (``SendTaskSuccess``'s ``taskToken``).
MAX_TASK_TOKEN_CHARS = 2048
#: How deep a function's JSON input may nest. Far beyond any real payload, and far below what
#: would exhaust Python's recursion in a library that walks the value (the JSON encoder, fastavro).
MAX_NESTING_DEPTH = 100
