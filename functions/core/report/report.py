"""The executive report: one self-contained HTML page per week or month.

`render_report` takes the exec_kpi rows (this period and the ones before it), the relevant
restatements and, for a month, its reconciliation, and returns a page that opens offline
(plotly.js embedded once), says why any figure is missing, and is byte-identical for the
same inputs (fixed chart ids; the only time on the page is `generated_at`). Every piece of
text from the data is escaped. Pure: no I/O, no environment.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Final

import pyarrow as pa

from functions.core.codes import MATCHED, SIGNED_OFF
from functions.core.report.report_charts import (
    CHARTS,
    ChartSpec,
    Gap,
    chart_gaps,
    chart_html,
    plotly_js,
)
from functions.core.report.report_format import Group, period_label
from functions.core.report.report_model import (
    FreshnessRow,
    KpiRow,
    Publication,
    ReconciliationRow,
    RestatementRow,
    Row,
    freshness_rows,
    kpi_display_rows,
    kpi_history,
    publication,
    reconciliation_rows,
    restatement_rows,
)

__all__ = ["kpi_display_rows", "kpi_history", "render_report"]

COMPANY = "Pablo Inc"


def render_report(
    *,
    grain: str,
    period: str,
    kpis: pa.Table,
    restatements: pa.Table,
    reconciliation: pa.Table | None,
    generated_at: str,
) -> str:
    """The report for `grain` (week or month) `period` as one HTML document.

    Raises ValidationError when the inputs break their contracts (see report_model).
    """
    history = kpi_history(kpis, grain=grain, period=period)
    restated_raw, restated = restatement_rows(restatements)
    current = history[-1]
    kpi_rows = kpi_display_rows(history, restatements=restated_raw)
    freshness = freshness_rows(current)
    recon = reconciliation_rows(reconciliation)
    status = publication(grain=grain, current=current, freshness=freshness, reconciliation=recon)
    title = f"{COMPANY} · {'Monthly' if grain == 'month' else 'Weekly'} executive report"
    body = "\n".join(
        [
            _header(
                title,
                grain=grain,
                period=period,
                current=current,
                status=status,
                generated_at=generated_at,
            ),
            _status_callout(status),
            _headline(kpi_rows, grain=grain, unreconciled=_unreconciled(recon, status)),
            _charts(grain=grain, history=history),
            _kpi_table(kpi_rows, grain=grain),
            _data_quality(freshness, recon),
            _restatements(restated),
            _footer(),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} · {_e(period_label(grain, period))}</title>\n"
        f"<style>{_CSS}</style>\n"
        f'<script type="text/javascript">{plotly_js()}</script>\n'
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _header(
    title: str,
    *,
    grain: str,
    period: str,
    current: Row,
    status: Publication,
    generated_at: str,
) -> str:
    span = f"{current['period_start'].isoformat()} to {current['period_end'].isoformat()}"
    return (
        '<header class="top">\n<div>\n'
        f'<p class="eyebrow">{_e(title)}</p>\n'
        f"<h1>{_e(period_label(grain, period))}</h1>\n"
        f'<p class="meta">{_e(span)} · generated {_e(generated_at)} · amounts in US dollars</p>\n'
        "</div>\n"
        f'<div id="publication-status" class="badge badge-{_e(status.status)}" '
        f'data-status="{_e(status.status)}">{_e(status.label)}</div>\n'
        "</header>"
    )


def _status_callout(status: Publication) -> str:
    items = "".join(f"<li>{_e(r)}</li>" for r in status.reasons)
    return (
        f'<section id="status-summary" class="callout callout-{_e(status.status)}">\n'
        f"<strong>{_e(status.label)} figures.</strong>\n<ul>{items}</ul>\n</section>"
    )


def _change_html(row: KpiRow) -> str:
    arrow = f'<span class="arrow">{_e(row.arrow)}</span> ' if row.arrow else ""
    return f'<span class="change tone-{_e(row.change.tone)}">{arrow}{_e(row.change.text)}</span>'


def _value_html(row: KpiRow) -> str:
    if row.missing:
        return (
            f'<span class="missing" title="reason code: {_e(row.reason_code)}">'
            f"{_e(row.text)}</span>"
        )
    return f'<span class="value">{_e(row.text)}</span>'


def _kpi_attributes(row: KpiRow) -> str:
    state = "missing" if row.missing else "value"
    reason = f' data-reason="{_e(row.reason_code)}"' if row.reason_code else ""
    return f'data-kpi="{_e(row.spec.column)}" data-state="{state}"{reason}'


def _restated_note(row: KpiRow) -> str:
    if row.restated_from is None:
        return ""
    return f'<div class="restated">Restated · first published as {_e(row.restated_from)}</div>'


# Retention ratios compare the period's end with its start: the label says which period.
PERIOD_RATIOS: Final = frozenset({"nrr", "grr", "logo_churn_rate"})


def _label(row: KpiRow, grain: str) -> str:
    if row.spec.column in PERIOD_RATIOS:
        return f"{row.spec.label} ({'month' if grain == 'month' else 'week'}, start to end)"
    return row.spec.label


def _unreconciled(recon: Sequence[ReconciliationRow] | None, status: Publication) -> bool:
    """The month's money figures do not match the ledger and nobody signed them off."""
    if status.status == SIGNED_OFF or recon is None:
        return False
    return any(r.status_code != MATCHED for r in recon)


