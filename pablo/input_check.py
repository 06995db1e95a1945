"""What a folder of company input holds, checked before anything runs (`pablo validate DIR`,
`pablo demo --input DIR`).

Every file is either recognised (with when the company delivers it) or listed as ignored
with why (an upper-case `.CSV`, a `.json` file, a monthly file due after the window, a
folder that is no input...). What would make the run fail or mislead is a problem: one line
naming the file and what to fix. The window is `manifest.json`'s parameters when there is
one, else inferred from the files' dates (docs/data-contracts.md, "Bring your own input").

The contents of landing files are not checked: a bad record in them is the pipelines' to
quarantine, with its reason code. The click replay envelopes are the generator's format,
not the contract, and every line of them must be one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

# When the company delivers each input (docs/data-contracts.md, the generator's table).
DAILY_INPUTS: Final = ("account_events", "assignments")  # a file per day, landed next 01:00
MONTHLY_INPUTS: Final = {  # a file per month, landed on day N of the next month at 02:00
    "invoices": 1,
    "expenses": 1,
    "salaries": 2,
    "ledger": 3,
}
FINANCE_INPUTS: Final = ("salaries", "ledger")
CLICKS: Final = "clicks"
EXPERIMENTS: Final = "experiments"
EXPERIMENTS_FILE: Final = "experiments.csv"
SOURCES: Final = (CLICKS, *DAILY_INPUTS, *MONTHLY_INPUTS, EXPERIMENTS)
MANIFEST: Final = "manifest.json"
TRUTH: Final = "truth.json"
CLOSE_DAYS: Final = 3  # the replay runs this many days past the window: month-end files land
# At most this many bad lines of one click file are listed; the rest are counted.
LINE_PROBLEMS_PER_FILE: Final = 3

_CLICK_NAME = re.compile(r"^(?P<day>[^.]+)\.replay\.jsonl$")
_DAILY_NAME = re.compile(r"^(?P<day>[^.]+)\.jsonl$")
_MONTHLY_NAME = re.compile(r"^(?P<month>\d{4}-\d{2})(?P<what>-[^.]+)?\.csv$")
_DAY_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, order=True)
class Delivery:
    """One landing file: when it lands and where."""

    at: datetime
    source: str
    path: Path = field(compare=False)
    bucket_output: str = field(compare=False)
    key: str = field(compare=False)


@dataclass(frozen=True)
class Window:
    start: date
    days: int
    origin: str  # where it came from: manifest.json, or the files

    @property
    def last_day(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def first_instant(self) -> datetime:
        return midnight(self.start)

    @property
    def horizon(self) -> datetime:
        """The replay's end: the window, then the close days for the month-end files."""
        return self.first_instant + timedelta(days=self.days + CLOSE_DAYS)


@dataclass(frozen=True)
class Finding:
    """A file (relative to the folder) and what about it: why it is ignored, or what to fix."""

    path: str
    text: str

    def line(self) -> str:
        return f"{self.path}: {self.text}"


