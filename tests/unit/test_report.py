"""The executive report (functions/core/report/report.py): every KPI has a value or a reason in
words, NaN is never printed, the page is byte-identical for the same inputs, text from the
data is escaped, and bad inputs raise ValidationError."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pyarrow as pa
import pytest

from functions.core import schemas
from functions.core.errors import ValidationError
from functions.core.report.report import render_report
from functions.core.report.report_format import (
    KPI_COLUMNS,
    KPI_SPECS,
    ROW_COLUMNS,
    SPEC_BY_COLUMN,
    money,
    reason_words,
)
from functions.core.report.report_model import kpi_display_rows, kpi_history
from pablo.commands import report as report_commands
from pablo.report_cli import (
    kpi_table,
    periods_ending,
    reconciliation_table,
    restatement_table,
    sample_inputs,
    sample_kpi_row,
)

GENERATED_AT = "2026-11-04T06:00:00Z"


class _Page(HTMLParser):
    """Visible text, and per `data-kpi` element the state, reason and text inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.kpis: list[dict[str, Any]] = []
        self._skip = 0
        self._open: list[tuple[str, dict[str, Any] | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("br", "meta", "link"):
            return
        found = dict(attrs)
        entry = None
        if "data-kpi" in found:
            entry = {"kpi": found["data-kpi"], "state": found["data-state"], "text": ""}
            entry["reason"] = found.get("data-reason")
            entry["tag"] = tag
            self.kpis.append(entry)
        self._open.append((tag, entry))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        for _, entry in self._open:
            if entry is not None:
                entry["text"] += data


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def render(
    inputs: dict[str, Any], *, grain: str = "month", generated_at: str = GENERATED_AT
) -> str:
    return render_report(grain=grain, generated_at=generated_at, **inputs)


def history_inputs(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "period": rows[-1]["period"],
        "kpis": kpi_table(rows),
        "restatements": restatement_table(extra.get("restatements", [])),
        "reconciliation": extra.get("reconciliation"),
    }


def month_rows(count: int = 3, **last: Any) -> list[dict[str, Any]]:
    rows, mrr = [], 40_000_000
    for index, month in enumerate(periods_ending("month", "2026-09", count)):
        options = last if index == count - 1 else {}
        row = sample_kpi_row(
            grain="month", period=month, index=index, mrr_start_cents=mrr, **options
        )
        rows.append(row)
        mrr = row["mrr_cents"]
    return rows


# --- every KPI: a value or a reason ------------------------------------------------------


@pytest.mark.parametrize("grain", ["month", "week"])
def test_every_kpi_has_a_value_or_a_reason_in_words(grain: str) -> None:
    # given the sample history, whose latest period misses its engagement KPIs
    inputs = sample_inputs(grain)
    # when the report is rendered
    page = parse(render(inputs, grain=grain))
    # then every registry KPI has one table row, with a value or its reason in words
    rows = [k for k in page.kpis if k["tag"] == "tr"]
    assert [k["kpi"] for k in rows] == [s.column for s in KPI_SPECS]
    assert sorted(k["kpi"] for k in rows) == sorted(KPI_COLUMNS)
    missing = {k["kpi"]: k for k in rows if k["state"] == "missing"}
    assert set(missing) == {"dau", "wau", "mau", "hours_per_active_user_day", "seat_utilisation"}
    for entry in missing.values():
        assert entry["reason"] == "upstream_stale"
        assert "upstream stale" in entry["text"]
    for entry in rows:
        label = SPEC_BY_COLUMN[entry["kpi"]].label
        shown = entry["text"].removeprefix(label)
        assert re.search(r"[0-9]|upstream stale", shown), entry
    # and the headline cards follow the same rule
    cards = [k for k in page.kpis if k["tag"] == "div"]
    assert {c["kpi"] for c in cards} == {s.column for s in KPI_SPECS if s.headline}
    assert next(c for c in cards if c["kpi"] == "mau")["text"].count("upstream stale") == 1


def test_nan_none_and_infinity_are_never_printed() -> None:
    # given a first month with no starting MRR (null ratios) and a month with missing KPIs
    inputs = sample_inputs("month")
    # when rendered
    text = " ".join(parse(render(inputs)).text)
    # then no placeholder for a missing number reaches the reader
    for word in ("nan", "none", "null", "inf", "infinity", "undefined"):
        assert not re.search(rf"\b{word}\b", text, re.IGNORECASE), word


def test_a_missing_previous_value_is_explained_in_the_change() -> None:
    # given a month whose predecessor had no starting MRR, so no NRR
    rows = month_rows(2)
    rows[0] = sample_kpi_row(grain="month", period=rows[0]["period"], index=0, mrr_start_cents=0)
    # when its KPI rows are built
    history = kpi_history(kpi_table(rows), grain="month", period=rows[-1]["period"])
    nrr = next(r for r in kpi_display_rows(history) if r.spec.column == "nrr")
    # then the comparison says why there is none
    assert nrr.previous_text == "previous: no MRR at period start"
    assert nrr.change.text == "previous: no MRR at period start"
    assert not nrr.missing and nrr.text.endswith("%")


def test_changes_use_percent_and_percentage_points_with_direction_and_tone() -> None:
    # given two months with known values
    rows = month_rows(2)
    rows[0] |= {"mrr_cents": 100_000_00, "mrr_churn_cents": 1_000_00, "nrr": 1.00}
    rows[1] |= {"mrr_cents": 110_000_00, "mrr_churn_cents": 2_000_00, "nrr": 1.02}
    # when the display rows are built
    history = kpi_history(kpi_table(rows), grain="month", period=rows[-1]["period"])
    shown = {r.spec.column: r for r in kpi_display_rows(history)}
    # then money moves in percent, ratios in points, and churn going up reads as bad
    assert (shown["mrr_cents"].text, shown["mrr_cents"].change.text) == ("$110,000", "+10.0%")
    assert (shown["mrr_cents"].arrow, shown["mrr_cents"].change.tone) == ("▲", "good")
    assert shown["nrr"].change.text == "+2.0 pp"
    assert (shown["mrr_churn_cents"].change.text, shown["mrr_churn_cents"].change.tone) == (
        "+100.0%",
        "bad",
    )


def test_money_is_shown_in_dollars_from_cents() -> None:
    assert money(123_456_789) == "$1,234,568"
    assert money(-1234) == "-$12.34"
    assert money(6_912.5) == "$69.12"
    assert money(0) == "$0.00"


def test_an_unknown_reason_code_is_spelled_out() -> None:
    assert reason_words("no_subscribers") == "no subscribers"
    assert reason_words("upstream_stale") == "upstream stale"
    assert reason_words("ledger_locked_by_audit") == "ledger locked by audit"


def test_every_exec_kpi_column_is_a_known_kpi_or_a_row_column() -> None:
    # a KPI added to the registry must get a label and a unit here, not a fallback
    known = {s.column for s in KPI_SPECS if s.better != 0}
    assert set(schemas.EXEC_KPI.column_names) == known | ROW_COLUMNS


# --- publication, freshness, reconciliation, restatements ---------------------------------


def test_a_preliminary_month_says_why_and_shows_reconciliation_and_freshness() -> None:
    # given the sample month: revenue off the ledger, engagement two days behind
    page = render(sample_inputs("month"))
    # then the status and its reasons are on the page
    assert 'data-status="preliminary"' in page
    assert "Revenue: differs from the ledger" in page
    assert "Engagement data: 2 days behind period end" in page
    assert "covers period end" in page
    assert re.search(r'data-line="revenue">.*?differs from the ledger', page)


def test_a_final_week_explains_that_reconciliation_is_monthly() -> None:
    rows = [
        sample_kpi_row(grain="week", period=p, index=i, mrr_start_cents=30_000_000)
        for i, p in enumerate(periods_ending("week", "2026-09-27", 2))
    ]
    page = render(history_inputs(rows), grain="week")
    assert 'data-status="final"' in page
    assert "weekly figures are not reconciled" in page
    assert "Every input is fresh through period end." in page


def test_restatements_show_old_value_new_value_and_why() -> None:
    # given a revenue restatement of the current month, made by late data
    rows = month_rows(2)
    restated = {
        "table_name": "exec_kpi",
        "period": rows[-1]["period"],
        "key": "total",
        "metric": "revenue_cents",
        "old_value": 10_000_000.0,
        "new_value": float(rows[-1]["revenue_cents"]),
        "reason": "late_data",
        "restated_at": datetime(2026, 10, 9, tzinfo=UTC),
        "run_id": "monthly-2026-09",
        "month": "2026-10",
    }
    # when rendered
    page = render(history_inputs(rows, restatements=[restated]))
    # then the restatement table and the KPI both show it
    section = page[page.index('id="restatements"') :]
    assert "$100,000" in section and money(rows[-1]["revenue_cents"]) in section
    assert "late data arrived" in section
    assert "first published as $100,000" in page


def test_no_restatements_are_said_so() -> None:
    page = render(history_inputs(month_rows(2)))
    assert "No published figure was changed." in page


# --- determinism, offline, escaping --------------------------------------------------------


def test_same_inputs_give_a_byte_identical_page_and_only_generated_at_varies() -> None:
    inputs = sample_inputs("month")
    first = render(inputs)
    assert render(sample_inputs("month")) == first
    other = render(inputs, generated_at="2027-01-01T00:00:00Z")
    assert other.replace("2027-01-01T00:00:00Z", GENERATED_AT) == first


def test_plotly_is_embedded_once_and_nothing_is_loaded_from_the_network() -> None:
    page = render(sample_inputs("month"))
    assert page.count("plotly.js v") == 1, "plotly.js must be inline exactly once"
    assert not re.search(r"""<script[^>]*\bsrc=""", page)
    assert "<link" not in page and "@import" not in page
    for div_id in ("chart-mrr-movements", "chart-active-users", "chart-profit"):
        assert page.count(f'id="{div_id}"') == 1


def test_text_from_the_data_is_escaped() -> None:
    # given hostile text in a reason code, a restatement and generated_at
    evil = "<script>alert(1)</script>"
    rows = month_rows(2, missing={"mau": evil})
    restated = {
        "table_name": "exec_kpi",
        "period": rows[-1]["period"],
        "key": '"><img src=x onerror=alert(2)>',
        "metric": "mau",
        "old_value": 1.0,
        "new_value": None,
        "reason": evil,
        "restated_at": datetime(2026, 10, 9, tzinfo=UTC),
        "run_id": "r",
        "month": "2026-10",
    }
    # when rendered
    page = render(history_inputs(rows, restatements=[restated]), generated_at=evil)
    # then none of it is markup
    assert evil not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- bad input -----------------------------------------------------------------------------


def _with(rows: list[dict[str, Any]], **changes: Any) -> pa.Table:
    rows[-1] |= changes
    return kpi_table(rows)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nrr": math.nan}, "not_finite"),
        ({"dau": math.inf}, "not_finite"),
        ({"mau": None}, "missing_reason"),
    ],
)
def test_a_nan_or_an_unexplained_null_kpi_is_rejected(changes: dict[str, Any], reason: str) -> None:
    rows = month_rows(2)
    with pytest.raises(ValidationError) as caught:
        render(history_inputs(rows) | {"kpis": _with(rows, **changes)})
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("grain", "period", "reason"),
    [
        ("quarter", "2026-09", "bad_grain"),
        ("month", "2026-9", "bad_period"),
        ("month", "2026-13", "bad_period"),
        ("week", "2026-09-23", "bad_period"),  # a Wednesday
        ("month", "2026-12", "missing_period"),
    ],
)
def test_a_bad_or_absent_period_is_rejected(grain: str, period: str, reason: str) -> None:
    inputs = history_inputs(month_rows(2)) | {"period": period}
    with pytest.raises(ValidationError) as caught:
        render(inputs, grain=grain)
    assert caught.value.reason == reason


