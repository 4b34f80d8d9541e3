"""template.yaml through the SAM translator, deployed on paper with each kind of cluster.

``samtranslator`` (the library behind ``sam build``/``sam deploy`` and CloudFormation's
``AWS::Serverless-2016-10-31`` transform) turns the template into plain CloudFormation, as
``sam package`` hands it over: local code and definition paths replaced by S3 locations.
The translator leaves CloudFormation's own functions in place, so this module then does
what CloudFormation does with one parameter set: checks the values against the
parameters' constraints, evaluates the Rules, the Conditions and every ``Fn::If``/``Ref``/
``Fn::Select``/``Fn::Split``/``Fn::Join``/``Fn::Sub``, and drops ``AWS::NoValue``. What is
left is what a deployment would create: each event source mapping must hold exactly the
SourceAccessConfigurations its parameters ask for, and the consumer's role the EC2
permissions exactly when Lambda's pollers run in a VPC.

No Fn::ForEach or other language extension is used, so nothing else needs expanding first.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from tests.support.template import EVENT_SOURCE_VPC_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "us-east-1", "123456789012"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "kafka-stepfunctions-connector",
    "AWS::URLSuffix": "amazonaws.com",
}

MSK_CLUSTER = f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/payments/0b1c2d3e-1111-2222-3333-444455556666-7"
SCRAM_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:AmazonMSK_payments-AbCdEf"
CLIENT_CERT_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kafka-client-cert-AbCdEf"
ROOT_CA_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kafka-root-ca-AbCdEf"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11112222-3333-4444-5555-666677778888"
BROKERS = "b-1.kafka.example.com:9096,b-2.kafka.example.com:9096"
SUBNETS = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"]
SECURITY_GROUPS = ["sg-0ddd4444", "sg-0eee5555"]
EC2_ACTIONS = EVENT_SOURCE_VPC_ACTIONS
NO_VALUE = object()


# -- the template as `sam package` hands it to the transform ------------------------------------


@cache
def source_template() -> str:
    return (ROOT / "template.yaml").read_text()


def packaged() -> dict[str, Any]:
    """template.yaml with its local paths replaced by S3 locations, as ``sam package`` does."""
    template = json.loads(json.dumps(cfn_yaml.loads(source_template())))
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://deployment-bucket/{name}.zip"
        if isinstance(properties.get("DefinitionUri"), str):
            properties["DefinitionUri"] = {"Bucket": "deployment-bucket", "Key": f"{name}.asl.json"}
    return template


def no_managed_policies() -> dict[str, str]:
    """The translator asks IAM for managed policy ARNs only for policies given by name: none here."""
    return {}


@cache
def transformed_json(parameters_json: str) -> str:
    # What samtranslator.translator.transform.transform does, with the region given rather than
    # taken from the environment, and no IAM lookup.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    template = translator.translate(
        packaged(),
        parameter_values={**json.loads(parameters_json), **PSEUDO},
        get_managed_policy_map=no_managed_policies,
    )
    return json.dumps(template)


def translate(parameters: dict[str, str]) -> dict[str, Any]:
    return json.loads(transformed_json(json.dumps(parameters, sort_keys=True)))


# -- CloudFormation's side: parameters, rules, conditions, intrinsic functions -------------------


class Stack:
    """A transformed template with one parameter set, resolved as CloudFormation would resolve it."""

    def __init__(self, template: dict[str, Any], overrides: dict[str, str]) -> None:
        self.template = template
        unknown = set(overrides) - set(template["Parameters"])
        assert not unknown, unknown
        self.parameters: dict[str, Any] = {}
        for name, declaration in template["Parameters"].items():
            raw = str(overrides.get(name, declaration.get("Default", "")))
            self.parameters[name] = raw.split(",") if declaration["Type"] == "CommaDelimitedList" else raw
        self._conditions: dict[str, bool] = {}

    # -- parameters and rules --------------------------------------------------------------------

    def parameter_errors(self) -> list[str]:
        errors = []
        for name, declaration in self.template["Parameters"].items():
            value = self.parameters[name]
            values = value if isinstance(value, list) else [value]
            for item in values:
                if "AllowedValues" in declaration and item not in [
                    str(v) for v in declaration["AllowedValues"]
                ]:
                    errors.append(f"{name}: {item!r} is not allowed")
                if "AllowedPattern" in declaration and not re.fullmatch(declaration["AllowedPattern"], item):
                    errors.append(f"{name}: {item!r} does not match {declaration['AllowedPattern']}")
                if declaration["Type"] == "Number":
                    number = float(item)
                    if number < declaration.get("MinValue", number) or number > declaration.get(
                        "MaxValue", number
                    ):
                        errors.append(f"{name}: {item} out of range")
        return errors

    def rule_violations(self) -> list[str]:
        violations = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            violations += [a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])]
        return violations

    # -- conditions and functions ----------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        assert name in self.template["Resources"], name
        return f"<{name}>"  # a resource's physical id: known only after it is created

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                assert name.split(".", 1)[0] in self.template["Resources"], name
                return f"<{name}>"
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.value(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(argument[0])
            if key == "Fn::And":
                return all(self.value(a) for a in argument)
            if key == "Fn::Or":
                return any(self.value(a) for a in argument)
            if key == "Fn::EachMemberEquals":
                members, expected = argument
                return all(member == expected for member in self.value(members))
            if key == "Fn::Join":
                delimiter, items = argument
                flat: list[str] = []
                for item in self.value(items):
                    flat += item if isinstance(item, list) else [str(item)]
                return delimiter.join(flat)
            if key == "Fn::Split":
                delimiter, text = argument
                return self.value(text).split(delimiter)
            if key == "Fn::Select":
                index, items = argument
                selected = self.value(items)
                assert 0 <= int(index) < len(selected), "Fn::Select out of range"  # CloudFormation fails too
                return selected[int(index)]
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self.sub(text, {k: self.value(v) for k, v in variables.items()})
            if key == "Fn::GetAtt":
                return f"<{'.'.join(argument)}>"
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    # -- what gets created -----------------------------------------------------------------------

    def resources(self) -> dict[str, dict[str, Any]]:
        return {
            name: {**resource, "Properties": self.value(resource.get("Properties", {}))}
            for name, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources().items() if r["Type"] == kind}

    def role_actions(self, role: str) -> set[str]:
        policies = self.resources()[role]["Properties"].get("Policies", [])
        actions = set()
        for policy in policies:
            for statement in policy["PolicyDocument"]["Statement"]:
                value = statement["Action"]
                actions |= set(value if isinstance(value, list) else [value])
        return actions

    def statement(self, role: str, sid: str) -> dict[str, Any]:
        policies = self.resources()[role]["Properties"].get("Policies", [])
        (found,) = [s for p in policies for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
        return found


def deploy(**parameters: str) -> Stack:
    """The stack a deployment with these parameters would create; fails if CloudFormation would refuse it."""
    stack = Stack(translate(parameters), parameters)
    assert stack.parameter_errors() == []
    assert stack.rule_violations() == []
    return stack


def refused(**parameters: str) -> list[str]:
    """Why CloudFormation would refuse these parameters: the failed constraints and rule assertions."""
    stack = Stack(json.loads(json.dumps(cfn_yaml.loads(source_template()))), parameters)
    return stack.parameter_errors() + stack.rule_violations()


def entries(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Type": kind, "URI": uri} for kind, uri in pairs]


def vpc_entries(subnets: list[str], security_groups: list[str]) -> list[dict[str, str]]:
    return entries(
        *[("VPC_SUBNET", f"subnet:{s}") for s in subnets],
        *[("VPC_SECURITY_GROUP", f"security_group:{g}") for g in security_groups],
    )


def the_mapping(stack: Stack) -> tuple[str, dict[str, Any]]:
    mappings = stack.of_type("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1, sorted(mappings)
    ((name, mapping),) = mappings.items()
    return name, mapping["Properties"]


# -- the parameter sets a deployment really uses -------------------------------------------------

MSK = {"KafkaSource": "MSK", "MskClusterArn": MSK_CLUSTER, "KafkaBootstrapServers": BROKERS}
SELF_MANAGED = {"KafkaSource": "SelfManaged", "KafkaBootstrapServers": BROKERS}
IN_VPC = {"SubnetIds": ",".join(SUBNETS), "SecurityGroupIds": ",".join(SECURITY_GROUPS)}

DEPLOYMENTS = {
    "msk-iam": ({**MSK, "KafkaAuthType": "IAM"}, "MskEventSourceMapping", [], True),
    "msk-scram": (
        {
            **MSK,
            "KafkaAuthType": "SASL_SCRAM_512_AUTH",
            "KafkaAuthSecretArn": SCRAM_SECRET,
            "KafkaAuthSecretKmsKeyArn": KMS_KEY,
        },
        "MskEventSourceMapping",
        entries(("SASL_SCRAM_512_AUTH", SCRAM_SECRET)),
        True,
    ),
    "msk-mtls": (
        {**MSK, "KafkaAuthType": "CLIENT_CERTIFICATE_TLS_AUTH", "KafkaAuthSecretArn": CLIENT_CERT_SECRET},
        "MskEventSourceMapping",
        entries(("CLIENT_CERTIFICATE_TLS_AUTH", CLIENT_CERT_SECRET)),
        True,
    ),
    "self-managed-vpc-scram": (
        {
            **SELF_MANAGED,
            **IN_VPC,
            "KafkaAuthType": "SASL_SCRAM_512_AUTH",
            "KafkaAuthSecretArn": SCRAM_SECRET,
        },
        "SelfManagedEventSourceMapping",
        entries(("SASL_SCRAM_512_AUTH", SCRAM_SECRET)) + vpc_entries(SUBNETS, SECURITY_GROUPS),
        True,
    ),
    "self-managed-mtls-root-ca": (
        {
            **SELF_MANAGED,
            "KafkaAuthType": "CLIENT_CERTIFICATE_TLS_AUTH",
            "KafkaAuthSecretArn": CLIENT_CERT_SECRET,
            "KafkaServerRootCaSecretArn": ROOT_CA_SECRET,
        },
        "SelfManagedEventSourceMapping",
        entries(
            ("CLIENT_CERTIFICATE_TLS_AUTH", CLIENT_CERT_SECRET),
            ("SERVER_ROOT_CA_CERTIFICATE", ROOT_CA_SECRET),
        ),
        False,
    ),
    "self-managed-mtls": (
        {
            **SELF_MANAGED,
            "KafkaAuthType": "CLIENT_CERTIFICATE_TLS_AUTH",
            "KafkaAuthSecretArn": CLIENT_CERT_SECRET,
        },
        "SelfManagedEventSourceMapping",
        entries(("CLIENT_CERTIFICATE_TLS_AUTH", CLIENT_CERT_SECRET)),
        False,
    ),
    "self-managed-public-no-auth": (SELF_MANAGED, "SelfManagedEventSourceMapping", None, False),
    "self-managed-vpc-root-ca-no-auth": (
        {**SELF_MANAGED, **IN_VPC, "KafkaServerRootCaSecretArn": ROOT_CA_SECRET},
        "SelfManagedEventSourceMapping",
        entries(("SERVER_ROOT_CA_CERTIFICATE", ROOT_CA_SECRET)) + vpc_entries(SUBNETS, SECURITY_GROUPS),
        True,
    ),
}


@pytest.mark.parametrize(("parameters", "mapping", "access", "in_vpc"), DEPLOYMENTS.values(), ids=DEPLOYMENTS)
def test_mapping_holds_exactly_the_access_configurations_asked_for(
    parameters: dict[str, str], mapping: str, access: list[dict[str, str]] | None, in_vpc: bool
) -> None:
    stack = deploy(**parameters)
    name, properties = the_mapping(stack)
    assert name == mapping
    assert properties.get("SourceAccessConfigurations") == (access or None)
    assert properties["FunctionName"] == "<ConsumerFunction>"
    if mapping == "SelfManagedEventSourceMapping":
        assert properties["SelfManagedEventSource"] == {
            "Endpoints": {"KafkaBootstrapServers": BROKERS.split(",")}
        }
    else:
        assert properties["EventSourceArn"] == MSK_CLUSTER


@pytest.mark.parametrize(("parameters", "mapping", "access", "in_vpc"), DEPLOYMENTS.values(), ids=DEPLOYMENTS)
def test_consumer_role_has_the_ec2_permissions_only_in_a_vpc(
    parameters: dict[str, str], mapping: str, access: list[dict[str, str]] | None, in_vpc: bool
) -> None:
    stack = deploy(**parameters)
    actions = stack.role_actions("ConsumerFunctionRole")
    ec2 = {a for a in actions if a.startswith("ec2:")}
    assert ec2 == (EC2_ACTIONS if in_vpc else set())
    if in_vpc:
        discovery = stack.statement("ConsumerFunctionRole", "EventSourceNetworkDiscovery")
        assert discovery["Resource"] == "*"  # Describe* have no resource type
        interfaces = stack.statement("ConsumerFunctionRole", "EventSourceNetworkInterfaces")
        assert all(r.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:") for r in interfaces["Resource"])
    # The producer joins the VPC with SubnetIds/SecurityGroupIds (whatever the source), through its own role.
    producer = stack.resources()["ProducerFunction"]
    producer_vpc = "SubnetIds" in parameters
    assert ("VpcConfig" in producer["Properties"]) == producer_vpc
    managed = stack.resources()["ProducerRole"]["Properties"]["ManagedPolicyArns"]
    vpc_policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    assert (vpc_policy in managed) == producer_vpc


def test_the_consumer_reads_exactly_its_secrets() -> None:
    stack = deploy(**DEPLOYMENTS["self-managed-mtls-root-ca"][0])
    statement = stack.statement("ConsumerFunctionRole", "KafkaAuthSecret")
    assert statement["Resource"] == [CLIENT_CERT_SECRET, ROOT_CA_SECRET]
    assert "kms:Decrypt" not in stack.role_actions("ConsumerFunctionRole")  # the AWS managed key
    scram = deploy(**DEPLOYMENTS["msk-scram"][0])
    assert scram.statement("ConsumerFunctionRole", "KafkaAuthSecret")["Resource"] == [SCRAM_SECRET]
    key = scram.statement("ConsumerFunctionRole", "KafkaAuthSecretKey")
    assert key["Resource"] == KMS_KEY
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    iam = deploy(**DEPLOYMENTS["msk-iam"][0])
    assert "secretsmanager:GetSecretValue" not in iam.role_actions("ConsumerFunctionRole")
    assert {"kafka-cluster:Connect", "kafka-cluster:ReadData"} <= iam.role_actions("ConsumerFunctionRole")


def test_glue_schema_version_by_id_is_the_one_unscoped_read() -> None:
    stack = deploy(**DEPLOYMENTS["self-managed-public-no-auth"][0])
    statement = stack.statement("ConsumerFunctionRole", "GlueSchemaVersionById")
    assert (statement["Action"], statement["Resource"]) == ("glue:GetSchemaVersion", "*")


def test_every_vpc_slot_is_used_at_lambdas_limits() -> None:
    """16 subnets, 5 security groups (Lambda's VPC limits) and mTLS: 22 entries, every slot on."""
    subnets = [f"subnet-{i:08x}" for i in range(16)]
    groups = [f"sg-{i:08x}" for i in range(5)]
    stack = deploy(
        **SELF_MANAGED,
        SubnetIds=",".join(subnets),
        SecurityGroupIds=",".join(groups),
        KafkaAuthType="CLIENT_CERTIFICATE_TLS_AUTH",
        KafkaAuthSecretArn=CLIENT_CERT_SECRET,
    )
    access = the_mapping(stack)[1]["SourceAccessConfigurations"]
    assert access == entries(("CLIENT_CERTIFICATE_TLS_AUTH", CLIENT_CERT_SECRET)) + vpc_entries(
        subnets, groups
    )
    assert len(access) == 22


def test_msk_mapping_ignores_the_vpc_lists() -> None:
    """An MSK mapping uses the cluster's own subnets; the lists still put the producer in the VPC."""
    stack = deploy(**MSK, **IN_VPC, KafkaAuthType="IAM")
    assert "SourceAccessConfigurations" not in the_mapping(stack)[1]
    assert "VpcConfig" in stack.resources()["ProducerFunction"]["Properties"]


def test_first_deployment_starts_at_the_oldest_record() -> None:
    properties = the_mapping(deploy(**SELF_MANAGED))[1]
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert "StartingPositionTimestamp" not in properties
    assert "SelfManagedKafkaEventSourceConfig" not in properties  # no ConsumerGroupId: Lambda uses the UUID
    named = the_mapping(deploy(**SELF_MANAGED, ConsumerGroupId="orders-connector"))[1]
    assert named["SelfManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": "orders-connector"}


def test_retained_resources_keep_their_policies_through_the_transform() -> None:
    stack = deploy(**SELF_MANAGED)
    for name in (
        "CorrelationTable",
        "DeadLetterQueue",
        "ProducerLogGroup",
        "ConsumerLogGroup",
        "SubscribeLogGroup",
    ):
        resource = stack.template["Resources"][name]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), name


