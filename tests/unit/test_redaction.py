from kafka_connector import redaction


def test_registered_values_are_masked_longest_first():
    redaction.register(["abc-password", "abc-password-extended"])
    assert redaction.redact("x abc-password-extended y abc-password") == "x ****** y ******"


def test_short_values_are_not_registered():
    redaction.register(["ab", None])
    assert redaction.redact("ab cd") == "ab cd"


def test_jaas_passwords_are_registered():
    redaction.register_jaas(
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="s3cr3t!x";'
    )
    assert redaction.redact("oops s3cr3t!x") == "oops ******"


def test_mask_properties_hides_credential_properties():
    masked = redaction.mask_properties(
        {"sasl.jaas.config": "anything", "client.id": "c", "ssl.key.password": "p"}
    )
    assert masked == {"sasl.jaas.config": "******", "client.id": "c", "ssl.key.password": "******"}
