"""The template's resources, created from template.yaml in the emulator: the local stack.

What the functions use is created the way CloudFormation would create it, from the
template's own properties: every DynamoDB table (key schema, TTL) and SQS queue, every
state machine (its ``DefinitionUri`` with its ``DefinitionSubstitutions`` resolved), and
every function's ``Environment`` (:mod:`local.template`). Names are fixed, so that examples
read the same locally and on AWS: the correlation table is ``kafka-connector-correlation``,
the dead-letter queue ``kafka-connector-dlq``, a function is named after its code folder
(``producer``), a state machine after its definition file (``on-payment``). The example
secrets (``{{secrets.KAFKA_USER}}``/``{{secrets.KAFKA_PASSWORD}}``) are created under the
template's ``SecretsPrefix``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local.functions import ROOT
from local.glue import register_sample_schemas
from local.inputs import read_json_file
from local.template import (
    ACCOUNT_ID,
    REGION,
    LocalIds,
    Parameters,
    Resolver,
    TemplateError,
    load_template,
)

CORRELATION_TABLE = "kafka-connector-correlation"
DEAD_LETTER_QUEUE = "kafka-connector-dlq"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/kafka-connector-local"
#: Secrets the example events refer to as {{secrets.KAFKA_USER}} / {{secrets.KAFKA_PASSWORD}}.
LOCAL_SECRETS = {"KAFKA_USER": "local-user", "KAFKA_PASSWORD": "local-password-change-me"}
#: Local names of the template's resources that examples and docs name.
LOCAL_NAMES = {"CorrelationTable": CORRELATION_TABLE, "DeadLetterQueue": DEAD_LETTER_QUEUE}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class LocalResources:
    """The local stack: what was created for each resource, and the resolver of its intrinsics."""

    table: str
    dead_letter_queue_url: str
    resolver: Resolver | None = None
    #: function code (``producer``) → logical id (``ProducerFunction``)
    functions: dict[str, str] = field(default_factory=dict)
    #: logical id → state machine ARN
    state_machines: dict[str, str] = field(default_factory=dict)

    def environment(self, code: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
        """The function's environment as the template declares it, resolved for this stack."""
        if self.resolver is None or code not in self.functions:
            raise TemplateError(f"template.yaml declares no function with code functions/{code}/")
        return self.resolver.environment(self.functions[code], skip)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.resolver.parameters.values if self.resolver else {}


def function_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def state_machine_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"


def _kebab(logical_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id).lower()


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in (template.get("Resources") or {}).items() if r.get("Type") == kind}


def _function_code(resource: Mapping[str, Any]) -> str:
    return Path(str((resource.get("Properties") or {}).get("CodeUri", ""))).name


def function_logical_ids() -> dict[str, str]:
    """Function code folder (``consumer``) → its logical id in the template (``ConsumerFunction``)."""
    functions = _resources(load_template(), "AWS::Serverless::Function")
    return {_function_code(resource): logical_id for logical_id, resource in functions.items()}


def create_resources(
    overrides: Mapping[str, str] | None = None,
    local_defaults: Mapping[str, str] | None = None,
    *,
    state_machines: bool = True,
) -> LocalResources:
    """The template's tables, queues, state machines and the example secrets, in whatever boto3 points at.

    ``overrides`` are ``--parameter-overrides``; ``local_defaults`` replace a template default
    (the Kafka broker's address, which only the local runtime knows). Without
    ``state_machines`` the state machines and the sample Glue schemas are not created (their
    ARNs still resolve): moto loads its Step Functions engine on first use, which takes
    seconds, and only the consumer and workflows need them.
    """
    template = load_template()
    parameters = Parameters.resolve(template, overrides or {}, local_defaults or {})
    ids = LocalIds()
    resolver = Resolver(template, parameters, ids)
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    for logical_id, resource in _resources(template, "AWS::DynamoDB::Table").items():
        name = LOCAL_NAMES.get(logical_id) or f"kafka-connector-{_kebab(logical_id)}"
        properties = resolver.value(resource.get("Properties") or {})
        dynamodb.create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        ids.refs[logical_id] = name
        ids.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
    for logical_id, _ in _resources(template, "AWS::SQS::Queue").items():
        name = LOCAL_NAMES.get(logical_id) or f"kafka-connector-{_kebab(logical_id)}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        ids.refs[logical_id] = url
        ids.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        ids.attributes[(logical_id, "QueueName")] = name
        ids.attributes[(logical_id, "QueueUrl")] = url
    functions: dict[str, str] = {}
    for logical_id, resource in _resources(template, "AWS::Serverless::Function").items():
        code = _function_code(resource)
        functions[code] = logical_id
        ids.refs[logical_id] = code
        ids.attributes[(logical_id, "Arn")] = function_arn(code)
    machines = _resources(template, "AWS::Serverless::StateMachine")
    for logical_id, resource in machines.items():  # known before any is created: they may refer to each other
        name = Path(str(resource["Properties"]["DefinitionUri"])).name.removesuffix(".asl.json")
        ids.refs[logical_id] = state_machine_arn(name)
        ids.attributes[(logical_id, "Arn")] = state_machine_arn(name)
        ids.attributes[(logical_id, "Name")] = name
    deployed: dict[str, str] = {}
    for logical_id, resource in machines.items() if state_machines else ():
        properties = resource["Properties"]
        substitutions = {
            k: str(v) for k, v in resolver.value(properties.get("DefinitionSubstitutions") or {}).items()
        }
        file_name = Path(str(properties["DefinitionUri"])).name
        deployed[logical_id] = deploy_state_machine(
            ids.attributes[(logical_id, "Name")], file_name, substitutions
        )
    prefix = str(parameters.values.get("SecretsPrefix", ""))
    secrets = boto3.client("secretsmanager")
    for name, value in LOCAL_SECRETS.items():
        secrets.create_secret(Name=f"{prefix}{name}", SecretString=value)
    if state_machines:
        register_sample_schemas()
    return LocalResources(
        table=ids.refs.get("CorrelationTable", CORRELATION_TABLE),
        dead_letter_queue_url=ids.refs.get("DeadLetterQueue", ""),
        resolver=resolver,
        functions=functions,
        state_machines=deployed,
    )


def definition(file_name: str, substitutions: dict[str, str]) -> str:
    """An ASL file from ``statemachines/`` with its ``${Name}`` substitutions applied, as SAM does."""
    text = (ROOT / "statemachines" / file_name).read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"{file_name} needs substitutions for {', '.join(missing)}")
    text = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(text)  # a bad substitution fails here, not inside Step Functions
    return text


def deploy_state_machine(name: str, file_name: str, substitutions: dict[str, str]) -> str:
    return boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition(file_name, substitutions), roleArn=ROLE_ARN
    )["stateMachineArn"]


def read_event(path: str | Path) -> Any:
    """An event file's JSON (``-``: standard input), or a one-line :class:`~local.inputs.UsageError`."""
    return read_json_file(str(path), "event file")


def function_environment(
    code: str, resources: LocalResources, bootstrap: str | None = None, skip: tuple[str, ...] = ()
) -> dict[str, str]:
    """Each function's environment as the template sets it, pointed at local resources.

    ``bootstrap`` (the local broker) replaces an empty ``KAFKA_BOOTSTRAP_SERVERS``, as the
    ``KafkaBootstrapServers`` parameter would on AWS.
    """
    env = {"POWERTOOLS_SERVICE_NAME": f"kafka-{code}", **resources.environment(code, skip)}
    if bootstrap and "KAFKA_BOOTSTRAP_SERVERS" in env and not env["KAFKA_BOOTSTRAP_SERVERS"]:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    return env
