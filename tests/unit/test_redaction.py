import base64
import io
import json
import logging
import uuid
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafka_connector import observability, redaction
from kafka_connector.inbound.dead_letter import dead_letter_body
from tests.support.leaks import forms_of, leaks

# What Secrets Manager's GetRandomPassword draws from by default (printable ASCII, no space),
# with the characters that escaping and encoding change drawn more often.
PASSWORD_CHARACTERS = st.one_of(
    st.sampled_from(list("'\"\\%+/=&?#")),
    st.characters(min_codepoint=33, max_codepoint=126),
    st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
)


def passwords(min_size: int = 10, max_size: int = 200) -> st.SearchStrategy[str]:
    """Generated secrets; a per-example tag keeps them apart from other tests' registrations."""
    return st.builds(
        lambda body, cut, tag: body[:cut] + tag + body[cut:],
        st.text(PASSWORD_CHARACTERS, min_size=min_size, max_size=max_size),
        st.integers(0, max_size),
        st.uuids().map(lambda u: u.hex[:6]),
    )


def secret(tag: str = "") -> str:
    """A fresh secret with every awkward character, registered."""
    value = f'it\'s-a \\ "pa%ss+w/rd="-{tag}{uuid.uuid4().hex}'
    redaction.register([value])
    return value


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


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(json.dumps, id="JSON"),
        pytest.param(lambda s: json.dumps({"k": s}, ensure_ascii=False), id="JSON UTF-8"),
        pytest.param(lambda s: json.dumps(json.dumps(s)), id="JSON twice"),
        pytest.param(repr, id="repr"),
        pytest.param(lambda s: repr({"password": s}), id="repr in a dict"),
        pytest.param(lambda s: repr(s.encode()), id="bytes repr"),
        pytest.param(lambda s: json.dumps(repr(s)), id="JSON of a repr"),
        pytest.param(lambda s: base64.b64encode(s.encode()).decode(), id="base64"),
        pytest.param(
            lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="), id="url-safe base64"
        ),
        pytest.param(quote, id="quote"),
        pytest.param(lambda s: quote(s, safe="").lower(), id="quote lower-case hex"),
        pytest.param(quote_plus, id="quote_plus"),
    ],
)
def test_encoded_forms_of_a_secret_are_masked(encode):
    value = secret("é")
    text = f"before {encode(value)} after"
    redacted = redaction.redact(text)
    assert redaction.MASK in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after")
    assert not leaks({"secret": value}, {"redacted": redacted})


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_base64_of_a_secret_inside_longer_data_is_masked(offset):
    # A record value (or a SASL message) holding the secret is base64 at any alignment.
    value = secret()
    before = b"x" * offset + b'{"note":"'
    escaped = json.dumps(value)[1:-1].encode()
    encoded = base64.b64encode(before + escaped + b'"}' + b"y" * 7).decode()
    redacted = redaction.redact(encoded)
    # Every base64 character made of the secret's bits alone is inside the one masked run.
    first, last = -(-8 * len(before) // 6), 8 * (len(before) + len(escaped)) // 6
    head, mask, tail = redacted.partition(redaction.MASK)
    assert mask
    assert redaction.MASK not in tail
    assert encoded.startswith(head)
    assert len(head) <= first
    assert encoded.endswith(tail)
    assert len(encoded) - len(tail) >= last


def test_overlapping_secrets_leave_nothing_showing():
    first, second = f"AAAA-{uuid.uuid4().hex}", f"-BBBB-{uuid.uuid4().hex}"
    redaction.register([first, first[-8:] + second])
    assert redaction.redact(f"<{first}{second}>") == "<******>"


@settings(max_examples=60, deadline=None)
@given(value=passwords(), before=st.text(max_size=30), after=st.text(max_size=30))
def test_every_form_of_a_generated_secret_is_masked_in_any_text(value, before, after):
    redaction.register([value])
    for name, form in forms_of(value).items():
        redacted = redaction.redact(before + form + after)
        assert not leaks({"secret": value}, {name: redacted}), name


def test_shown_redacts_before_it_cuts_and_escapes():
    long = f"{uuid.uuid4().hex * 2}-{uuid.uuid4().hex}"[:86]
    quoted = f"{uuid.uuid4().hex}\\'\"it's"
    redaction.register([long, quoted])
    assert redaction.shown(long + "-tail", 60) == repr(redaction.MASK + "-tail")
    assert long[:20] not in redaction.shown(long, 60)
    cut = redaction.shown("x" * 70 + quoted, 60)
    assert cut == repr("x" * 60) + "…"
    assert redaction.shown(f"a {quoted} b") == repr(f"a {redaction.MASK} b")
    assert redaction.shown("JKS", 20, quoted=False) == "JKS"
    assert redaction.shown("line\nbreak", quoted=False) == "line\\nbreak"


def test_redacting_data_keeps_it_well_formed_json():
    key, value = f"level-{uuid.uuid4().hex}", f'"}}, {{"x": "{uuid.uuid4().hex}'  # a key, and JSON syntax
    redaction.register([key, value])
    data = {"ok": True, key: value, "nested": [{"note": f"it is {value}"}, None, 3]}
    redacted = redaction.redact_data(data)
    assert redacted == {"ok": True, "******": "******", "nested": [{"note": "it is ******"}, None, 3]}
    assert json.loads(json.dumps(redacted)) == redacted


def test_credentials_in_structured_data_are_registered_but_references_are_not():
    user, password, jaas_password, info = (f"{n}-{uuid.uuid4().hex}" for n in ("u", "p", "j", "i"))
    redaction.register_credentials(
        {
            "authentication": {"username": user, "password": "{{secrets.KAFKA_PASSWORD}}"},
            "additionalProperties": {
                # unterminated: the broken config an error would be about
                "sasl.jaas.config": f"x.Plain required username='jaas-user' password='{jaas_password}",
                "basic.auth.user.info": f"registry-user:{info}",
            },
        }
    )
    text = f"{user} {jaas_password} {info} {{{{secrets.KAFKA_PASSWORD}}}} {password}"
    assert redaction.redact(text) == f"****** ****** ****** {{{{secrets.KAFKA_PASSWORD}}}} {password}"


def test_a_secrets_manager_response_body_registers_its_secret():
    # botocore logs this body at DEBUG before the caller has seen the secret.
    value = f'gen"{uuid.uuid4().hex}\\'
    body = json.dumps({"Name": "KAFKA_PASSWORD", "SecretString": value}).encode()
    redaction.register_credentials(body)
    assert not leaks({"secret": value}, {"log": redaction.redact(f"Response body:\n{body!r}")})


def test_dead_letter_bodies_are_redacted_and_stay_json():
    value = secret()
    record = {"topic": "t", "partition": 0, "offset": 7, "key": None, "value": "e30="}
    body = dead_letter_body(record, reason=f"could not decode {value!r}", error="UndecodableRecord")
    assert json.loads(body)["reason"] == "could not decode '******'"
    assert not leaks({"secret": value}, {"dead-letter body": body})


def test_a_secret_that_reaches_only_log_lines_never_reaches_the_output(capsys):
    """Each exit on its own: Powertools' formatter (extra fields, exceptions) and the record
    factory (a library's records through a plain handler, as the Lambda runtime's is)."""
    value = secret("log-")
    marker = f"marker-{uuid.uuid4().hex}"

    # Our logger: a Powertools Logger made now writes to capsys's stdout.
    logger = observability.get_logger(f"redaction-test-{uuid.uuid4().hex[:8]}")
    logger.setLevel(logging.DEBUG)
    logger.debug(f"{marker} connecting", extra={"config": {"client_id": value}, "note": f"with {value!r}"})
    try:
        raise ValueError(f"refused {value}")
    except ValueError:
        logger.exception(f"{marker} failed")
    logger.info({"event": {"note": value}, "marker": marker})

    # A library's logger (kafka-python, botocore) through a plain handler.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger(f"kafka.redaction-test-{uuid.uuid4().hex[:8]}")
    library.addHandler(handler)
    library.setLevel(logging.DEBUG)
    library.propagate = False
    try:
        library.debug("%s sending %r to %s", marker, {"key": value.encode()}, value)
        try:
            raise ConnectionError(f"closed while sending {value!r}")
        except ConnectionError:
            library.exception("%s send failed", marker)
    finally:
        library.removeHandler(handler)

    ours, theirs = capsys.readouterr().out, stream.getvalue()
    assert ours.count(marker) == 3, ours  # the lines really were captured
    assert theirs.count(marker) == 2, theirs
    for line in ours.splitlines():
        json.loads(line)  # still one JSON document per line
    assert not leaks({"secret": value}, {"Powertools output": ours, "plain handler output": theirs})
    assert "ValueError: refused ******" in ours
    assert "ConnectionError: closed while sending" in theirs
