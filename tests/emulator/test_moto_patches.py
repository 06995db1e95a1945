"""The moto patches (`pablo.local.moto_patches`): the moto internals they patch or rely on
are where the emulator expects them, in the moto version they were written against, and the
registry restores exactly what a patch replaced.

A moto upgrade that moved a seam fails here, naming it, instead of deep inside a demo. The
list (`pablo.local.moto_patches.seams.SEAMS`) is checked against the code too: every moto
name a module under `pablo/` imports, every attribute it reads or sets on one, and every
attribute a patch replaces on one (`Replacement(owner, "name", ...)`), must be listed.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from pablo.local import moto_patches
from pablo.local.moto_patches import registry, seams
from pablo.local.moto_patches.registry import Patch, Replacement
from pablo.local.moto_patches.seams import ADDED, SEAMS, Seam, problems, resolve

PABLO_DIR = Path(__file__).resolve().parents[2] / "pablo"


@pytest.mark.parametrize("seam", SEAMS, ids=[seam.qualified_name for seam in SEAMS])
def test_each_seam_holds_in_the_installed_moto(seam: Seam) -> None:
    # Given a seam the emulator depends on; when it is checked against the installed moto
    found = problems(seam)
    # Then nothing moved
    assert not found, "\n".join(found)


# -- the checker itself, on a fake module whose "upgrade" moved things ------------------------

FAKE_MODULE = "fake_moto_for_seam_test"


class _Shard:
    def __init__(self) -> None:
        self.records: dict[int, str] = {}

    def put_record(self, partition_key: str, data: str, explicit_hash_key: str) -> str:
        return data


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType(FAKE_MODULE)
    module.Shard = _Shard  # type: ignore[attr-defined]
    module.__version__ = "9.9"  # type: ignore[attr-defined]
    sys.modules[FAKE_MODULE] = module
    yield module
    del sys.modules[FAKE_MODULE]


def test_a_seam_that_holds_has_no_problem(fake_module: types.ModuleType) -> None:
    # Given a seam that matches the fake module
    seam = Seam(FAKE_MODULE, "Shard.put_record", "test", ("self", "partition_key", "data"))
    # Then the checker finds nothing
    assert problems(seam, version="9.9") == []
    assert problems(Seam(FAKE_MODULE, "Shard", "test", instance_attributes=("records",))) == []


def test_a_removed_attribute_is_named_with_the_version(fake_module: types.ModuleType) -> None:
    # Given a seam whose method the "upgrade" removed
    seam = Seam(FAKE_MODULE, "Shard.get_records", "patches: x", ("self", "last_sequence_id"))
    # When it is checked, then the message names the version, the seam and the user
    (message,) = problems(seam, version="9.9")
    assert message.startswith(
        f"moto 9.9 moved {FAKE_MODULE}.Shard.get_records (used by patches: x)"
    )
    assert "AttributeError" in message


def test_a_changed_signature_lists_expected_and_found_params(
    fake_module: types.ModuleType,
) -> None:
    # Given a seam that expects parameters the fake method no longer has in that order
    seam = Seam(FAKE_MODULE, "Shard.put_record", "test", ("self", "partition_key", "payload"))
    # Then the message gives both lists
    (message,) = problems(seam, version="9.9")
    assert message.endswith(
        "expected params (self, partition_key, payload), "
        "found (self, partition_key, data, explicit_hash_key)"
    )


def test_a_missing_module_and_instance_attribute_are_reported(
    fake_module: types.ModuleType,
) -> None:
    # Given seams in a module that does not exist, and an attribute instances do not set
    gone = Seam(f"{FAKE_MODULE}_gone", "Thing", "test")
    attribute = Seam(FAKE_MODULE, "Shard", "test", instance_attributes=("records", "index"))
    # Then each is reported
    assert "ModuleNotFoundError" in problems(gone, version="9.9")[0]
    assert problems(attribute, version="9.9") == [
        f"moto 9.9 moved {FAKE_MODULE}.Shard (used by test): instances no longer set index"
    ]


# -- the list covers the code -------------------------------------------------------------------


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _moto_names(tree: ast.AST) -> dict[str, tuple[str, str]]:
    """Local name -> (moto module, attribute; "" for a module) of every moto import."""
    names: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "moto":
            module = str(node.module)
            for alias in node.names:
                local = alias.asname or alias.name
                if _is_module(f"{module}.{alias.name}"):
                    names[local] = (f"{module}.{alias.name}", "")
                else:
                    names[local] = (module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "moto" and alias.asname:
                    names[alias.asname] = (alias.name, "")
    return names


def _is_replacement(node: ast.AST, names: dict[str, tuple[str, str]]) -> bool:
    """`Replacement(<a moto name>, "<attribute>", ...)`: a patch replacing that attribute."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Replacement"
        and len(node.args) >= 2
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id in names
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def used_moto_paths(source: str) -> set[tuple[str, str]]:
    """(module, attribute path) of every moto name the source uses, one attribute deep."""
    tree = ast.parse(source)
    names = _moto_names(tree)
    used: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in names:
                module, attribute = names[node.value.id]
                used.add((module, f"{attribute}.{node.attr}" if attribute else node.attr))
        elif _is_replacement(node, names):
            assert isinstance(node, ast.Call)
            owner, replaced = node.args[0], node.args[1]
            assert isinstance(owner, ast.Name) and isinstance(replaced, ast.Constant)
            module, attribute = names[owner.id]
            used.add((module, f"{attribute}.{replaced.value}" if attribute else replaced.value))
        elif isinstance(node, ast.Name) and node.id in names:
            module, attribute = names[node.id]
            if attribute:
                used.add((module, attribute))
    return used