def test_a_period_given_twice_is_rejected() -> None:
    rows = month_rows(2)
    rows.append(dict(rows[-1]))
    with pytest.raises(ValidationError, match="repeats periods"):
        render(history_inputs(rows))


def test_a_table_missing_a_registry_column_is_rejected() -> None:
    inputs = history_inputs(month_rows(2))
    inputs["kpis"] = inputs["kpis"].drop_columns(["mrr_cents"])
    with pytest.raises(ValidationError, match="lacks columns"):
        render(inputs)


def test_a_null_in_a_required_column_is_rejected() -> None:
    rows = month_rows(2)
    with pytest.raises(ValidationError, match="period_end"):
        render(history_inputs(rows) | {"kpis": _with(rows, period_end=None)})


def test_rows_without_partition_columns_take_their_period_from_the_dates() -> None:
    # given exec_kpi rows as stored in Parquet (grain and period live in the path)
    inputs = history_inputs(month_rows(2))
    inputs["kpis"] = inputs["kpis"].drop_columns(["grain", "period"])
    # when rendered, then the latest month is found from period_start
    assert "September 2026" in render(inputs)


def test_reconciliation_with_a_missing_ledger_line_is_shown_in_words() -> None:
    rows = month_rows(2)
    recon = reconciliation_table(
        [
            {
                "line": "salaries",
                "computed_cents": 100,
                "ledger_cents": None,
                "difference_cents": None,
                "tolerance_cents": 100,
                "status": "missing_ledger",
                "month": "2026-09",
            }
        ]
    )
    page = render(history_inputs(rows, reconciliation=recon))
    assert "ledger total missing" in page and "n/a (no ledger total)" in page


