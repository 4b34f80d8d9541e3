"""G3: a message and a subscription for the same key, racing, always meet — exactly once.

Run against the local emulator: moto behind a server that, like DynamoDB, applies each
conditional write atomically (in-process moto does not under threads). Each race is one
consumer invocation and one subscribe invocation, started together from a thread pool.
"""

from tests.support.concurrency import race


def test_g3_200_concurrent_message_subscription_races(emulator):
    race(emulator, 200)
