"""What a workflow sees when a secret cannot be read: the kind of error says whether to retry.

Against moto's Secrets Manager through the producer function; throttling, 5xx answers and
timeouts are injected with botocore event hooks on the Secrets Manager client Powertools
uses (as tests/fault does), access denied is moto's own IAM enforcement of a user with no
permission. Every error names the secret and the id it was looked up as, never a value.
"""

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from functions.producer import app
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from local.context import LocalLambdaContext

PREFIX = "prod/kafka/"
SECRET_VALUE = "s3cr3t-Value-9f2c"


def publish_with(name):
    """A producer invoke whose client id is the secret ``name``; it fails before any broker is asked."""
    return app.lambda_handler(
        {
            "topic": {"bootstrapServers": "127.0.0.1:9", "topicName": "payments"},
            "message": {"key": "k", "value": {"n": 1}},
            "additionalProperties": {"client.id": "{{secrets." + name + "}}"},
        },
        LocalLambdaContext("producer"),
    )


@pytest.fixture
def secrets(monkeypatch):
    """moto's Secrets Manager with one secret, and the client Powertools reads it through."""
    monkeypatch.setenv("SECRETS_PREFIX", PREFIX)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only repeat the fault
    parameters.clear_caches()
    with mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name=PREFIX + "KAFKA_PASSWORD", SecretString=SECRET_VALUE
        )
        provider = DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider()
        yield provider.client
    DEFAULT_PROVIDERS.pop("secrets", None)
    parameters.clear_caches()


def fail_with(client, error, event="provide-client-params.secrets-manager.GetSecretValue"):
    def hook(**_):
        raise error

    client.meta.events.register(event, hook)


def client_error(code, status):
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetSecretValue",
    )


def raised(name="KAFKA_PASSWORD"):
    with pytest.raises((ConnectorInputError, KafkaRetryableError, KafkaNonRetryableError)) as caught:
        publish_with(name)
    assert SECRET_VALUE not in caught.value.message
    return caught.value


def test_a_secret_that_does_not_exist_is_an_input_error_naming_where_it_was_looked_up(secrets):
    error = raised("NOPE")
    assert type(error) is ConnectorInputError
    assert error.message == f"secret 'NOPE' does not exist (looked up as '{PREFIX}NOPE')"


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        (client_error("ThrottlingException", 400), "ThrottlingException"),
        (client_error("InternalServiceError", 500), "InternalServiceError"),
        (client_error("SomethingNewAndBroken", 503), "SomethingNewAndBroken"),  # any 5xx
    ],
)
def test_throttling_and_server_errors_are_retryable(secrets, fault, shown):
    fail_with(secrets, fault)
    error = raised()
    assert type(error) is KafkaRetryableError
    assert error.status == 500
    assert f"secret 'KAFKA_PASSWORD' could not be read now (looked up as '{PREFIX}KAFKA_PASSWORD')" in (
        error.message
    )
    assert shown in error.message


@pytest.mark.parametrize(
    "fault",
    [
        ReadTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
    ],
)
def test_timeouts_and_unreachable_endpoints_are_retryable(secrets, fault):
    fail_with(secrets, fault, event="before-send.secrets-manager.GetSecretValue")
    error = raised()
    assert type(error) is KafkaRetryableError
    assert type(fault).__name__ in error.message


def test_access_denied_is_not_retryable_and_names_the_secret_id(secrets, monkeypatch):
    iam = boto3.client("iam")
    iam.create_user(UserName="producer-without-permission")
    key = iam.create_access_key(UserName="producer-without-permission")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider()  # a client with the user's credentials
    with enable_iam_authentication():
        error = raised()
    assert type(error) is KafkaNonRetryableError
    assert error.status == 400
    assert "secret 'KAFKA_PASSWORD' could not be read" in error.message
    assert f"secret id '{PREFIX}KAFKA_PASSWORD'" in error.message


def test_access_denied_as_secrets_manager_names_it(secrets):
    """Secrets Manager itself answers ``AccessDeniedException`` (moto's IAM answers a bare 403)."""
    fail_with(secrets, client_error("AccessDeniedException", 400))
    error = raised()
    assert type(error) is KafkaNonRetryableError
    assert "AccessDeniedException" in error.message
    assert f"secret id '{PREFIX}KAFKA_PASSWORD'" in error.message


def test_a_readable_secret_still_resolves(secrets):
    """The same setup without a fault reads the secret: the faults above are what fails."""
    assert parameters.get_secret(PREFIX + "KAFKA_PASSWORD") == SECRET_VALUE
