"""A folder of company input is checked whole before anything starts (`pablo validate DIR`,
`pablo demo --input DIR`): every file recognised or ignored with why, the window from
manifest.json or from the files, every problem one line naming the file and the fix."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pablo import demo
from pablo.cli import main
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig
from pablo.input_check import LINE_PROBLEMS_PER_FILE, InputReport, check_input

START = date(2026, 9, 1)
DAYS = 35
CLICK = {"event_id": "e1", "account_id": "acct-0001", "user_id": "u1", "event_type": "click"}


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("company")
    generate(GeneratorConfig(seed=3, accounts=8, start=START, days=DAYS), out)
    return out


def _write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _envelope(send_at: int = 1_788_220_800_000) -> str:
    return json.dumps({"send_at": send_at, "record": CLICK}) + "\n"


def _minimal(root: Path) -> Path:
    """Three days of clicks (2026-09-01..03), a daily file and a monthly file."""
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        _write(root, f"clicks/{day}.replay.jsonl", _envelope())
    _write(root, "account_events/2026-09-02.jsonl", "{}\n")
    _write(root, "invoices/2026-08.csv", "header\n")
    return root


def _problems(report: InputReport) -> list[str]:
    return [finding.line() for finding in report.problems]


def _ignored(report: InputReport) -> dict[str, str]:
    return {finding.path: finding.text for finding in report.ignored}


def test_a_generated_company_passes_and_its_window_is_inferred_without_the_manifest(
    company: Path, tmp_path: Path
) -> None:
    # Given a generated company, with its manifest and without it
    with_manifest = check_input(company)
    copy = shutil.copytree(company, tmp_path / "copy")
    (copy / "manifest.json").unlink()
    without = check_input(copy)
    # Then both pass, and the window inferred from the click days is the manifest's
    assert with_manifest.ok and without.ok, _problems(with_manifest) + _problems(without)
    assert with_manifest.window is not None and without.window is not None
    assert (with_manifest.window.start, with_manifest.window.days) == (START, DAYS)
    assert (without.window.start, without.window.days) == (START, DAYS)
    assert without.window.origin == "the files' dates"
    # And the same files are delivered at the same times
    assert [(d.path.name, d.at) for d in without.deliveries] == [
        (d.path.name, d.at) for d in with_manifest.deliveries
    ]
    assert len(without.click_files) == DAYS


def test_a_minimal_hand_made_folder_is_recognised_file_by_file(tmp_path: Path) -> None:
    report = check_input(_minimal(tmp_path))
    assert report.ok, _problems(report)
    assert report.window is not None
    assert (report.window.start, report.window.days) == (date(2026, 9, 1), 3)
    assert len(report.click_files) == 3
    by_source = {d.source: d for d in report.deliveries}
    # the daily file lands the next night at 01:00; August's invoices at the window's start
    assert by_source["account_events"].at == datetime(2026, 9, 3, 1, tzinfo=UTC)
    assert by_source["invoices"].at == datetime(2026, 9, 1, 2, tzinfo=UTC)
    assert not report.has_truth
    assert "truth.json: absent: the summary reports figures, without comparisons" in (
        report.lines()
    )


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{}", "manifest.json: no 'parameters': needs"),
        ('{"parameters": {"days": 3}}', "manifest.json: no 'start': needs"),
        ('{"parameters": {"start": "2026-02-30", "days": 3}}', "manifest.json: day is out of"),
        ('{"parameters": {"start": "2026-09-01", "days": 0}}', "manifest.json: parameters.days"),
        ('{"parameters": {"start": "2026-09-01"', "manifest.json: not valid JSON"),
    ],
)
def test_a_broken_manifest_is_one_problem_line_saying_what_it_needs(
    tmp_path: Path, manifest: str, message: str
) -> None:
    _write(_minimal(tmp_path), "manifest.json", manifest)
    report = check_input(tmp_path)
    (line,) = _problems(report)
    assert line.startswith(message)
    assert line.endswith("fix it, or delete it to infer the window from the files")


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("account_events/2026-13-40.jsonl", "'2026-13-40' is not a date: name it YYYY-MM-DD"),
        ("assignments/yesterday.jsonl", "'yesterday' is not a date: name it YYYY-MM-DD.jsonl"),
        ("clicks/2026-9-4.replay.jsonl", "'2026-9-4' is not a date: name it YYYY-MM-DD.replay"),
        ("salaries/2026-13.csv", "the name does not start with a month: name it YYYY-MM.csv"),
        ("expenses/september.csv", "the name does not start with a month"),
    ],
)
def test_a_bad_date_in_a_file_name_is_a_problem_naming_the_file(
    tmp_path: Path, relative: str, message: str
) -> None:
    _write(_minimal(tmp_path), relative, "x\n")
    (line,) = _problems(check_input(tmp_path))
    assert line.startswith(f"{relative}: {message}")


def test_files_the_demo_would_not_deliver_are_listed_as_ignored_with_why(
    tmp_path: Path,
) -> None:
    # Given files a customer may leave next to the real ones
    root = _minimal(tmp_path)
    _write(root, "invoices/2026-09.CSV", "header\n")
    _write(root, "account_events/2026-09-02.json", "{}\n")
    _write(root, "salaries/2026-12.csv", "header\n")  # due in January, after the window
    _write(root, "clicks/2026-09-01.jsonl", "{}\n")
    _write(root, "experiments/other.csv", "x\n")
    _write(root, "README.md", "notes\n")
    _write(root, "Ledger/2026-08.csv", "header\n")
    _write(root, "exports/salaries.csv", "x\n")
    _write(root, ".DS_Store", "")
    # When checked
    report = check_input(root)
    ignored = _ignored(report)
    # Then it still passes, and each of them is listed with why
    assert report.ok, _problems(report)
    assert ignored["invoices/2026-09.CSV"] == (
        "upper-case extension: inputs are named YYYY-MM.csv or YYYY-MM-<what>.csv "
        "(rename it to 2026-09.csv)"
    )
    assert ignored["account_events/2026-09-02.json"].startswith(".json is not an input")
    assert ignored["salaries/2026-12.csv"] == (
        "due 2027-01-02T02:00Z, after the window (2026-09-01 to 2026-09-03) and its 3-day "
        "close: not delivered"
    )
    assert "YYYY-MM-DD.replay.jsonl" in ignored["clicks/2026-09-01.jsonl"]
    assert ignored["experiments/other.csv"] == "only experiments/experiments.csv is delivered"
    assert ignored["README.md"].startswith("not an input: inputs are in the folders")
    assert ignored["Ledger/"] == "folder names are lower case: rename it to ledger/"
    assert ignored["exports/"].startswith("not an input folder")
    assert ignored[".DS_Store"] == "hidden: not read"
    # And none of them is delivered
    delivered = {d.path.name for d in report.deliveries}
    assert delivered == {"2026-09-02.jsonl", "2026-08.csv"}


def test_every_bad_click_envelope_line_is_named_with_its_number(tmp_path: Path) -> None:
    # Given a click file with good lines and four kinds of bad ones
    root = _minimal(tmp_path)
    bad_lines = [
        "not json",
        json.dumps({"send_at": "soon", "record": CLICK}),
        json.dumps({"send_at": 1}),
        "[" * 5000 + "]" * 5000,
        json.dumps(["send_at", 1]),
    ]
    _write(root, "clicks/2026-09-02.replay.jsonl", _envelope() + "\n".join(bad_lines) + "\n")
    # When checked
    problems = _problems(check_input(root))
    # Then the first ones are named by line, the rest counted, each saying what a line is
    relative = "clicks/2026-09-02.replay.jsonl"
    assert problems[0].startswith(f"{relative} line 2: not valid JSON (Expecting value")
    assert problems[1].startswith(f"{relative} line 3: send_at is not an integer")
    assert problems[2].startswith(f"{relative} line 4: not an envelope object with a record")
    assert all('{"send_at": <epoch ms>, "record":' in p for p in problems[:3])
    assert problems[LINE_PROBLEMS_PER_FILE:] == [f"{relative}: 2 more lines like these"]


def test_a_folder_with_nothing_to_replay_is_a_problem(tmp_path: Path) -> None:
    # Given an empty folder / Then nothing dated to infer a window from
    (tmp_path / "empty").mkdir()
    (line,) = _problems(check_input(tmp_path / "empty"))
    assert "no dated input file to infer the window from" in line
    # Given files, and a manifest whose window none of them falls in
    root = _minimal(tmp_path / "elsewhere")
    _write(root, "manifest.json", '{"parameters": {"start": "2020-01-01", "days": 3}}')
    problems = _problems(check_input(root))
    assert any("no input file falls in the window" in p for p in problems), problems


def test_a_broken_truth_file_is_a_problem(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    _write(root, "truth.json", "{oops")
    (line,) = _problems(check_input(root))
    assert line.startswith("truth.json: not valid JSON")
    assert line.endswith("(the summary then reports figures without comparisons)")


def test_a_folder_that_does_not_exist_is_one_problem(tmp_path: Path) -> None:
    assert _problems(check_input(tmp_path / "nope")) == [
        f"{tmp_path / 'nope'}: no such folder: give the folder of the company's input"
    ]


def test_validate_exits_1_listing_every_problem_and_0_when_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a folder with two problems
    root = _minimal(tmp_path / "bad")
    _write(root, "manifest.json", "{}")
    _write(root, "ledger/2026-00.csv", "x\n")
    # When validated
    code = main(["validate", str(root)])
    err = capsys.readouterr().err.splitlines()
    # Then exit 1, each problem one line naming its file, and a closing count
    assert code == 1
    assert [line.split(":")[0] for line in err if line.startswith("problem ")] == [
        "problem manifest.json",
        "problem ledger/2026-00.csv",
    ]
    assert err[-1] == f"{root}: 2 problem(s); nothing was started"
    # And a good folder: exit 0
    assert main(["validate", str(_minimal(tmp_path / "good"))]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(": ready")


def test_demo_with_a_bad_input_exits_1_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a folder whose manifest lacks its parameters, and an emulator that must not start
    root = _minimal(tmp_path / "input")
    _write(root, "manifest.json", '{"seed": 1}')

    def no_emulator(**_: object) -> None:
        raise AssertionError("the demo started the emulator despite a bad input")

    monkeypatch.setattr(demo, "_emulator", no_emulator)
    # When the demo runs on it
    code = main(["demo", "--input", str(root), "--out", str(tmp_path / "out")])
    # Then it exits 1 with the problem named, and started nothing
    assert code == 1
    err = capsys.readouterr().err
    assert "problem manifest.json: no 'parameters'" in err
    assert "Traceback" not in err
