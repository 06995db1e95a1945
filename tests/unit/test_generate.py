"""`pablo generate`: deterministic, in the documented formats, with the faults truth.json lists.

The checks read the generated files back with an independent reference validator written
here from docs/data-contracts.md, so a generator bug and a contract bug both show.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.core import schemas
from functions.core.errors import ConfigurationError
from functions.core.monitor.alarm_inventory.engagement import ALARMS as ENGAGEMENT_ALARMS
from pablo import cli
from pablo.generate.company import generate
from pablo.generate.contracts import (
    ACCOUNT_EVENTS,
    ASSIGNMENTS,
    CLICKS,
    EXPENSES,
    EXPERIMENTS,
    INVOICES,
    LEDGER,
    SALARIES,
)
from pablo.generate.experiments import chi_square_p_value, quotas
from pablo.generate.model import PRICE_PER_SEAT_CENTS, GeneratorConfig

SMALL = GeneratorConfig(seed=11, accounts=8, days=12)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MS_DAY = 86_400_000
ALLOWED_LATENESS_MS = 7 * MS_DAY
FUTURE_SKEW_MS = 5 * 60_000


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("small")
    return out, generate(SMALL, out)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`pablo generate --seed 7 --out DIR` through the real CLI entry point."""
    out = tmp_path_factory.mktemp("default") / "gen"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(["generate", "--seed", "7", "--out", str(out)])
    assert code == 0
    return out, buffer.getvalue()


def _manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())


def _truth(out: Path) -> dict[str, Any]:
    return json.loads((out / "truth.json").read_text())


# --- determinism and the command ------------------------------------------------------


def test_same_seed_gives_byte_identical_files(small, tmp_path: Path) -> None:
    # Given a run with a seed
    first, _ = small
    # When the same configuration runs again elsewhere
    generate(SMALL, tmp_path / "again")
    # Then every file has the same bytes (manifest hashes), and the manifest lists them all
    again = _manifest(tmp_path / "again")
    assert again == _manifest(first)
    listed = set(again["files"])
    on_disk = {str(p.relative_to(first)) for p in first.rglob("*") if p.is_file()}
    assert on_disk == listed | {"manifest.json"}


