"""The local template rewrites for moto's CloudFormation (pure)."""

from __future__ import annotations

from typing import Any

from pablo.local.moto_template import adapt_for_moto

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {"Tags": [{"Key": "project", "Value": "pablo"}], "KeyPolicy": {}},
        },
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Layers": [{"Ref": "Layer"}], "Handler": "index.handler"},
        },
        "Plain": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "x.y"}},
        "Bucket": {"Type": "AWS::S3::Bucket"},
    }
}


def test_only_what_moto_breaks_on_is_rewritten_and_each_rewrite_is_reported() -> None:
    # Given a template with KMS tags, a function with layers and untouched resources
    # When it is adapted for moto
    adapted, changes = adapt_for_moto(TEMPLATE)
    resources = adapted["Resources"]
    # Then KMS tags take the KMS API form and layers leave the function
    assert resources["Key"]["Properties"]["Tags"] == [{"TagKey": "project", "TagValue": "pablo"}]
    assert "Layers" not in resources["Fn"]["Properties"]
    assert resources["Fn"]["Properties"]["Handler"] == "index.handler"
    # And the rest is untouched, the input is not modified, and each change is reported
    assert resources["Plain"] == TEMPLATE["Resources"]["Plain"]
    assert resources["Bucket"] == TEMPLATE["Resources"]["Bucket"]
    assert TEMPLATE["Resources"]["Fn"]["Properties"]["Layers"] == [{"Ref": "Layer"}]
    assert set(changes) == {"Key", "Fn"}
    assert all(len(notes) == 1 for notes in changes.values())


def test_adapting_twice_changes_nothing_more() -> None:
    # Given an adapted template
    adapted, _ = adapt_for_moto(TEMPLATE)
    # When it is adapted again (a redeploy of the same assembly)
    again, changes = adapt_for_moto(adapted)
    # Then it is the same template and nothing is reported
    assert again == adapted and changes == {}
