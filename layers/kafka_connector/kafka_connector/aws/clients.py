"""boto3 clients shared by a warm execution environment, with bounded retries.

botocore's ``standard`` retry mode already backs off on throttling; bounding the attempts
keeps a throttled batch from running into the Lambda timeout, so the record is reported
as a partial batch failure and retried by the event source mapping instead.
``AWS_ENDPOINT_URL`` (read by boto3 itself) is how the local runtime points every
function at its emulator without the functions knowing.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

from kafka_connector import environment as names


@functools.cache
def client(service: str) -> Any:
    retries: Any = {  # botocore checks the mode; its stubs want a literal
        "mode": os.environ.get(names.AWS_RETRY_MODE, "standard"),
        "max_attempts": int(os.environ.get(names.AWS_MAX_ATTEMPTS, "4")),
    }
    config = Config(
        retries=retries,
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=32,
    )
    make: Any = boto3.client  # the stubs type each service by its literal name; here it is a variable
    return make(service, config=config)


class AwsClient:
    """A class attribute that is the shared client of ``service``, looked up when used.

    Looking it up on use (not at construction) keeps client creation out of cold start
    for functions that never call the service, and follows :func:`client`'s cache, so
    a test that points boto3 somewhere else and clears the cache is followed too.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return client(self.service)