@dataclass
class InputReport:
    directory: Path
    window: Window | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    click_files: list[Path] = field(default_factory=list)
    ignored: list[Finding] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    has_truth: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The check as text: window, what is recognised, what is ignored, the problems."""
        out = []
        if self.window is not None:
            w = self.window
            out.append(
                f"window: {w.start.isoformat()} to {w.last_day.isoformat()} ({w.days} days, "
                f"from {w.origin})"
            )
        counts: dict[str, int] = {}
        for delivery in self.deliveries:
            counts[delivery.source] = counts.get(delivery.source, 0) + 1
        if self.click_files:
            counts = {CLICKS: len(self.click_files), **counts}
        recognised = ", ".join(f"{source} {n}" for source, n in counts.items()) or "none"
        out.append(f"recognised files: {recognised}")
        out.append(
            f"{TRUTH}: "
            + (
                "present: the summary compares with it"
                if self.has_truth
                else "absent: the summary reports figures, without comparisons"
            )
        )
        out += [f"ignored {finding.line()}" for finding in self.ignored]
        out += [f"problem {finding.line()}" for finding in self.problems]
        return out


def check_input(directory: Path) -> InputReport:
    """Every file of `directory` recognised, ignored (why) or a problem (what to fix)."""
    report = InputReport(directory)
    if not directory.is_dir():
        report.problems.append(
            Finding(str(directory), "no such folder: give the folder of the company's input")
        )
        return report
    dated: list[_Dated] = []
    manifest_window = _top_level(directory, report)
    for source in SOURCES:
        folder = directory / source
        if folder.is_dir():
            dated += _source_files(directory, folder, source, report)
    window = manifest_window or _infer_window(dated)
    if window is None:
        if not report.problems:
            report.problems.append(
                Finding(
                    str(directory),
                    "no dated input file to infer the window from: add files named as in "
                    f"docs/data-contracts.md, or a {MANIFEST} with parameters.start and "
                    "parameters.days",
                )
            )
        return report
    report.window = window
    _plan(directory, dated, window, report)
    if not report.deliveries and not report.click_files:
        report.problems.append(
            Finding(str(directory), "no input file falls in the window: nothing to replay")
        )
    return report


# --- what is there -------------------------------------------------------------------


@dataclass(frozen=True)
class _Dated:
    source: str
    path: Path
    day: date | None = None  # clicks and daily inputs
    month: str | None = None  # monthly inputs (YYYY-MM)


def _relative(directory: Path, path: Path) -> str:
    return path.relative_to(directory).as_posix()


def _top_level(directory: Path, report: InputReport) -> Window | None:
    window = None
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith("."):
            report.ignored.append(Finding(name, "hidden: not read"))
        elif entry.is_dir():
            if name not in SOURCES:
                report.ignored.append(Finding(f"{name}/", _unknown_folder(name)))
        elif name == MANIFEST:
            window = _manifest_window(entry, report)
        elif name == TRUTH:
            report.has_truth = _truth_ok(entry, report)
        else:
            report.ignored.append(
                Finding(name, f"not an input: inputs are in the folders {', '.join(SOURCES)}")
            )
    return window


def _unknown_folder(name: str) -> str:
    if name.lower() in SOURCES:
        return f"folder names are lower case: rename it to {name.lower()}/"
    return f"not an input folder (the inputs are {', '.join(SOURCES)})"


def _manifest_window(path: Path, report: InputReport) -> Window | None:
    fix = (
        'needs {"parameters": {"start": "YYYY-MM-DD", "days": N}}; fix it, or '
        "delete it to infer the window from the files"
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        parameters = document["parameters"]
        start = date.fromisoformat(str(parameters["start"]))
        days = parameters["days"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        report.problems.append(Finding(MANIFEST, f"{_reason(exc)}: {fix}"))
        return None
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        report.problems.append(Finding(MANIFEST, f"parameters.days is {days!r}: {fix}"))
        return None
    return Window(start, days, MANIFEST)


def _truth_ok(path: Path, report: InputReport) -> bool:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.problems.append(
            Finding(
                TRUTH,
                f"{_reason(exc)}: fix it, or delete it (the summary then reports figures "
                "without comparisons)",
            )
        )
        return False
    if not isinstance(document, dict):
        report.problems.append(Finding(TRUTH, "must be a JSON object: fix it or delete it"))
        return False
    return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _source_files(directory: Path, folder: Path, source: str, report: InputReport) -> list[_Dated]:
    found: list[_Dated] = []
    for entry in sorted(folder.iterdir()):
        relative = _relative(directory, entry)
        if entry.name.startswith("."):
            report.ignored.append(Finding(relative, "hidden: not read"))
        elif entry.is_dir():
            report.ignored.append(
                Finding(f"{relative}/", f"a folder: files must be directly in {source}/")
            )
        elif source == CLICKS:
            found += _named(
                relative,
                entry,
                source,
                pattern=_CLICK_NAME,
                shape="YYYY-MM-DD.replay.jsonl",
                report=report,
            )
        elif source in DAILY_INPUTS:
            found += _named(
                relative,
                entry,
                source,
                pattern=_DAILY_NAME,
                shape="YYYY-MM-DD.jsonl",
                report=report,
            )
        elif source in MONTHLY_INPUTS:
            found += _monthly(relative, entry, source, report)
        elif entry.name == EXPERIMENTS_FILE:
            found.append(_Dated(source, entry))
        else:
            report.ignored.append(
                Finding(relative, f"only {EXPERIMENTS}/{EXPERIMENTS_FILE} is delivered")
            )
    return found


def _named(
    relative: str,
    path: Path,
    source: str,
    *,
    pattern: re.Pattern[str],
    shape: str,
    report: InputReport,
) -> list[_Dated]:
    match = pattern.match(path.name)
    if match is None:
        report.ignored.append(Finding(relative, _why_not(path.name, shape, pattern)))
        return []
    text = match.group("day")
    try:
        if not _DAY_SHAPE.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        report.problems.append(
            Finding(relative, f"{text!r} is not a date: name it {shape} with a real date")
        )
        return []
    return [_Dated(source, path, day=day)]


def _monthly(relative: str, path: Path, source: str, report: InputReport) -> list[_Dated]:
    shape = "YYYY-MM.csv or YYYY-MM-<what>.csv"
    if not path.name.endswith(".csv"):
        report.ignored.append(Finding(relative, _why_not(path.name, shape, _MONTHLY_NAME)))
        return []
    match = _MONTHLY_NAME.match(path.name)
    month = match.group("month") if match else None
    if month is None or not 1 <= int(month[5:]) <= 12:
        report.problems.append(
            Finding(relative, f"the name does not start with a month: name it {shape}")
        )
        return []
    return [_Dated(source, path, month=month)]


def _why_not(name: str, shape: str, pattern: re.Pattern[str]) -> str:
    """Why a file of an input folder is not one of its files."""
    if pattern.match(name.lower()) or pattern.match(_lower_suffix(name)):
        return (
            f"upper-case extension: inputs are named {shape} (rename it to {_lower_suffix(name)})"
        )
    suffix = "".join(Path(name).suffixes) or "no extension"
    return f"{suffix} is not an input of this folder (its files are named {shape})"


def _lower_suffix(name: str) -> str:
    stem, dot, suffix = name.partition(".")
    return f"{stem}{dot}{suffix.lower()}"


# --- when it is delivered -------------------------------------------------------------


def _infer_window(dated: list[_Dated]) -> Window | None:
    """The days the files cover: the click days (the company's activity), else the daily
    files', else whole months of the monthly files."""
    for sources in ((CLICKS,), DAILY_INPUTS):
        days = sorted(d.day for d in dated if d.source in sources and d.day is not None)
        if days:
            return Window(days[0], (days[-1] - days[0]).days + 1, "the files' dates")
    months = sorted(d.month for d in dated if d.month is not None)
    if months:
        first = date.fromisoformat(f"{months[0]}-01")
        last = next_month(months[-1]).date() - timedelta(days=1)
        return Window(first, (last - first).days + 1, "the files' months")
    return None


def _plan(directory: Path, dated: list[_Dated], window: Window, report: InputReport) -> None:
    for item in dated:
        relative = _relative(directory, item.path)
        if item.source == CLICKS:
            assert item.day is not None
            if midnight(item.day) >= window.horizon:
                report.ignored.append(Finding(relative, _after(midnight(item.day), window)))
                continue
            report.problems += _envelope_problems(relative, item.path)
            report.click_files.append(item.path)
            continue
        delivery = _delivery(item, window)
        if delivery.at > window.horizon:
            report.ignored.append(Finding(relative, _after(delivery.at, window)))
        else:
            report.deliveries.append(delivery)
    report.deliveries.sort()


def _after(at: datetime, window: Window) -> str:
    return (
        f"due {at:%Y-%m-%dT%H:%MZ}, after the window ({window.start.isoformat()} to "
        f"{window.last_day.isoformat()}) and its {CLOSE_DAYS}-day close: not delivered"
    )


def _delivery(item: _Dated, window: Window) -> Delivery:
    first = window.first_instant
    if item.day is not None:
        day = item.day
        at = max(first, midnight(day) + timedelta(days=1, hours=1))
        key = f"{item.source}/{day:%Y/%m/%d}/{item.source}-{day.isoformat()}.jsonl"
        return Delivery(at, item.source, item.path, "LandingBucketName", key)
    if item.month is not None:
        month = item.month
        at = max(
            first, next_month(month) + timedelta(days=MONTHLY_INPUTS[item.source] - 1, hours=2)
        )
        name = f"{item.source}-{item.path.stem}.csv"
        if item.source in FINANCE_INPUTS:
            return Delivery(
                at,
                item.source,
                item.path,
                "FinanceBucketName",
                f"landing/{item.source}/{month}/{name}",
            )
        return Delivery(
            at, item.source, item.path, "LandingBucketName", f"{item.source}/{month}/{name}"
        )
    return Delivery(
        first, item.source, item.path, "LandingBucketName", f"{EXPERIMENTS}/{EXPERIMENTS_FILE}"
    )


def _envelope_problems(relative: str, path: Path) -> list[Finding]:
    """One finding per line that is not `{"send_at": <epoch ms>, "record": ...}` (the first
    few, then a count)."""
    bad = list(_bad_envelopes(path))
    found = [
        Finding(
            f"{relative} line {number}",
            f'{why}: each line must be {{"send_at": <epoch ms>, "record": <click or string>}}',
        )
        for number, why in bad[:LINE_PROBLEMS_PER_FILE]
    ]
    if len(bad) > LINE_PROBLEMS_PER_FILE:
        found.append(
            Finding(relative, f"{len(bad) - LINE_PROBLEMS_PER_FILE} more lines like these")
        )
    return found


def _bad_envelopes(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                envelope: Any = json.loads(line)
            except (ValueError, RecursionError) as exc:
                yield number, _reason(exc) if isinstance(exc, ValueError) else "nested too deep"
                continue
            if not isinstance(envelope, dict) or "record" not in envelope:
                yield number, "not an envelope object with a record"
            elif not isinstance(envelope.get("send_at"), int) or isinstance(
                envelope["send_at"], bool
            ):
                yield number, "send_at is not an integer (epoch milliseconds)"


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def next_month(month: str) -> datetime:
    year, mon = (int(part) for part in month.split("-"))
    return datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)


def plan_deliveries(input_dir: Path, start: date, days: int) -> list[Delivery]:
    """Every landing file with the simulated time the company delivers it, in time order
    (those due after the window and its close left out)."""
    report = InputReport(input_dir)
    dated: list[_Dated] = []
    for source in SOURCES:
        folder = input_dir / source
        if folder.is_dir() and source != CLICKS:
            dated += _source_files(input_dir, folder, source, report)
    _plan(input_dir, dated, Window(start, days, "given"), report)
    return report.deliveries