def test_files_do_not_depend_on_the_process_hash_seed(small, tmp_path: Path) -> None:
    # Given another interpreter with a different string-hash seed (set/dict order)
    code = (
        "import sys; from pathlib import Path; from datetime import date;"
        "from pablo.generate.company import generate;"
        "from pablo.generate.model import GeneratorConfig;"
        f"generate(GeneratorConfig(seed={SMALL.seed}, accounts={SMALL.accounts},"
        f" days={SMALL.days}), Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], env=env, cwd=root, check=True)
    # Then the files are the same bytes
    assert _manifest(tmp_path / "o") == _manifest(small[0])


def test_a_different_seed_gives_different_data(small, tmp_path: Path) -> None:
    first, _ = small
    other = GeneratorConfig(seed=SMALL.seed + 1, accounts=SMALL.accounts, days=SMALL.days)
    generate(other, tmp_path / "other")
    a, b = _manifest(first)["files"], _manifest(tmp_path / "other")["files"]
    assert {k: v["sha256"] for k, v in a.items()} != {k: v["sha256"] for k, v in b.items()}


def test_the_cli_writes_the_default_company_and_prints_a_summary(default_run) -> None:
    out, printed = default_run
    truth = _truth(out)
    assert truth["parameters"]["seed"] == 7 and truth["parameters"]["accounts"] == 60
    assert truth["window"]["months"] == ["2026-09", "2026-10"]
    assert "clicks:" in printed and "revenue by month" in printed and str(out) in printed
    # The documented default volume (the demo's budget)
    assert 80_000 <= truth["totals"]["clicks"]["records_sent"] <= 150_000


def test_rerunning_into_a_previous_output_replaces_it(small, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    generate(GeneratorConfig(seed=3, accounts=8, days=20), out)
    generate(SMALL, out)
    assert _manifest(out) == _manifest(small[0])
    assert not (out / "clicks" / "2026-09-20.replay.jsonl").exists()


def test_a_folder_that_is_not_a_generator_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="not empty"):
        generate(SMALL, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_too_small_a_company_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="--accounts"):
        GeneratorConfig(accounts=3)


# --- a reference validator written from the contract page ---------------------------


def _nullable(table: schemas.Table) -> set[str]:
    return {c.name for c in table.columns if c.nullable}


def _check_object(obj: Any, contract, ints: set[str]) -> str | None:
    if not isinstance(obj, dict):
        return "not_an_object"
    for name in contract.sent_fields:
        if name not in obj:
            return "missing_field"
    for name in contract.sent_fields:
        if obj[name] is None and name not in _nullable(contract.table):
            return "null_field"
    for name in contract.sent_fields:
        value = obj[name]
        if value is None:
            continue
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if (name in ints and not is_int) or (name not in ints and not isinstance(value, str)):
            return "wrong_type"
    return None


def _parse_json_line(raw: bytes) -> tuple[Any, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid_utf8"
    try:
        return json.loads(text), None
    except json.JSONDecodeError:
        return None, "invalid_json"


def _click_reason(envelope: dict[str, Any]) -> str | None:
    obj = envelope["record"]
    if isinstance(obj, str):  # a payload that is not an object: sent as its bytes
        obj, reason = _parse_json_line(obj.encode("utf-8", "surrogatepass"))
        if reason:
            return reason
    reason = _check_object(obj, CLICKS, {"event_time"})
    if reason:
        return reason
    if obj["event_type"] not in schemas.CLICK_EVENT_TYPES:
        return "unknown_event_type"
    if obj["event_time"] < 100_000_000_000:
        return "timestamp_in_seconds"
    if obj["event_time"] > envelope["send_at"] + FUTURE_SKEW_MS:
        return "future_timestamp"
    if obj["event_time"] < envelope["send_at"] - ALLOWED_LATENESS_MS:
        return "too_late"
    return None


def _account_event_reason(obj: Any) -> str | None:
    reason = _check_object(obj, ACCOUNT_EVENTS, {"seats", "mrr_cents"})
    if reason:
        return reason
    if obj["event_type"] not in schemas.ACCOUNT_EVENT_TYPES:
        return "unknown_event_type"
    if not ISO_Z.match(obj["event_time"]):
        return "invalid_timestamp"
    if obj["plan"] is not None and obj["plan"] not in schemas.PLANS:
        return "unknown_plan"
    if obj["seats"] is not None and obj["seats"] < 1:
        return "negative_seats"
    free = obj["event_type"] in ("trial_started", "churned")
    if obj["event_type"] != "churned" and (obj["plan"] is None or obj["seats"] is None):
        return "null_field"
    expected = 0 if free else obj["seats"] * PRICE_PER_SEAT_CENTS[obj["plan"]]
    if obj["mrr_cents"] != expected:
        return "mrr_mismatch"
    if obj["currency"] != schemas.REPORTING_CURRENCY:
        return "unknown_currency"
    return None


def _csv_rows(path: Path, contract) -> Iterator[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert tuple(next(reader)) == contract.sent_fields, f"{path}: header"
        for row in reader:
            yield reader.line_num, row


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _csv_reason(
    row: list[str], contract, *, ints: set[str], dates: set[str], required: set[str]
) -> str | None:
    if len(row) != len(contract.sent_fields):
        return "malformed_row"
    values = dict(zip(contract.sent_fields, row, strict=True))
    if any(values[f] == "" for f in required):
        return "missing_field"
    if any(values[f] and not re.fullmatch(r"-?\d+", values[f]) for f in ints):
        return "wrong_type"
    if any(values[f] and not _is_date(values[f]) for f in dates):
        return "invalid_date"
    return None


def _required(contract) -> set[str]:
    return set(contract.sent_fields) - _nullable(contract.table)


class _Validator:
    """Expected reason per (file, line), from the files alone."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.accounts: set[str] = set()
        self.experiments: dict[str, set[str]] = defaultdict(set)
        self.reasons: dict[tuple[str, int], str | None] = {}

    def run(self) -> dict[tuple[str, int], str | None]:
        self._account_events()  # first: they create the accounts
        for folder in ("clicks", "invoices", "expenses", "salaries", "ledger"):
            for path in sorted((self.out / folder).glob("*")):
                getattr(self, f"_{folder}")(path.relative_to(self.out).as_posix())
        self._experiments("experiments/experiments.csv")  # before the assignments using them
        for path in sorted((self.out / "assignments").glob("*.jsonl")):
            self._assignments(path.relative_to(self.out).as_posix())
        return self.reasons

    def _account_events(self) -> None:
        seen: dict[str, Any] = {}
        for path in sorted((self.out / "account_events").glob("*.jsonl")):
            rel = path.relative_to(self.out).as_posix()
            for line, raw in enumerate(path.read_bytes().splitlines(), start=1):
                obj, reason = _parse_json_line(raw)
                reason = reason or _account_event_reason(obj)
                if reason is None and obj["event_id"] in seen and seen[obj["event_id"]] != obj:
                    reason = "duplicate_event_id"
                if reason is None:
                    seen.setdefault(obj["event_id"], obj)
                    self.accounts.add(obj["account_id"])
                self.reasons[(rel, line)] = reason

    def _clicks(self, rel: str) -> None:
        for line, raw in enumerate((self.out / rel).read_bytes().splitlines(), start=1):
            self.reasons[(rel, line)] = _click_reason(json.loads(raw))

    def _invoices(self, rel: str) -> None:
        rows = list(_csv_rows(self.out / rel, INVOICES))
        position = INVOICES.sent_fields.index("currency")
        currencies = {r[position] for _, r in rows if len(r) == len(INVOICES.sent_fields)}
        if len(currencies - {""}) > 1:  # the contract rejects a mixed file whole
            self.reasons.update({(rel, line): "mixed_currency" for line, _ in rows})
            return
        for line, row in rows:
            reason = _csv_reason(
                row,
                INVOICES,
                ints={"amount_cents"},
                dates={"issued_date", "paid_date", "period_start", "period_end"},
                required=_required(INVOICES),
            )
            if reason is None:
                v = dict(zip(INVOICES.sent_fields, row, strict=True))
                if v["status"] not in schemas.INVOICE_STATUSES:
                    reason = "unknown_status"
                elif v["currency"] != schemas.REPORTING_CURRENCY:
                    reason = "unknown_currency"
                elif int(v["amount_cents"]) < 0 and v["status"] != "refunded":
                    reason = "negative_amount"
                elif (v["status"] in ("paid", "refunded")) != bool(v["paid_date"]):
                    reason = "inconsistent_status"
                elif v["account_id"] not in self.accounts:
                    reason = "unknown_account"
            self.reasons[(rel, line)] = reason

    def _expenses(self, rel: str) -> None:
        for line, row in _csv_rows(self.out / rel, EXPENSES):
            reason = _csv_reason(
                row,
                EXPENSES,
                ints={"amount_cents"},
                dates={"expense_date"},
                required=_required(EXPENSES),
            )
            if reason is None:
                v = dict(zip(EXPENSES.sent_fields, row, strict=True))
                if v["category"] not in schemas.EXPENSE_CATEGORIES:
                    reason = "unknown_category"
                elif v["team"] not in schemas.TEAMS:
                    reason = "unknown_team"
                elif v["currency"] != schemas.REPORTING_CURRENCY:
                    reason = "unknown_currency"
                elif int(v["amount_cents"]) < 0:
                    reason = "negative_amount"
                elif v["account_id"] and v["account_id"] not in self.accounts:
                    reason = "unknown_account"
            self.reasons[(rel, line)] = reason

    def _salaries(self, rel: str) -> None:
        for line, row in _csv_rows(self.out / rel, SALARIES):
            reason = _csv_reason(
                row,
                SALARIES,
                ints={"headcount", "amount_cents"},
                dates=set(),
                required=_required(SALARIES),
            )
            if reason is None and row[0] not in schemas.TEAMS:
                reason = "unknown_team"
            self.reasons[(rel, line)] = reason

    def _ledger(self, rel: str) -> None:
        for line, row in _csv_rows(self.out / rel, LEDGER):
            reason = _csv_reason(
                row, LEDGER, ints={"amount_cents"}, dates=set(), required=_required(LEDGER)
            )
            if reason is None and row[0] not in schemas.LEDGER_LINES:
                reason = "unknown_line"
            self.reasons[(rel, line)] = reason

    def _experiments(self, rel: str) -> None:
        for line, row in _csv_rows(self.out / rel, EXPERIMENTS):
            reason = _csv_reason(
                row,
                EXPERIMENTS,
                ints=set(),
                dates={"start_date"},
                required=_required(EXPERIMENTS),
            )
            v = dict(zip(EXPERIMENTS.sent_fields, row, strict=True))
            if reason is None and v["unit_type"] not in schemas.UNIT_TYPES:
                reason = "unknown_unit_type"
            if reason is None:
                self.experiments[v["experiment_id"]].add(v["variant"])
            self.reasons[(rel, line)] = reason

    def _assignments(self, rel: str) -> None:
        for line, raw in enumerate((self.out / rel).read_bytes().splitlines(), start=1):
            obj, reason = _parse_json_line(raw)
            reason = reason or _check_object(obj, ASSIGNMENTS, set())
            if reason is None and obj["experiment_id"] not in self.experiments:
                reason = "unknown_experiment"
            elif reason is None and obj["variant"] not in self.experiments[obj["experiment_id"]]:
                reason = "unknown_variant"
            elif reason is None and not ISO_Z.match(obj["assigned_at"]):
                reason = "invalid_timestamp"
            self.reasons[(rel, line)] = reason


@pytest.fixture(scope="module")
def checked(small) -> dict[tuple[str, int], str | None]:
    return _Validator(small[0]).run()


def test_every_record_gets_exactly_the_reason_truth_json_lists(small, checked) -> None:
    # Given the files and truth.json's list of bad records
    _, truth = small
    faults = truth["faults"]
    expected = {(f["file"], f["line"]): f["reason"] for f in faults["malformed_records"]}
    expected |= {(f["file"], f["line"]): f["reason"] for f in faults["account_event_conflicts"]}
    # When every line of every input is validated against the contract
    found = {key: reason for key, reason in checked.items() if reason and reason != "too_late"}
    # Then exactly the listed records fail, each with its listed reason
    assert found == expected
    inputs = {f["input"] for f in faults["malformed_records"]}
    assert inputs == {c.name for c in (CLICKS, ACCOUNT_EVENTS, INVOICES, EXPENSES)} | {
        "salaries",
        "ledger",
        "experiments",
        "assignments",
    }


def test_manifest_row_counts_match_the_files(small) -> None:
    out, _ = small
    for rel, entry in _manifest(out)["files"].items():
        if entry["rows"] is None:
            continue
        lines = (out / rel).read_bytes().count(b"\n")
        header = 1 if rel.endswith(".csv") else 0
        assert entry["rows"] == lines - header, rel


# --- faults and totals are really in the files -------------------------------------


def _envelopes(out: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((out / "clicks").glob("*.replay.jsonl")):
        for raw in path.read_bytes().splitlines():
            yield path.name[:10], json.loads(raw)


def _valid_clicks(out: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(d, e) for d, e in _envelopes(out) if _click_reason(e) in (None, "too_late")]


def test_click_files_are_grouped_by_send_day_in_send_order(small) -> None:
    out, truth = small
    previous = 0
    for send_day, envelope in _envelopes(out):
        assert _day(envelope["send_at"]) == send_day
        assert envelope["send_at"] >= previous
        previous = envelope["send_at"]
    assert truth["totals"]["clicks"]["records_sent"] == sum(1 for _ in _envelopes(out))


def test_click_totals_match_the_files(small) -> None:
    out, truth = small
    totals = truth["totals"]["clicks"]
    valid = _valid_clicks(out)
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, envelope in valid:
        by_id[envelope["record"]["event_id"]].append(envelope)
    too_late = {c["event_id"] for c in truth["faults"]["too_late_clicks"]}
    assert totals["valid_records"] == len(valid)
    assert totals["distinct_valid_event_ids"] == len(by_id)
    # known accounts, from the account event files alone: a valid creating event
    known = {
        line["account_id"]
        for path in sorted((out / "account_events").glob("*.jsonl"))
        for raw in path.read_bytes().splitlines()
        if (line := _parse_json_line(raw)[0]) is not None
        and _account_event_reason(line) is None
        and line["event_type"] in ("trial_started", "subscribed")
    }
    accepted: dict[str, int] = defaultdict(int)
    unknown = 0
    for event_id, copies in by_id.items():
        if event_id in too_late:
            continue
        if copies[0]["record"]["account_id"] in known:
            accepted[_day(copies[0]["record"]["event_time"])] += 1
        else:
            unknown += 1
    assert totals["accepted_event_ids_by_event_day"] == dict(sorted(accepted.items()))
    # every clicking account of the generated company is created, so none is unknown
    assert totals["expected_unknown_account_clicks"] == unknown == 0
    extra = sum(len(c) - 1 for c in by_id.values())
    assert extra == totals["natural_duplicate_copies"] + totals["synthetic_duplicate_copies"]


def test_duplicates_are_natural_or_synthetic_as_listed(small) -> None:
    out, truth = small
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, envelope in _valid_clicks(out):
        by_id[envelope["record"]["event_id"]].append(envelope["record"])
    synthetic = truth["faults"]["click_synthetic_duplicates"]
    assert len(synthetic) >= 3
    for dup in synthetic:
        first, second = by_id[dup["event_id"]]
        assert first != second and first["event_type"] != second["event_type"]
    for example in truth["faults"]["click_natural_duplicates"]["examples"]:
        first, second = by_id[example["event_id"]]
        assert first == second


def test_late_and_too_late_clicks_are_sent_when_truth_says(small) -> None:
    out, truth = small
    sent = {e["record"]["event_id"]: (d, e) for d, e in _valid_clicks(out)}
    faults = truth["faults"]
    assert faults["too_late_clicks"], "the 12-day window has room for a too-late click"
    for click in faults["too_late_clicks"]:
        send_day, envelope = sent[click["event_id"]]
        assert send_day == click["send_day"]
        assert envelope["send_at"] - envelope["record"]["event_time"] > ALLOWED_LATENESS_MS
    assert faults["late_clicks"]["count"] > 0
    for click in faults["late_clicks"]["examples"]:
        send_day, envelope = sent[click["event_id"]]
        delay = envelope["send_at"] - envelope["record"]["event_time"]
        assert send_day == click["send_day"] and 3_600_000 <= delay <= 5 * MS_DAY
        assert _day(envelope["record"]["event_time"]) == click["event_day"]


def test_the_outage_window_counts_the_records_sent_in_it(small) -> None:
    out, truth = small
    outage = truth["faults"]["stream_outage"]
    low, high = _ms(outage["start"]), _ms(outage["end"])
    inside = sum(1 for _, e in _envelopes(out) if low <= e["send_at"] < high)
    assert inside == outage["clicks_in_window"] > 0


def test_the_default_outage_outlasts_the_freshness_alarm_so_it_must_fire(default_run) -> None:
    # Given the default company and the click-freshness alarm (threshold in hours, checked
    # on a period)
    out, _ = default_run
    outage = _truth(out)["faults"]["stream_outage"]
    (alarm,) = [a for a in ENGAGEMENT_ALARMS if a.key == "click-freshness"]
    # Then the stream stays down longer than the threshold plus one check period, on a
    # weekday start inside the window
    start, end = _ms(outage["start"]), _ms(outage["end"])
    needed_ms = (alarm.threshold * 3600 + alarm.period_seconds) * 1000
    assert end - start > needed_ms
    assert datetime.fromisoformat(outage["start"].replace("Z", "+00:00")).weekday() < 5
    manifest = _manifest(out)["parameters"]
    window_end = date.fromisoformat(manifest["start"]).toordinal() + manifest["days"]
    assert _day(end - 1) < date.fromordinal(window_end).isoformat()


def test_a_short_window_cuts_the_outage_at_its_end(tmp_path: Path) -> None:
    # Given the shortest window, whose middle falls on a weekend: the outage starts on the
    # Monday after, too close to the end for its full length
    config = GeneratorConfig(seed=3, accounts=8, start=date(2026, 9, 2), days=7)
    outage = generate(config, tmp_path)["faults"]["stream_outage"]
    # Then it runs from Monday 13:00 to the window's (exclusive) end, not past it
    assert (outage["start"], outage["end"]) == ("2026-09-07T13:00:00Z", "2026-09-09T00:00:00Z")


@pytest.mark.parametrize("run", ["small", "default_run"])
def test_the_silent_account_has_no_click_in_its_month(run: str, request) -> None:
    out = request.getfixturevalue(run)[0]
    truth = _truth(out)
    (silent,) = truth["faults"]["no_activity"]
    clicks = [
        e
        for _, e in _valid_clicks(out)
        if e["record"]["account_id"] == silent["account_id"]
        and _day(e["record"]["event_time"])[:7] == silent["month"]
    ]
    assert clicks == []


def _account_events(out: Path) -> dict[str, list[dict[str, Any]]]:
    by_account: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in sorted((out / "account_events").glob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            obj, reason = _parse_json_line(raw)
            if reason is None and _account_event_reason(obj) is None:
                by_account[obj["account_id"]].setdefault(obj["event_id"], obj)
    return {
        a: sorted(events.values(), key=lambda e: e["event_time"])
        for a, events in by_account.items()
    }


def test_missing_lifecycle_steps_really_skip_the_step(small) -> None:
    out, truth = small
    events = _account_events(out)
    faults = truth["faults"]["lifecycle_missing_steps"]
    assert {f["missing_step"] for f in faults} == {"renewal_due", "cancelled"}
    for fault in faults:
        ids = [e["event_id"] for e in events[fault["account_id"]]]
        position = ids.index(fault["from_event_id"])
        # the two events are consecutive: nothing recorded between them
        assert ids[position + 1] == fault["to_event_id"]
        types = {e["event_type"] for e in events[fault["account_id"]]}
        assert fault["to_event_type"] in types
        if fault["missing_step"] == "renewal_due":
            assert fault["to_event_type"] == "renewed"
        else:
            assert fault["to_event_type"] == "churned"


# The transition table of docs/data-contracts.md ("Account lifecycle").
NEXT_ALLOWED: dict[str | None, set[str]] = {
    None: {"trial_started", "subscribed"},
    "trial": {"subscribed", "churned"},
    "active": {"seats_changed", "plan_changed", "renewal_due", "cancelled"},
    "renewal_due": {"seats_changed", "plan_changed", "renewed", "cancelled"},
    "cancelled": {"churned"},
    "churned": {"reactivated"},
}
STATUS_AFTER = {
    "trial_started": "trial",
    "subscribed": "active",
    "renewed": "active",
    "reactivated": "active",
    "renewal_due": "renewal_due",
    "cancelled": "cancelled",
    "churned": "churned",
}


@pytest.mark.parametrize("run", ["small", "default_run"])
def test_lifecycles_follow_the_documented_transitions_except_the_listed_gaps(
    run: str, request
) -> None:
    # Given every account's valid events from the files, in time order
    out = request.getfixturevalue(run)[0]
    truth = _truth(out)
    violations: set[tuple[str, str, str]] = set()
    for account, events in _account_events(out).items():
        status: str | None = None
        previous: dict[str, Any] = {}
        for event in events:
            if event["event_type"] not in NEXT_ALLOWED[status]:
                violations.add((account, previous["event_id"], event["event_id"]))
            status = STATUS_AFTER.get(event["event_type"], status)
            previous = event
    # Then the only transitions the table does not allow are the injected missing steps
    listed = {
        (f["account_id"], f["from_event_id"], f["to_event_id"])
        for f in truth["faults"]["lifecycle_missing_steps"]
    }
    assert violations == listed


def _revenue_from_files(out: Path) -> dict[str, dict[str, int]]:
    latest: dict[str, dict[str, str]] = {}
    for path in sorted((out / "invoices").glob("*.csv")):
        rel = path.relative_to(out).as_posix()
        reasons = _Validator(out)
        reasons._account_events()
        reasons._invoices(rel)
        for line, row in _csv_rows(path, INVOICES):
            if reasons.reasons[(rel, line)] is None:
                latest[row[0]] = dict(zip(INVOICES.sent_fields, row, strict=True))
    revenue: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for inv in latest.values():
        if inv["status"] in ("paid", "refunded"):
            revenue[inv["paid_date"][:7]][inv["account_id"]] += int(inv["amount_cents"])
    return revenue


def test_revenue_ledger_and_mismatch_agree_with_the_invoice_files(small) -> None:
    # Given revenue recomputed from the invoice files (latest row per invoice wins)
    out, truth = small
    revenue = _revenue_from_files(out)
    totals = {m: sum(v.values()) for m, v in revenue.items()}
    assert totals == truth["totals"]["invoices"]["revenue_cents_by_month"]
    # Then the ledger's revenue equals it except the listed mismatch, by the stated amount
    (mismatch,) = truth["faults"]["ledger_mismatch"]
    for path in sorted((out / "ledger").glob("*.csv")):
        month = path.stem
        ledger = {r[0]: int(r[1]) for _, r in _csv_rows(path, LEDGER) if r[0] != "taxes"}
        if month == mismatch["month"]:
            assert ledger["revenue"] == mismatch["ledger_cents"]
            assert totals[month] - ledger["revenue"] == mismatch["difference_cents"] != 0
        else:
            assert ledger["revenue"] == totals.get(month, 0)
        assert ledger["expenses"] == truth["totals"]["expenses_cents_by_month"][month]
        assert ledger["salaries"] == truth["totals"]["salaries_cents_by_month"][month]


def test_the_no_revenue_account_is_billed_but_pays_nothing_that_month(small) -> None:
    out, truth = small
    (case,) = truth["faults"]["no_revenue"]
    assert _revenue_from_files(out)[case["month"]].get(case["account_id"], 0) == 0
    rows = [r for _, r in _csv_rows(out / "invoices" / f"{case['month']}.csv", INVOICES)]
    assert any(r[0] == case["invoice_id"] and r[1] == case["account_id"] for r in rows)


def test_assignments_show_the_sample_ratio_mismatch_and_double_assignments(small, checked) -> None:
    out, truth = small
    variants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted((out / "assignments").glob("*.jsonl")):
        rel = path.relative_to(out).as_posix()
        for line, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if checked[(rel, line)] is None:
                obj = json.loads(raw)
                variants[(obj["experiment_id"], obj["unit_id"])].add(obj["variant"])
    for experiment in truth["experiments"]:
        units = {u: v for (e, u), v in variants.items() if e == experiment["experiment_id"]}
        doubles = sorted(u for u, v in units.items() if len(v) > 1)
        listed = sorted(u["unit_id"] for u in experiment["multiple_variant_units"])
        assert doubles == listed
        observed: dict[str, int] = defaultdict(int)
        for v in units.values():
            if len(v) == 1:
                observed[next(iter(v))] += 1
        assert observed == experiment["observed_split"]
        planned = experiment["planned_split"]
        chi2, p = chi_square_p_value(
            [observed[k] for k in planned], [sum(observed.values()) * w for w in planned.values()]
        )
        assert chi2 == pytest.approx(experiment["chi_square"], abs=1e-5)
        assert p == pytest.approx(experiment["p_value"], rel=1e-4)
    assert truth["faults"]["srm"] == ["search_ranking_v2"]
    assert len(truth["faults"]["multiple_variant_units"]) == 2


def test_the_default_company_flags_the_injected_sample_ratio_mismatch_only(default_run) -> None:
    truth = _truth(default_run[0])
    flags = {e["experiment_id"]: e["srm_expected"] for e in truth["experiments"]}
    assert flags == {
        "onboarding_checklist": False,
        "search_ranking_v2": True,
        "pricing_page_copy": False,
    }


def test_quotas_and_chi_square_closed_forms() -> None:
    assert quotas(7, (50, 25, 25)) == [3, 2, 2]  # 3.5, 1.75, 1.75: largest remainders
    assert sum(quotas(1001, (60, 40))) == 1001
    chi2, p = chi_square_p_value([60, 40], [50.0, 50.0])
    assert chi2 == pytest.approx(4.0) and p == pytest.approx(0.0455, abs=1e-4)
    chi2, p = chi_square_p_value([50, 25, 25], [50.0, 25.0, 25.0])
    assert chi2 == 0 and p == 1


def test_every_month_pays_every_team(small) -> None:
    out, _ = small
    for path in sorted((out / "salaries").glob("*.csv")):
        teams = [r[0] for _, r in _csv_rows(path, SALARIES) if r[1].isdigit()]
        assert sorted(t for t in teams if t in schemas.TEAMS) == sorted(schemas.TEAMS)


def _day(ms: int) -> str:
    return date.fromordinal(date(1970, 1, 1).toordinal() + ms // MS_DAY).isoformat()


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
