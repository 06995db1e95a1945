"""Resolve CloudFormation intrinsic functions against a deployed stack, without AWS calls.

moto's CloudFormation skips some resource types; `pablo.local.skipped` creates them with
boto3, and their properties still hold `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`... This
module turns such a property tree into plain values, given what the stack knows: each
resource's `Ref` value and attributes (a `StackFacts`). Pure: the lookups are data.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.core.errors import ConfigurationError

NO_VALUE = "AWS::NoValue"
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvedReferenceError(ConfigurationError):
    """A property refers to something the deployed stack does not know."""

    reason = "unresolved_reference"


@dataclass
class StackFacts:
    """What intrinsics resolve against: pseudo parameters, parameters, resources."""

    account: str
    region: str
    stack_name: str
    stack_id: str
    parameters: dict[str, str] = field(default_factory=dict)
    # logical id -> value of `Ref`
    refs: dict[str, str] = field(default_factory=dict)
    # logical id -> attribute name -> value of `Fn::GetAtt`
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # logical id -> whether the resource's Condition holds
    conditions: dict[str, bool] = field(default_factory=dict)

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> Any:
        for table in (self.pseudo(), self.parameters, self.refs):
            if name in table:
                return table[name]
        raise UnresolvedReferenceError(f"Ref {name!r}: no such parameter or deployed resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise UnresolvedReferenceError(
                f"Fn::GetAtt {logical_id}.{attribute}: not known for the deployed stack"
            ) from None


_Resolver = Callable[[Any, StackFacts], Any]


def resolve(value: Any, facts: StackFacts) -> Any:
    """`value` with every intrinsic function replaced by its value; `AWS::NoValue` removed."""
    if isinstance(value, list):
        items = [resolve(item, facts) for item in value]
        return [item for item in items if item is not _DROP]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return _DROP if argument == NO_VALUE else facts.ref(argument)
        handler = _FUNCTIONS.get(key)
        if handler is not None:
            return handler(argument, facts)
    resolved = {key: resolve(item, facts) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item is not _DROP}


def resolve_properties(properties: Mapping[str, Any], facts: StackFacts) -> dict[str, Any]:
    resolved = resolve(dict(properties), facts)
    assert isinstance(resolved, dict)
    return resolved


class _Drop:
    """Marker for `Ref: AWS::NoValue`: the property is removed."""


_DROP: Any = _Drop()


def _get_att(argument: Any, facts: StackFacts) -> Any:
    if isinstance(argument, str):
        logical_id, _, attribute = argument.partition(".")
    else:
        logical_id, attribute = resolve(argument[0], facts), resolve(argument[1], facts)
    return facts.get_att(logical_id, attribute)


def _join(argument: Any, facts: StackFacts) -> str:
    delimiter, items = argument
    return str(resolve(delimiter, facts)).join(str(item) for item in resolve(items, facts))


def _sub(argument: Any, facts: StackFacts) -> str:
    if isinstance(argument, str):
        template, variables = argument, {}
    else:
        template, variables = argument[0], resolve(argument[1], facts)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if "." in name and not name.startswith("AWS::"):
            logical_id, _, attribute = name.partition(".")
            return str(facts.get_att(logical_id, attribute))
        return str(facts.ref(name))

    # `${!Literal}` stands for the text `${Literal}`.
    return _SUB_VARIABLE.sub(replace, template).replace("${!", "${")


def _select(argument: Any, facts: StackFacts) -> Any:
    index, items = resolve(argument[0], facts), resolve(argument[1], facts)
    return items[int(index)]


def _split(argument: Any, facts: StackFacts) -> list[str]:
    delimiter, source = argument
    return str(resolve(source, facts)).split(str(resolve(delimiter, facts)))


def _if(argument: Any, facts: StackFacts) -> Any:
    condition, when_true, when_false = argument
    if condition not in facts.conditions:
        raise UnresolvedReferenceError(f"Fn::If: unknown condition {condition!r}")
    return resolve(when_true if facts.conditions[condition] else when_false, facts)


def _base64(argument: Any, facts: StackFacts) -> str:
    return base64.b64encode(str(resolve(argument, facts)).encode()).decode()


def _to_json_string(argument: Any, facts: StackFacts) -> str:
    return json.dumps(resolve(argument, facts), separators=(",", ":"))


def _get_azs(argument: Any, facts: StackFacts) -> list[str]:
    region = resolve(argument, facts) or facts.region
    return [f"{region}{zone}" for zone in "abc"]


_FUNCTIONS: dict[str, _Resolver] = {
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Base64": _base64,
    "Fn::ToJsonString": _to_json_string,
    "Fn::GetAZs": _get_azs,
}


def evaluate_condition(expression: Any, conditions: Mapping[str, Any], facts: StackFacts) -> bool:
    """Evaluate a template condition (Fn::Equals / Not / And / Or / Condition)."""
    if isinstance(expression, bool):
        return expression
    ((key, argument),) = expression.items()
    if key == "Condition":
        return evaluate_condition(conditions[argument], conditions, facts)
    if key == "Fn::Equals":
        left, right = (resolve(item, facts) for item in argument)
        return str(left) == str(right)
    if key == "Fn::Not":
        return not evaluate_condition(argument[0], conditions, facts)
    if key == "Fn::And":
        return all(evaluate_condition(item, conditions, facts) for item in argument)
    if key == "Fn::Or":
        return any(evaluate_condition(item, conditions, facts) for item in argument)
    raise UnresolvedReferenceError(f"condition function {key!r} is not supported")


def references(value: Any) -> set[str]:
    """Logical ids that `value` refers to (Ref, Fn::GetAtt, Fn::Sub variables)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str) and not item.startswith("AWS::"):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.split(".")[0] if isinstance(item, str) else str(item[0]))
            elif key == "Fn::Sub":
                template = item if isinstance(item, str) else item[0]
                found |= {
                    name.split(".")[0]
                    for name in _SUB_VARIABLE.findall(template)
                    if not name.startswith("AWS::")
                }
                if not isinstance(item, str):
                    found |= references(item[1])
            else:
                found |= references(item)
    return found
