"""Local deploys share the CDK CLI's packaged asset zips, and prune only stale unused ones."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pablo.local.deploy import SHARED_ZIP_GRACE_SECONDS, share_packaged_assets


def test_the_assembly_cache_is_the_shared_folder_and_only_old_unused_zips_go(
    tmp_path: Path,
) -> None:
    # given an assembly using asset "used", and a shared folder holding its zip, an old
    # unused zip and a fresh unused one (another deploy may be zipping it right now)
    assembly, shared = tmp_path / "assembly", tmp_path / "shared"
    assembly.mkdir()
    (assembly / ".cache").mkdir()  # what the CLI left from an earlier deploy
    (assembly / "Stack.assets.json").write_text(json.dumps({"files": {"used": {}}}))
    shared.mkdir()
    for name in ("used", "old", "fresh"):
        (shared / f"{name}.zip").write_bytes(b"zip")
    long_ago = time.time() - SHARED_ZIP_GRACE_SECONDS - 60
    os.utime(shared / "old.zip", (long_ago, long_ago))

    # when the assembly is pointed at the shared folder
    share_packaged_assets(assembly, shared)

    # then its cache is the shared folder, and only the old unused zip was removed
    assert (assembly / ".cache").is_symlink()
    assert (assembly / ".cache").resolve() == shared.resolve()
    assert sorted(p.name for p in shared.glob("*.zip")) == ["fresh.zip", "used.zip"]