def _covered(module: str, path: str) -> bool:
    """Listed as a seam (or as an attribute the emulator adds), or a member of a listed
    seam that is an object, not a class (`.values()` of a backend dict is not moto's)."""
    if (module, path) in ADDED:
        return True
    for seam in SEAMS:
        if seam.module != module:
            continue
        if seam.attribute == path or seam.attribute.startswith(f"{path}."):
            return True
        if path.startswith(f"{seam.attribute}.") and not inspect.isclass(resolve(seam)):
            return True
    return False


def test_every_moto_name_the_emulator_uses_is_a_listed_seam() -> None:
    # Given every module of the pablo package
    unlisted = sorted(
        f"{path.relative_to(PABLO_DIR.parent)}: {module}.{attribute}"
        for path in PABLO_DIR.rglob("*.py")
        for module, attribute in used_moto_paths(path.read_text(encoding="utf-8"))
        if not _covered(module, attribute)
    )
    # Then each moto name it uses is in pablo.local.moto_patches.seams
    assert not unlisted, "add these to pablo/local/moto_patches/seams.py SEAMS:\n" + "\n".join(
        unlisted
    )


def test_the_coverage_check_sees_an_unlisted_use() -> None:
    # Given code that patches a moto method the list does not name
    source = "from moto.kinesis.models import Shard\nShard.split = None\n"
    # Then the scan finds it and it is not covered
    assert used_moto_paths(source) == {
        ("moto.kinesis.models", "Shard.split"),
        ("moto.kinesis.models", "Shard"),
    }
    assert not _covered("moto.kinesis.models", "Shard.split")
    assert _covered("moto.kinesis.models", "Shard.put_record")


def test_a_replaced_attribute_is_seen_by_the_coverage_check() -> None:
    # Given a patch that replaces a moto method the list does not name, by name
    source = (
        "from moto.kinesis.models import Shard\n"
        "def build():\n    return [Replacement(Shard, 'split', None)]\n"
    )
    # Then the scan finds it
    assert ("moto.kinesis.models", "Shard.split") in used_moto_paths(source)


def test_the_patches_were_written_against_the_installed_moto() -> None:
    # Given the version every patch names once; then it is the moto installed (the pin):
    # after an upgrade, each patch is reviewed against the new moto and this is changed
    assert seams.moto_version() == moto_patches.MOTO_VERSION


def test_every_patch_has_a_unique_name_and_says_why() -> None:
    names = [patch.name for patch in moto_patches.ALL]
    assert len(names) == len(set(names))
    for patch in moto_patches.ALL:
        assert "Why" in patch.why or len(patch.why.splitlines()) > 2, patch.name


class _Owner:
    kept = "moto's"


def test_restore_puts_back_exactly_what_a_patch_replaced() -> None:
    # Given a patch replacing an attribute the owner has and adding one it lacks
    def build(value: str) -> list[Replacement]:
        """Test patch."""
        return [Replacement(_Owner, "kept", value), Replacement(_Owner, "added", value)]

    patch = Patch("test-patch", "test", build)
    # When it is applied twice, then restored
    registry.apply(patch, value="ours")
    registry.apply(patch, value="twice")
    applied = (_Owner.kept, getattr(_Owner, "added", None), "test-patch" in registry.applied())
    registry.restore(patch)
    # Then it was applied once, and restoring left moto's attribute and no added one
    assert applied == ("ours", "ours", True)
    assert _Owner.kept == "moto's"
    assert not hasattr(_Owner, "added")
    assert "test-patch" not in registry.applied()
