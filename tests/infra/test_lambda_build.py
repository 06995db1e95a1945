"""The Lambda build: the layer from its hashed lock, pruning, stamp, and a sound pruned layer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import zipfile

import pytest

from functions.core.errors import ConfigurationError
from infra.lambda_build import (
    LAYER_DIR,
    LAYER_LOCK,
    LAYER_PACKAGES,
    REPO_ROOT,
    Pin,
    build_layer,
    check_lock_covers,
    copy_code,
    install_layer,
    layer_fingerprint,
    layer_zip,
    prune,
    read_layer_fingerprint,
    read_locked,
    read_pins,
    zip_directory,
)


def test_pins_are_read_from_pyproject_not_respelled():
    # given pyproject.toml's dependency list
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # when the layer pins are read
    pins = read_pins(REPO_ROOT / "pyproject.toml")
    # then each is exactly one of the declared `name==version` entries, boto3 excluded
    assert [p.name for p in pins] == list(LAYER_PACKAGES)
    assert {p.requirement for p in pins} <= set(declared)
    assert "boto3" not in {p.name for p in pins}


def test_a_package_without_an_exact_pin_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pyarrow>=26", "duckdb==1.4.4"]\n')
    with pytest.raises(ConfigurationError, match="no exact `==` pin for \\['pyarrow'\\]"):
        read_pins(pyproject, ["pyarrow", "duckdb"])


def test_the_layer_lock_holds_every_pin_and_its_dependencies():
    # given pyproject.toml's layer pins and the committed layer lock
    pins = read_pins(REPO_ROOT / "pyproject.toml")
    locked = read_locked(LAYER_LOCK)
    # then every pin is locked at its version, and so are packages nobody pinned directly
    check_lock_covers(pins, LAYER_LOCK)
    assert {"jmespath", "typing-extensions"} <= set(locked)
    assert "boto3" not in locked


def test_a_stale_layer_lock_is_refused(tmp_path):
    # given a lock that still holds an older pyarrow than pyproject.toml pins
    lock = tmp_path / "layer.txt"
    lock.write_text("pyarrow==24.0.0 \\\n    --hash=sha256:00\nduckdb==1.4.4\n")
    # when the build checks it, then it names the stale pin and the fix
    with pytest.raises(ConfigurationError, match=r"pyarrow==25.0.1.*make lock"):
        check_lock_covers([Pin("pyarrow", "25.0.1"), Pin("duckdb", "1.4.4")], lock)


def test_fingerprint_changes_with_any_locked_package_or_hash_and_with_the_script(tmp_path):
    # given a lock and a build script
    lock = tmp_path / "layer.txt"
    script = tmp_path / "lambda_build.py"
    lock.write_text("jmespath==1.1.0 \\\n    --hash=sha256:aa\n")
    script.write_text("X = 1\n")
    before = layer_fingerprint(lock, script)
    assert layer_fingerprint(lock, script) == before
    # when a transitive package's hash changes, or the script does, then so does the hash
    lock.write_text("jmespath==1.1.0 \\\n    --hash=sha256:ab\n")
    after_hash = layer_fingerprint(lock, script)
    script.write_text("X = 2\n")
    assert len({before, after_hash, layer_fingerprint(lock, script)}) == 3


def test_the_layer_is_installed_from_the_lock_with_hashes_and_no_resolution(tmp_path, monkeypatch):
    # given a pip that records how it is called
    calls = []
    monkeypatch.setattr(
        "infra.lambda_build.subprocess.run",
        lambda command, check: calls.append(command) or subprocess.CompletedProcess(command, 0),
    )
    # when the layer is installed
    install_layer(LAYER_LOCK, tmp_path / "python")
    # then pip reads the lock, checks hashes and resolves nothing
    (command,) = calls
    assert command[command.index("--requirement") + 1] == str(LAYER_LOCK)
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(command)
    assert not any("==" in arg for arg in command)


def test_code_copy_drops_caches_and_replaces_stale_files(tmp_path):
    # given a source package with a cache directory, and a stale earlier copy
    source = tmp_path / "functions"
    (source / "core" / "__pycache__").mkdir(parents=True)
    (source / "core" / "logic.py").write_text("X = 1\n")
    (source / "core" / "__pycache__" / "logic.cpython-311.pyc").write_bytes(b"\0")
    code_dir = tmp_path / "build"
    (code_dir / "functions").mkdir(parents=True)
    (code_dir / "functions" / "deleted.py").write_text("gone\n")
    # when it is copied
    copy_code(source, code_dir)
    # then the copy is exactly the source without caches
    files = sorted(p.relative_to(code_dir).as_posix() for p in code_dir.rglob("*") if p.is_file())
    assert files == ["functions/core/logic.py"]


def test_prune_removes_what_lambda_never_loads_and_keeps_the_rest(tmp_path):
    # given a site-packages tree with headers, Cython sources, tests, caches and Flight
    site = tmp_path / "python"
    keep = [
        "pyarrow/__init__.py",
        "pyarrow/libarrow.so.2600",
        "pyarrow/flight.py",
        "duckdb/__init__.py",
        "somepkg/tests/__init__.py",  # not a known test suite: kept
    ]
    drop = [
        "pyarrow/include/arrow/api.h",
        "pyarrow/tests/test_array.py",
        "pyarrow/lib.pyx",
        "pyarrow/lib.pxd",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so",
        "duckdb/__pycache__/x.cpython-312.pyc",
    ]
    for relative in keep + drop:
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    # when it is pruned
    freed = prune(site)
    # then exactly the prunable files are gone and the bytes are counted
    remaining = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert remaining == sorted(keep)
    assert freed == 10 * len(drop)


def test_an_unchanged_layer_is_not_rebuilt(tmp_path):
    # given a layer directory whose stamp matches the lock, with its zip
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / ".pins.sha256").write_text(layer_fingerprint(LAYER_LOCK))
    layer_zip(layer).write_bytes(b"zip")
    # when the build runs, then nothing is downloaded or zipped
    assert build_layer(LAYER_LOCK, layer) is False
    assert read_layer_fingerprint(layer) == layer_fingerprint(LAYER_LOCK)
    assert layer_zip(layer).read_bytes() == b"zip"


def test_a_current_layer_without_its_zip_is_zipped_not_downloaded(tmp_path, monkeypatch):
    # given a stamped layer built before layers were zipped (pip must not run)
    layer = tmp_path / "layer"
    (layer / "python" / "msgspec").mkdir(parents=True)
    (layer / "python" / "msgspec" / "__init__.py").write_text("X = 1\n")
    (layer / ".pins.sha256").write_text(layer_fingerprint(LAYER_LOCK))
    monkeypatch.setattr("infra.lambda_build.install_layer", _no_pip)
    # when the build runs
    assert build_layer(LAYER_LOCK, layer) is True
    # then the zip holds python/ at its root, as Lambda mounts a layer in /opt
    with zipfile.ZipFile(layer_zip(layer)) as archive:
        assert archive.namelist() == ["python/msgspec/__init__.py"]
    assert read_layer_fingerprint(layer) == layer_fingerprint(LAYER_LOCK)


def _no_pip(*args, **kwargs):
    raise AssertionError("pip ran for a layer whose lock did not change")


def test_the_same_files_zip_to_the_same_bytes(tmp_path):
    # given a directory zipped once
    site = tmp_path / "python"
    (site / "b").mkdir(parents=True)
    (site / "b" / "y.py").write_text("y\n")
    (site / "a.py").write_text("a\n")
    zip_directory(site, tmp_path / "first.zip")
    # when its files are touched (new times) and it is zipped again
    for path in site.rglob("*.py"):
        path.write_text(path.read_text())
        os.utime(path, (1, 1))
    zip_directory(site, tmp_path / "second.zip")
    # then the bytes are equal, entries sorted and no partial file is left
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        assert archive.namelist() == ["python/a.py", "python/b/y.py"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.zip", "python", "second.zip"]


def _needed_libraries(path) -> set[str]:
    out = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"\(NEEDED\).*\[(.+?)\]", out))


def test_the_built_layer_has_every_shared_library_its_extensions_need():
    # given the real layer (built by `make` or the synth fixture) and readelf
    site = LAYER_DIR / "python"
    assert site.is_dir(), "no built layer: run `python -m infra.lambda_build`"
    assert shutil.which("readelf") is not None, "readelf (binutils) is needed to inspect the layer"
    assert read_layer_fingerprint() == layer_fingerprint(LAYER_LOCK)
    shared = list(site.rglob("*.so")) + list(site.rglob("*.so.*"))
    present = {p.name for p in shared}
    bundled = {name for name in present if name.startswith(("libarrow", "libparquet"))}
    # when every remaining library's NEEDED entries are read
    for library in shared:
        needed = _needed_libraries(library)
        # then any Arrow library one of them needs is still in the layer (pruning was safe)
        missing = {
            n for n in needed if n.startswith(("libarrow", "libparquet")) and n not in present
        }
        assert not missing, f"{library.relative_to(site)} needs pruned {missing}"
    assert any(name.startswith("libarrow.so") for name in bundled)
    assert not (site / "pyarrow" / "include").exists()