def test_a_first_period_says_there_is_nothing_to_compare_with() -> None:
    rows = month_rows(1)
    page = parse(render(history_inputs(rows)))
    mrr = next(k for k in page.kpis if k["tag"] == "tr" and k["kpi"] == "mrr_cents")
    assert "no earlier period" in mrr["text"]


def test_the_preview_command_writes_a_report(tmp_path: Any) -> None:
    # given the `pablo report` commands on their own parser
    parser = argparse.ArgumentParser()
    report_commands.register(parser.add_subparsers())
    out = tmp_path / "preview" / "report.html"
    # when the preview is asked for a week
    args = parser.parse_args(["report", "preview", "--out", str(out), "--grain", "week"])
    # then it writes the weekly report
    assert args.func(args) == 0
    assert "Week ending Sunday 25 October 2026" in out.read_text(encoding="utf-8")


def test_money_cards_say_when_the_month_is_not_reconciled_and_ratios_name_their_period() -> None:
    # given the sample month, whose revenue line differs from the ledger by $12,345
    inputs = sample_inputs("month")
    page = render(inputs)
    # then the revenue card says it is not reconciled; a growth card does not
    blocks = page.split('<div class="card kpi-card" ')[1:]
    by_kpi = {}
    for block in blocks:
        found = re.match(r'data-kpi="([a-z_]+)"', block)
        assert found is not None
        by_kpi[found.group(1)] = block
    assert "Not reconciled with the ledger" in by_kpi["revenue_cents"]
    assert "Not reconciled with the ledger" not in by_kpi["mrr_cents"]
    # and NRR says it compares the month's end with its start
    assert "Net revenue retention (month, start to end)" in by_kpi["nrr"]
    # and the profit chart has salaries, and the page has a print stylesheet
    assert '"name":"Salaries"' in page.replace(" ", "")
    assert "@media print" in page


def test_a_reconciled_month_has_no_unreconciled_note() -> None:
    # given the same month with every ledger line matched to the cent
    inputs = sample_inputs("month")
    table = inputs["reconciliation"].to_pylist()
    for row in table:
        row["ledger_cents"], row["difference_cents"], row["status"] = (
            row["computed_cents"],
            0,
            "matched",
        )
    inputs["reconciliation"] = reconciliation_table(table)
    assert "Not reconciled with the ledger" not in render(inputs)
