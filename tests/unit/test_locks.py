"""The venv is exactly the lock, and the lock is exactly pyproject.toml's pins."""

from __future__ import annotations

from pathlib import Path

from infra.lambda_build import REPO_ROOT
from infra.lock import DEV_LOCK, expected_venv, installed_venv, stale_pins, venv_drift


def test_the_installed_venv_is_exactly_the_lock():
    # given what `make` installs (bootstrap + dev locks) and what this interpreter has
    # when they are compared, then nothing is missing, extra or at another version
    drift = venv_drift(expected_venv(), installed_venv())
    hint = "the venv differs from requirements/; run `make clean setup`:\n"
    assert drift == [], hint + "\n".join(drift)


def test_drift_names_missing_extra_and_other_versions():
    # given a lock and a venv that differ in each way
    expected = {"boto3": "1.44.5", "botocore": "1.44.5", "jmespath": "1.1.0"}
    installed = {"boto3": "1.44.5", "botocore": "1.44.18", "requests": "2.34.2"}
    # when compared, then each difference is one line
    assert venv_drift(expected, installed) == [
        "missing: jmespath==1.1.0",
        "not in the lock: requests==2.34.2",
        "other version: botocore 1.44.18 installed, 1.44.5 locked",
    ]


def test_every_direct_pin_is_locked_at_its_version():
    assert stale_pins(REPO_ROOT / "pyproject.toml", DEV_LOCK) == []


def test_a_pin_changed_without_make_lock_is_named(tmp_path: Path):
    # given a pyproject that moved boto3 and a lock that did not follow
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["boto3==1.44.6", "duckdb==1.4.4"]\n'
        '[project.optional-dependencies]\ndev = ["pytest==9.2.0"]\n'
    )
    lock = tmp_path / "dev.txt"
    lock.write_text(
        "boto3==1.44.5 \\\n    --hash=sha256:00\nduckdb==1.4.4\n"
        "numpy==2.4.6 ; python_full_version < '3.12'\n"
    )
    # when checked, then the moved pin and the unlocked one are named
    assert stale_pins(pyproject, lock) == [
        "boto3==1.44.6 (lock: 1.44.5)",
        "pytest==9.2.0 (lock: absent)",
    ]
