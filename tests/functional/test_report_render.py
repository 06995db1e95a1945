"""The executive report in a real browser: Debian's headless Chromium opens the rendered file
offline, and from its DOM and a screenshot we check that the page runs without script
errors, the plotly charts are drawn, every KPI shows a value or a reason, and the
screenshot is not blank. Installed by `make chromium` (`make test` runs it)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from functions.core.report.report import render_report
from functions.core.report.report_charts import CHARTS, GREEN, RED
from functions.core.report.report_format import KPI_COLUMNS, reason_words
from pablo.report_cli import (
    kpi_table,
    periods_ending,
    reconciliation_table,
    restatement_table,
    sample_kpi_row,
)

WINDOW = (1280, 3400)
BROWSER_TIMEOUT_S = 180
VIRTUAL_TIME_MS = 5_000  # plotly draws on load; this lets late timers run too

# Injected first in <head> of a copy of the report: script errors end up in the DOM.
ERROR_PROBE = """<script>
(function () {
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.documentElement.setAttribute("data-script-errors", JSON.stringify(errors));
  }
  window.addEventListener("error", function (e) { record(e.message || e.type); });
  window.addEventListener("unhandledrejection", function (e) { record(e.reason); });
  window.addEventListener("load", function () {
    document.documentElement.setAttribute("data-loaded", "yes");
  });
})();
</script>"""


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "chromium is not installed (run `make chromium`)"
    return found


# --- the report under test ------------------------------------------------------------------

STALE_MONTH, LATEST_MONTH = "2026-07", "2026-09"
STALE_KPIS = {"dau": "upstream_stale", "wau": "upstream_stale", "mau": "upstream_stale"}


def report_inputs() -> dict[str, Any]:
    """Six months: July with stale engagement and a restated revenue; September (reported)
    preliminary because revenue misses the ledger, with no seat count for seat utilisation."""
    rows, mrr = [], 35_000_000
    for index, month in enumerate(periods_ending("month", LATEST_MONTH, 6)):
        options: dict[str, Any] = {}
        if month == STALE_MONTH:
            options = {"missing": STALE_KPIS, "engagement_lag_days": 4}
        if month == LATEST_MONTH:
            options = {"missing": {"seat_utilisation": "no_seats"}}
            options["publication_status"] = "preliminary"
        row = sample_kpi_row(
            grain="month", period=month, index=index, mrr_start_cents=mrr, **options
        )
        rows.append(row)
        mrr = row["mrr_cents"]
    july = next(r for r in rows if r["period"] == STALE_MONTH)
    restatement = {
        "table_name": "exec_kpi",
        "period": STALE_MONTH,
        "key": "total",
        "metric": "revenue_cents",
        "old_value": float(july["revenue_cents"] - 2_150_000),
        "new_value": float(july["revenue_cents"]),
        "reason": "late_data",
        "restated_at": datetime(2026, 8, 6, 6, tzinfo=UTC),
        "run_id": "monthly-2026-08",
        "month": "2026-08",
    }
    latest = rows[-1]
    recon = [
        ("revenue", latest["revenue_cents"], latest["revenue_cents"] - 731_900, "mismatched"),
        ("expenses", latest["expenses_cents"], latest["expenses_cents"], "matched"),
    ]
    reconciliation = [
        {
            "line": line,
            "computed_cents": computed,
            "ledger_cents": ledger,
            "difference_cents": computed - ledger,
            "tolerance_cents": 100,
            "status": status,
            "month": LATEST_MONTH,
        }
        for line, computed, ledger, status in recon
    ]
    return {
        "period": LATEST_MONTH,
        "kpis": kpi_table(rows),
        "restatements": restatement_table([restatement]),
        "reconciliation": reconciliation_table(reconciliation),
    }


# --- the browser --------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserRun:
    dom: str
    log: str


def run_chromium(
    binary: str, url: str, profile: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # running as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        *args,
        url,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )


def open_in_chromium(
    binary: str, page: Path, profile: Path, *, screenshot: Path | None
) -> BrowserRun:
    """Open a copy of `page` with the error probe injected; its DOM after it ran, the
    browser's log and, when asked, a screenshot (the probe draws nothing)."""
    probed = page.with_name(page.stem + ".probed.html")
    probed.write_text(page.read_text().replace("<head>", "<head>\n" + ERROR_PROBE, 1))
    extra = [f"--screenshot={screenshot}"] if screenshot else []
    done = run_chromium(
        binary, probed.as_uri(), profile, "--dump-dom", "--enable-logging=stderr", "--v=0", *extra
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return BrowserRun(dom=done.stdout, log=done.stderr)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    binary = chromium_binary()
    folder = tmp_path_factory.mktemp("report")
    page = folder / f"exec-month-{LATEST_MONTH}.html"
    page.write_text(
        render_report(grain="month", generated_at="2026-10-04T06:00:00Z", **report_inputs()),
        encoding="utf-8",
    )
    screenshot = folder / "report.png"
    run = open_in_chromium(binary, page, folder / "profile", screenshot=screenshot)
    assert screenshot.is_file(), f"no screenshot:\n{run.log[-3000:]}"
    return {"page": page, "run": run, "screenshot": screenshot, "binary": binary, "folder": folder}


# --- DOM ----------------------------------------------------------------------------------


class _Dom(HTMLParser):
    """Per element with an id or data-kpi: its text and the classes of its descendants."""

    VOID = frozenset({"br", "meta", "link", "img", "input", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, Any]] = []
        self.root_attrs: dict[str, str | None] = {}
        self._open: list[tuple[str, dict[str, Any] | None]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.root_attrs = found
        for _, node in self._open:
            if node is not None:
                node["classes"].update((found.get("class") or "").split())
        if tag in self.VOID:
            return
        if tag in ("script", "style"):
            self._skip += 1
        node = None
        if "id" in found or "data-kpi" in found:
            node = {"tag": tag, "attrs": found, "text": "", "classes": Counter()}
            self.nodes.append(node)
        self._open.append((tag, node))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        for _, node in self._open:
            if node is not None:
                node["text"] += data


def parse_dom(dom: str) -> _Dom:
    parser = _Dom()
    parser.feed(dom)
    return parser


def test_the_page_runs_without_script_errors(rendered: dict[str, Any]) -> None:
    run: BrowserRun = rendered["run"]
    dom = parse_dom(run.dom)
    assert dom.root_attrs.get("data-loaded") == "yes", f"page never loaded: {rendered['page']}"
    assert "data-script-errors" not in dom.root_attrs, dom.root_attrs.get("data-script-errors")
    uncaught = [line for line in run.log.splitlines() if "Uncaught" in line]
    assert not uncaught, f"console errors (screenshot {rendered['screenshot']}): {uncaught}"


def test_the_error_probe_does_catch_a_script_error(rendered: dict[str, Any]) -> None:
    # the check above can fail: the same probe on a page that throws reports the error
    broken = rendered["folder"] / "broken.html"
    broken.write_text("<html><head></head><body><script>throw new Error('probe-control')</script>")
    run = open_in_chromium(
        rendered["binary"], broken, rendered["folder"] / "control", screenshot=None
    )
    errors = json.loads(parse_dom(run.dom).root_attrs.get("data-script-errors") or "[]")
    assert any("probe-control" in e for e in errors), run.dom[:500]
    assert any("Uncaught" in line for line in run.log.splitlines()), run.log[-2000:]


def test_every_plotly_chart_is_drawn(rendered: dict[str, Any]) -> None:
    nodes = {
        n["attrs"]["id"]: n for n in parse_dom(rendered["run"].dom).nodes if "id" in n["attrs"]
    }
    for chart in CHARTS:
        node = nodes.get(chart.div_id)
        assert node is not None, f"no {chart.div_id} (screenshot {rendered['screenshot']})"
        classes = node["classes"]
        assert classes["main-svg"] >= 1, (
            f"{chart.div_id} has no plotly SVG: {rendered['screenshot']}"
        )
        traces = classes["bars"] + classes["scatter"]
        assert traces == len(chart.series), (
            f"{chart.div_id} traces {traces}: {rendered['screenshot']}"
        )
        assert classes["xtick"] == 6, f"{chart.div_id}: one tick per month expected"


def test_every_kpi_shows_a_value_or_its_reason_in_words(rendered: dict[str, Any]) -> None:
    rows = [
        n
        for n in parse_dom(rendered["run"].dom).nodes
        if n["tag"] == "tr" and "data-kpi" in n["attrs"]
    ]
    assert sorted(n["attrs"]["data-kpi"] for n in rows) == sorted(KPI_COLUMNS)
    for node in rows:
        attrs, text = node["attrs"], " ".join(node["text"].split())
        assert not re.search(r"\b(nan|none|null|inf|undefined)\b", text, re.IGNORECASE), text
        if attrs["data-state"] == "missing":
            assert reason_words(attrs["data-reason"]) in text, text
        else:
            assert attrs["data-state"] == "value" and re.search(r"\d", text), text
    missing = {
        n["attrs"]["data-kpi"]: n["attrs"]["data-reason"]
        for n in rows
        if n["attrs"]["data-state"] == "missing"
    }
    assert missing == {"seat_utilisation": "no_seats"}


def test_status_restatement_and_gaps_are_on_the_page(rendered: dict[str, Any]) -> None:
    nodes = {
        n["attrs"]["id"]: n for n in parse_dom(rendered["run"].dom).nodes if "id" in n["attrs"]
    }
    status = " ".join(nodes["status-summary"]["text"].split())
    assert "Revenue: differs from the ledger" in status
    restatements = " ".join(nodes["restatements"]["text"].split())
    assert "late data arrived" in restatements and STALE_MONTH in restatements
    charts = " ".join(nodes["charts"]["text"].split())
    gap = "Daily active users (average), Weekly active users, Monthly active users: upstream stale"
    assert f"Jul 2026 {gap}" in charts


# --- screenshot ---------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit RGB(A) PNG (stdlib)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    header, idat, pos = None, [], 8
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        header = struct.unpack(">IIBBBBB", body) if kind == b"IHDR" else header
        if kind == b"IDAT":
            idat.append(body)
        pos += 12 + size
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    return width, height, _unfilter(zlib.decompress(b"".join(idat)), width * bpp, height, bpp), bpp


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    # "Up" rows (most of a screenshot) add the row above bytewise; done on whole rows as
    # integers with the top bit of each byte kept apart so no carry crosses bytes.
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytes(stride), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        if kind == 2:
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            line = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        elif kind != 0:
            line = bytes(_unfilter_row(kind, bytearray(line), prev, bpp))
        rows.append(line)
        prev = line
    return rows


def _unfilter_row(kind: int, out: bytearray, prev: bytes, bpp: int) -> bytearray:
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        if kind == 1:
            out[i] = (out[i] + left) & 255
        elif kind == 3:
            out[i] = (out[i] + ((left + prev[i]) >> 1)) & 255
        else:  # Paeth
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
            out[i] = (
                out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
            ) & 255
    return out


def test_the_screenshot_is_not_blank_and_shows_the_charts(rendered: dict[str, Any]) -> None:
    shot: Path = rendered["screenshot"]
    width, height, rows, bpp = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW, shot
    pixels = Counter(row[x : x + 3] for row in rows[::2] for x in range(0, width * bpp, 2 * bpp))
    total = sum(pixels.values())
    background, count = pixels.most_common(1)[0]
    lumas = [(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2], n) for p, n in pixels.items()]
    mean = sum(v * n for v, n in lumas) / total
    stddev = (sum(n * (v - mean) ** 2 for v, n in lumas) / total) ** 0.5
    assert 1 - count / total > 0.2, (
        f"{shot}: {count / total:.0%} of it is one colour {background!r}"
    )
    assert len(pixels) > 200, f"{shot}: only {len(pixels)} colours"
    assert stddev > 10, f"{shot}: brightness barely varies (std {stddev:.1f})"
    for name, colour in (("green bars", GREEN), ("red churn bars", RED)):
        rgb = bytes.fromhex(colour.removeprefix("#"))
        assert pixels[rgb] > 500, f"{shot}: no {name} ({colour}) drawn"