def _unreconciled_note(row: KpiRow, unreconciled: bool) -> str:
    if not unreconciled or row.missing or row.spec.group is not Group.PROFIT:
        return ""
    return '<div class="unreconciled">Not reconciled with the ledger</div>'


def _headline(rows: Iterable[KpiRow], *, grain: str, unreconciled: bool) -> str:
    cards = []
    for row in rows:
        if not row.spec.headline:
            continue
        caption = "not reported" if row.missing else "vs previous period"
        cards.append(
            f'<div class="card kpi-card" {_kpi_attributes(row)}>\n'
            f'<div class="label">{_e(_label(row, grain))}</div>\n'
            f'<div class="figure">{_value_html(row)}</div>\n'
            f'<div class="sub">{_change_html(row) if not row.missing else ""}'
            f' <span class="caption">{caption}</span></div>\n'
            f"{_unreconciled_note(row, unreconciled)}{_restated_note(row)}</div>"
        )
    return '<section id="headline" class="cards">\n' + "\n".join(cards) + "\n</section>"


def _charts(*, grain: str, history: Sequence[Row]) -> str:
    blocks = [_chart_block(spec, grain=grain, history=history) for spec in CHARTS]
    return '<section id="charts" class="charts">\n' + "\n".join(blocks) + "\n</section>"


def _chart_block(spec: ChartSpec, *, grain: str, history: Sequence[Row]) -> str:
    note = ""
    gaps = _gap_sentences(chart_gaps(spec, grain=grain, history=history))
    if gaps:
        note = f'<p class="gaps">Not shown: {_e("; ".join(gaps))}.</p>'
    wide = " wide" if spec is CHARTS[0] else ""
    return (
        f'<div class="card chart{wide}">\n<h2>{_e(spec.title)}</h2>\n'
        f'<p class="subtitle">{_e(spec.subtitle)}</p>\n'
        f"{chart_html(spec, grain=grain, history=history)}\n{note}</div>"
    )


