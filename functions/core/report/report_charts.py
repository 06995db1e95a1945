"""The executive report's charts, drawn with plotly (figures only; no I/O).

Each chart is an HTML fragment with a fixed div id and no plotly.js of its own: the report
embeds plotly.js once. Values missing from a period are gaps in the chart; `chart_gaps` lists
them with their reasons so the page can say why under the chart. Only registry-derived text
(labels, periods) goes into the figures; reason codes from the data stay in the escaped page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import plotly.graph_objects as go
import plotly.io as pio

from functions.core.report.report_format import (
    SPEC_BY_COLUMN,
    axis_period_label,
    reason_words,
    short_period_label,
)

Row = dict[str, Any]

# At most this many periods are drawn: a year and the same month a year earlier.
HISTORY_PERIODS: Final = 13
CHART_HEIGHT: Final = "340px"
PLOT_CONFIG: Final = {"displayModeBar": False, "responsive": True, "staticPlot": False}

GREEN: Final = "#2e9d62"
LIGHT_GREEN: Final = "#8fd1a8"
TEAL: Final = "#3aa7a3"
ORANGE: Final = "#e8924a"
RED: Final = "#d2504a"
BLUE: Final = "#3565b0"
LIGHT_BLUE: Final = "#8fb0e0"
GREY: Final = "#7b8494"
INK: Final = "#1f2a3d"


@dataclass(frozen=True)
class Series:
    column: str
    name: str
    color: str
    sign: int = 1  # -1 draws a loss below the axis
    kind: str = "bar"  # bar or line


@dataclass(frozen=True)
class ChartSpec:
    div_id: str
    title: str
    subtitle: str
    series: tuple[Series, ...]
    barmode: str
    money: bool


CHARTS: Final = (
    ChartSpec(
        div_id="chart-mrr-movements",
        title="MRR movements",
        subtitle="Gains above the line, losses below; the line is net new MRR",
        series=(
            Series("mrr_new_cents", "New", GREEN),
            Series("mrr_expansion_cents", "Expansion", LIGHT_GREEN),
            Series("mrr_reactivation_cents", "Reactivation", TEAL),
            Series("mrr_contraction_cents", "Contraction", ORANGE, sign=-1),
            Series("mrr_churn_cents", "Churn", RED, sign=-1),
            Series("net_new_mrr_cents", "Net new MRR", INK, kind="line"),
        ),
        barmode="relative",
        money=True,
    ),
    ChartSpec(
        div_id="chart-active-users",
        title="Active users",
        subtitle="Average daily, weekly and monthly active users",
        series=(
            Series("dau", "DAU", BLUE, kind="line"),
            Series("wau", "WAU", TEAL, kind="line"),
            Series("mau", "MAU", INK, kind="line"),
        ),
        barmode="group",
        money=False,
    ),
    ChartSpec(
        div_id="chart-profit",
        title="Revenue, expenses, salaries and profit",
        subtitle="Profit is revenue less expenses and salaries",
        series=(
            Series("revenue_cents", "Revenue", BLUE),
            Series("expenses_cents", "Expenses", LIGHT_BLUE),
            Series("salaries_cents", "Salaries", GREY),
            Series("profit_cents", "Profit", GREEN, kind="line"),
        ),
        barmode="group",
        money=True,
    ),
)


def _values(history: Sequence[Row], series: Series, *, money: bool) -> list[float | None]:
    out: list[float | None] = []
    for row in history:
        value = row[series.column]
        if value is None:
            out.append(None)
            continue
        scaled = float(value) / 100 if money else float(value)
        out.append(series.sign * scaled)
    return out


def _trace(series: Series, x: list[str], y: list[float | None], *, money: bool) -> Any:
    hover = "%{x}<br>" + series.name + ": " + ("$%{y:,.0f}" if money else "%{y:,.1f}")
    hover += "<extra></extra>"
    if series.kind == "line":
        return go.Scatter(
            x=x,
            y=y,
            name=series.name,
            mode="lines+markers",
            line={"color": series.color, "width": 2.5},
            marker={"size": 7},
            connectgaps=False,
            hovertemplate=hover,
        )
    return go.Bar(x=x, y=y, name=series.name, marker_color=series.color, hovertemplate=hover)


def figure(spec: ChartSpec, *, grain: str, history: Sequence[Row]) -> Any:
    shown = list(history)[-HISTORY_PERIODS:]
    x = [axis_period_label(grain, row["period"]) for row in shown]
    fig = go.Figure(
        [_trace(s, x, _values(shown, s, money=spec.money), money=spec.money) for s in spec.series]
    )
    fig.update_layout(
        template="plotly_white",
        barmode=spec.barmode,
        margin={"l": 64, "r": 16, "t": 12, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        font={"family": "Helvetica, Arial, sans-serif", "size": 13, "color": INK},
        hovermode="x unified",
        bargap=0.3,
    )
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=x, tickangle=0)
    fig.update_yaxes(
        tickformat="$,.0f" if spec.money else ",.0f",
        zeroline=True,
        zerolinecolor="#9aa3b2",
        rangemode="tozero",
    )
    return fig


def chart_html(spec: ChartSpec, *, grain: str, history: Sequence[Row]) -> str:
    """The chart as an HTML fragment: fixed div id, plotly.js expected on the page."""
    html: str = pio.to_html(
        figure(spec, grain=grain, history=history),
        full_html=False,
        include_plotlyjs=False,
        div_id=spec.div_id,
        config=PLOT_CONFIG,
        default_height=CHART_HEIGHT,
        default_width="100%",
        validate=True,
    )
    return html


@dataclass(frozen=True)
class Gap:
    period: str
    label: str
    reason: str


def chart_gaps(spec: ChartSpec, *, grain: str, history: Sequence[Row]) -> list[Gap]:
    """Every point missing from the chart, with the reason its KPI is null."""
    gaps = []
    for row in list(history)[-HISTORY_PERIODS:]:
        for series in spec.series:
            if row[series.column] is None:
                label = SPEC_BY_COLUMN[series.column].label
                reason = reason_words(row["missing_reasons"][series.column])
                gaps.append(Gap(short_period_label(grain, row["period"]), label, reason))
    return gaps


@cache
def plotly_js() -> str:
    """plotly.js itself, to embed once so the report opens offline (read once per process)."""
    from plotly.offline import get_plotlyjs  # noqa: PLC0415 (4.8 MB string, only when rendering)

    js: str = get_plotlyjs()
    return js