def test_state_machines_keep_their_definitions() -> None:
    stack = deploy(**SELF_MANAGED)
    machines = stack.of_type("AWS::StepFunctions::StateMachine")
    assert set(machines) == {
        "OrderPaymentStateMachine",
        "OrderPaymentDirectStateMachine",
        "OnPaymentStateMachine",
    }
    order = machines["OrderPaymentStateMachine"]["Properties"]
    assert order["DefinitionS3Location"] == {
        "Bucket": "deployment-bucket",
        "Key": "OrderPaymentStateMachine.asl.json",
    }
    assert order["DefinitionSubstitutions"]["OrdersTopic"] == "orders"


# -- what CloudFormation refuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({**SELF_MANAGED, "SubnetIds": ",".join(SUBNETS)}, "SubnetIds need SecurityGroupIds"),
        ({**SELF_MANAGED, "SecurityGroupIds": ",".join(SECURITY_GROUPS)}, "SecurityGroupIds need SubnetIds"),
        ({**MSK, "SubnetIds": SUBNETS[0]}, "SubnetIds need SecurityGroupIds"),
        (
            {**MSK, "KafkaAuthType": "SASL_SCRAM_512_AUTH", "KafkaAuthSecretArn": SCRAM_SECRET},
            "needs KafkaAuthSecretKmsKeyArn",
        ),
        (
            {**MSK, "KafkaAuthType": "IAM", "KafkaServerRootCaSecretArn": ROOT_CA_SECRET},
            "KafkaSource=SelfManaged only",
        ),
        (
            {**MSK, "KafkaAuthType": "SASL_SCRAM_256_AUTH", "KafkaAuthSecretArn": SCRAM_SECRET},
            "Amazon MSK supports",
        ),
        ({**SELF_MANAGED, "KafkaAuthType": "CLIENT_CERTIFICATE_TLS_AUTH"}, "need KafkaAuthSecretArn"),
        ({**SELF_MANAGED, "KafkaAuthType": "IAM"}, "for Amazon MSK only"),
        (
            {**SELF_MANAGED, "SubnetIds": "vpc-0123", "SecurityGroupIds": "sg-1"},
            "SubnetIds: 'vpc-0123' does not match",
        ),
        ({**SELF_MANAGED, "KafkaServerRootCaSecretArn": "root-ca"}, "KafkaServerRootCaSecretArn: 'root-ca'"),
    ],
)
def test_refused(parameters: dict[str, str], reason: str) -> None:
    reasons = refused(**parameters)
    assert any(reason in r for r in reasons), reasons


def test_accepted_sets_are_not_refused() -> None:
    for parameters, *_ in DEPLOYMENTS.values():
        assert refused(**parameters) == [], parameters
    assert refused(**SELF_MANAGED, SubnetIds="", SecurityGroupIds="") == []
