"""template.yaml as the local runtime deploys it: parameters, conditions and intrinsic functions.

``sam local invoke`` gives a function the ``Environment`` the template declares (``Globals``
merged with the function's own), with ``Ref``/``Fn::Sub``/``Fn::If`` of parameters resolved
from their defaults and ``--parameter-overrides``. This module does the same for the subset of
CloudFormation the template uses in environments and state machine substitutions: ``Ref``
(parameters, pseudo parameters, resources), ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split`` and the condition functions. A resource resolves to
what the local stack created for it (:mod:`local.resources`); an intrinsic it does not know is an
error naming the variable, never a silently wrong value. Hand-written because no maintained
library resolves a SAM template's intrinsics outside CloudFormation (cfn-lint and samtranslator
parse and transform, they do not evaluate).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local.functions import ROOT

TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "kafka-connector-local",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/kafka-connector-local/local",
}
_NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(Exception):
    """The template, or a value given for it, cannot be resolved locally (a user-facing message)."""


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref x`` → ``{"Ref": "x"}``)."""


def _construct(loader: CloudFormationLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct)


@functools.cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document = yaml.load(path.read_text(), CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a template")
    return document


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``Key=Value`` pairs as ``sam local invoke --parameter-overrides`` takes them.

    SAM also accepts ``ParameterKey=Key,ParameterValue=Value``; both forms are read.
    """
    values: dict[str, str] = {}
    for pair in pairs:
        long_form = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", pair, re.DOTALL)
        if long_form:
            values[long_form.group(1)] = long_form.group(2)
            continue
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise TemplateError(f"--parameter-overrides expects Key=Value, got {pair!r}")
        values[name] = value
    return values


@dataclass
class Parameters:
    """The template's parameter values: defaults, then local defaults, then overrides."""

    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        template: Mapping[str, Any],
        overrides: Mapping[str, str] = {},
        local_defaults: Mapping[str, str] = {},
    ) -> Parameters:
        declared: Mapping[str, Any] = template.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(
                f"unknown template parameter {', '.join(unknown)} in --parameter-overrides"
                f" (template.yaml has {', '.join(declared)})"
            )
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            raw = overrides.get(name, local_defaults.get(name, spec.get("Default")))
            if raw is None:
                raise TemplateError(
                    f"template parameter {name} has no default: give it with --parameter-overrides"
                )
            text = str(raw)
            allowed = spec.get("AllowedValues")
            if name in overrides and allowed and text not in [str(a) for a in allowed]:
                raise TemplateError(
                    f"--parameter-overrides {name}={text}: allowed values are {', '.join(map(str, allowed))}"
                )
            if spec.get("Type") == "CommaDelimitedList":
                values[name] = text.split(",") if not isinstance(raw, list) else [str(r) for r in raw]
            else:
                values[name] = text
        return cls(values)


@dataclass
class LocalIds:
    """What the local stack created for the template's resources: ``Ref`` and ``Fn::GetAtt`` values."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)


class Resolver:
    """Evaluates the template's intrinsic functions against parameter values and local ids."""

    def __init__(self, template: Mapping[str, Any], parameters: Parameters, ids: LocalIds) -> None:
        self.template = template
        self.parameters = parameters
        self.ids = ids
        self._conditions: dict[str, bool] = {}

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions") or {}
            if name not in definitions:
                raise TemplateError(f"template.yaml has no condition {name}")
            self._conditions[name] = bool(self._truth(definitions[name]))
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        if isinstance(node, Mapping) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::Equals":
                left, right = (self.value(a) for a in argument)
                return _text(left) == _text(right)
            if function == "Fn::Not":
                return not self._truth(argument[0])
            if function == "Fn::And":
                return all(self._truth(a) for a in argument)
            if function == "Fn::Or":
                return any(self._truth(a) for a in argument)
        raise TemplateError(f"cannot evaluate the condition {node!r} locally")

    # -- values ------------------------------------------------------------------------------------

    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function evaluated (``AWS::NoValue`` removed)."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return self._ref(argument)
            if function == "Fn::GetAtt":
                return self._get_att(argument)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::If":
                name, when_true, when_false = argument
                return self.value(when_true if self.condition(name) else when_false)
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(_text(v) for v in self.value(items))
            if function == "Fn::Select":
                index, items = argument
                return self.value(items)[int(self.value(index))]
            if function == "Fn::Split":
                separator, text = argument
                return _text(self.value(text)).split(separator)
            if function.startswith("Fn::") or function == "Condition":
                raise TemplateError(f"{function} is not supported by the local runtime")
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters.values:
            return self.parameters.values[name]
        if name in self.ids.refs:
            return self.ids.refs[name]
        if name in (self.template.get("Resources") or {}):
            raise TemplateError(f"the local runtime does not create {name}, so !Ref {name} has no value here")
        raise TemplateError(f"!Ref {name}: no such parameter or resource in template.yaml")

    def _get_att(self, argument: Sequence[str]) -> str:
        resource, attribute = argument[0], argument[1]
        try:
            return self.ids.attributes[(resource, attribute)]
        except KeyError:
            raise TemplateError(f"!GetAtt {resource}.{attribute} has no local value") from None

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {k: self.value(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return _text(local[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters.values:
                return self._get_att(name.split(".", 1))
            return _text(self._ref(name))

        return _SUB.sub(replace, text).replace("${!", "${")

    # -- functions -----------------------------------------------------------------------------------

    def environment(self, logical_id: str, skip: Sequence[str] = ()) -> dict[str, str]:
        """The function's environment variables: ``Globals`` then its own, resolved.

        Variables in ``skip`` (given on the command line) are not resolved, so a value the
        local runtime cannot compute can always be supplied instead.
        """
        resource = (self.template.get("Resources") or {}).get(logical_id)
        if not resource:
            raise TemplateError(f"template.yaml has no resource {logical_id}")
        declared = {
            **(((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
                "Variables", {}
            ),
            **((resource.get("Properties") or {}).get("Environment") or {}).get("Variables", {}),
        }
        values: dict[str, str] = {}
        for name, node in declared.items():
            if name in skip:
                continue
            try:
                value = self.value(node)
            except TemplateError as error:
                raise TemplateError(f"{logical_id} {name}: {error}; set it with --env {name}=...") from None
            if value is not _NO_VALUE:
                values[name] = _text(value)
        return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)