def _gap_sentences(gaps: Sequence[Gap]) -> list[str]:
    """`Oct 2026 DAU, MAU: upstream stale`: one sentence per period and reason."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for gap in gaps:
        grouped.setdefault((gap.period, gap.reason), []).append(gap.label)
    return [
        f"{period} {', '.join(labels)}: {reason}" for (period, reason), labels in grouped.items()
    ]


def _kpi_table(rows: Sequence[KpiRow], *, grain: str) -> str:
    lines = []
    for group in Group:
        members = [r for r in rows if r.spec.group is group]
        if not members:
            continue
        lines.append(f'<tr class="group"><th colspan="4">{_e(group.value)}</th></tr>')
        for row in members:
            lines.append(
                f"<tr {_kpi_attributes(row)}>"
                f"<td>{_e(_label(row, grain))}{_restated_note(row)}</td>"
                f'<td class="num">{_value_html(row)}</td>'
                f'<td class="num prev">{_e(row.previous_text)}</td>'
                f'<td class="num">{_change_html(row)}</td></tr>'
            )
    return (
        '<section id="kpis" class="card">\n<h2>All KPIs</h2>\n'
        '<table class="kpi-table">\n<thead><tr><th>KPI</th><th class="num">This period</th>'
        '<th class="num">Previous period</th><th class="num">Change</th></tr></thead>\n'
        "<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>\n</section>"
    )


def _data_quality(
    freshness: Sequence[FreshnessRow], recon: Sequence[ReconciliationRow] | None
) -> str:
    fresh = "\n".join(
        f'<tr data-input="{_e(f.input)}"><td>{_e(f.input.capitalize())}</td>'
        f'<td class="num">{_e(f.fresh_through)}</td>'
        f'<td class="num">{_e(f.period_end)}</td>'
        f'<td><span class="pill pill-{"ok" if f.fresh else "warn"}">{_e(f.status)}</span></td></tr>'
        for f in freshness
    )
    return (
        '<section id="data-quality" class="two-up">\n'
        '<div class="card" id="freshness">\n<h2>Data freshness</h2>\n'
        '<table>\n<thead><tr><th>Input</th><th class="num">Fresh through</th>'
        '<th class="num">Period end</th><th>Status</th></tr></thead>\n'
        f"<tbody>\n{fresh}\n</tbody>\n</table>\n</div>\n"
        f"{_reconciliation(recon)}\n</section>"
    )


def _reconciliation(recon: Sequence[ReconciliationRow] | None) -> str:
    head = '<div class="card" id="reconciliation">\n<h2>Reconciliation with the ledger</h2>\n'
    if recon is None:
        return head + (
            '<p class="muted">Reconciliation is done at month close; weekly figures are '
            "not reconciled with the ledger.</p>\n</div>"
        )
    if not recon:
        return head + '<p class="muted">No reconciliation rows for this month yet.</p>\n</div>'
    lines = "\n".join(
        f'<tr data-line="{_e(r.line)}"><td>{_e(r.line.capitalize())}</td>'
        f'<td class="num">{_e(r.computed)}</td><td class="num">{_e(r.ledger)}</td>'
        f'<td class="num">{_e(r.difference)}</td>'
        f'<td><span class="pill pill-{"ok" if r.status_code == MATCHED else "warn"}">'
        f"{_e(r.status)}</span></td></tr>"
        for r in recon
    )
    return head + (
        '<table>\n<thead><tr><th>Line</th><th class="num">Computed</th>'
        '<th class="num">Ledger</th><th class="num">Difference</th><th>Status</th></tr></thead>\n'
        f"<tbody>\n{lines}\n</tbody>\n</table>\n</div>"
    )


def _restatements(rows: Sequence[RestatementRow]) -> str:
    head = '<section id="restatements" class="card">\n<h2>Restatements</h2>\n'
    if not rows:
        return head + '<p class="muted">No published figure was changed.</p>\n</section>'
    lines = "\n".join(
        f'<tr data-reason="{_e(r.reason_code)}"><td>{_e(r.what)}</td><td>{_e(r.period)}</td>'
        f"<td>{_e(r.key)}</td>"
        f'<td class="num old">{_e(r.old_text)}</td><td class="num">{_e(r.new_text)}</td>'
        f"<td>{_e(r.reason)}</td><td>{_e(r.restated_at)}</td></tr>"
        for r in rows
    )
    return head + (
        '<p class="muted">Figures already published that later data changed: '
        "the old value, the new one and why.</p>\n"
        "<table>\n<thead><tr><th>Figure</th><th>Period</th><th>Key</th>"
        '<th class="num">Was</th><th class="num">Now</th><th>Why</th><th>When</th></tr></thead>\n'
        f"<tbody>\n{lines}\n</tbody>\n</table>\n</section>"
    )


def _footer() -> str:
    return (
        '<footer class="muted">Changes compare with the previous period; ratios change in '
        "percentage points (pp). A figure that cannot be computed shows the reason instead "
        "of a number. Money is in US dollars, from integer cents.</footer>"
    )


_CSS = """
:root { --ink:#1f2a3d; --muted:#6b7486; --line:#e3e7ee; --bg:#f4f6fa; --good:#1f8a50;
  --bad:#c0392b; --warn:#b7791f; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 15px/1.45 "Helvetica Neue", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 28px 40px; }
h1 { font-size: 30px; margin: 2px 0 4px; }
h2 { font-size: 17px; margin: 0 0 4px; }
.top { display:flex; justify-content:space-between; align-items:flex-start; gap:16px; }
.eyebrow { margin:0; text-transform:uppercase; letter-spacing:.08em; font-size:12px;
  color:var(--muted); font-weight:600; }
.meta, .muted, .subtitle, .caption, .gaps, footer { color:var(--muted); }
.meta { margin:0; font-size:13px; }
.subtitle { margin:0 0 6px; font-size:13px; }
.badge { padding:8px 16px; border-radius:999px; font-weight:700; font-size:14px;
  text-transform:uppercase; letter-spacing:.05em; white-space:nowrap; }
.badge-final, .badge-signed_off { background:#dff3e7; color:var(--good); }
.badge-preliminary { background:#fdf0d5; color:var(--warn); }
.callout { margin:18px 0; padding:12px 16px; border-radius:10px; border-left:5px solid; }
.callout ul { margin:6px 0 0; padding-left:20px; }
.callout-final, .callout-signed_off { background:#eef9f2; border-color:var(--good); }
.callout-preliminary { background:#fff8e8; border-color:#e0a53a; }
.card { background:#fff; border:1px solid var(--line); border-radius:12px; padding:16px 18px;
  box-shadow:0 1px 2px rgba(31,42,61,.05); }
.cards { display:grid; grid-template-columns:repeat(4, minmax(0,1fr)); gap:14px; margin:18px 0; }
.kpi-card .label { font-size:13px; color:var(--muted); font-weight:600; }
.kpi-card .figure { font-size:27px; font-weight:700; margin:4px 0 2px; min-height:38px; }
.kpi-card .figure .missing { font-size:17px; }
.kpi-card .sub { font-size:13px; }
.missing { color:var(--warn); font-style:italic; font-weight:600; }
.tone-good { color:var(--good); font-weight:600; }
.tone-bad { color:var(--bad); font-weight:600; }
.tone-neutral { color:var(--muted); }
.restated { margin-top:4px; font-size:12px; color:#7a4fb5; font-weight:600; }
.charts { display:grid; grid-template-columns:1fr 1fr; gap:14px; margin:18px 0; }
.chart.wide { grid-column: 1 / -1; }
.gaps { font-size:12.5px; margin:6px 0 0; }
.two-up { display:grid; grid-template-columns:1fr 1fr; gap:14px; margin:18px 0; }
#kpis, #restatements { margin:18px 0; }
table { width:100%; border-collapse:collapse; font-size:14px; margin-top:8px; }
th, td { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line);
  vertical-align:top; }
thead th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
tr.group th { background:#f7f8fb; font-size:13px; color:var(--ink); }
.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
.prev { color:var(--muted); }
.old { text-decoration: line-through; color:var(--muted); }
.pill { display:inline-block; padding:2px 9px; border-radius:999px; font-size:12.5px;
  font-weight:600; white-space:nowrap; }
.pill-ok { background:#dff3e7; color:var(--good); }
.pill-warn { background:#fdf0d5; color:var(--warn); }
footer { font-size:12.5px; margin-top:20px; }
@media (max-width: 900px) { .cards { grid-template-columns:repeat(2, minmax(0,1fr)); }
  .charts, .two-up { grid-template-columns:1fr; } }
.unreconciled { margin-top:6px; font-size:12.5px; font-weight:600; color:var(--warn); }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { background:#fff; font-size:11pt; }
  main { max-width:none; padding:0; }
  .card, section { box-shadow:none; break-inside:avoid; page-break-inside:avoid; }
  .cards { grid-template-columns:repeat(4, minmax(0,1fr)); }
  .charts, .two-up { grid-template-columns:1fr 1fr; }
  .modebar, .modebar-container { display:none !important; }
  a { color:inherit; text-decoration:none; }
  * { -webkit-print-color-adjust:exact; print-color-adjust:exact; }
}
"""
