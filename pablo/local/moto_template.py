"""Rewrite the synthesized template where the pinned moto's CloudFormation breaks on valid input
(the version is `pablo.local.moto_patches.MOTO_VERSION`).

Only the local cloud assembly is rewritten (never `cdk.out` or what is deployed to AWS),
before `cdk deploy` uploads it, and each rewrite is reported in the fidelity report:

- KMS key `Tags`: moto hands CloudFormation's `Key`/`Value` pairs to its KMS tagging
  service, which wants `TagKey`/`TagValue`, and fails the whole CreateStack (a 500).
- Lambda `Layers`: moto drops them at create and fails the stack update of a function
  that has them (a `Ref` to a layer version gives an object, not an ARN). The deploy
  attaches the layers itself after the CLI finishes (`pablo.local.skipped.patch_function`),
  from the original template.

Pure: a template dict in, the rewritten dict and what was changed out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Rewrite = Callable[[dict[str, Any]], str | None]


def _kms_tags(properties: dict[str, Any]) -> str | None:
    tags = properties.get("Tags")
    if not tags or not all(isinstance(tag, dict) and "Key" in tag for tag in tags):
        return None
    properties["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in tags]
    return "key Tags passed in the KMS API form (moto's CloudFormation fails on Key/Value)"


def _lambda_layers(properties: dict[str, Any]) -> str | None:
    if not properties.pop("Layers", None):
        return None
    return "Layers attached after the deploy (moto's stack update fails on them)"


REWRITES: dict[str, tuple[Rewrite, ...]] = {
    "AWS::KMS::Key": (_kms_tags,),
    "AWS::Lambda::Function": (_lambda_layers,),
}


def adapt_for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The template moto can deploy, and logical id -> what was rewritten for it."""
    adapted = copy.deepcopy(template)
    changes: dict[str, list[str]] = {}
    for logical_id, resource in adapted.get("Resources", {}).items():
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        for rewrite in REWRITES.get(str(resource.get("Type")), ()):
            note = rewrite(properties)
            if note:
                changes.setdefault(logical_id, []).append(note)
    return adapted, changes
