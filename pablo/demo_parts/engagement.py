"""The engagement part of the demo: the generated clicks through the producer into the
deployed Kinesis stream, as the company sent them, including the stream outage.

Each 6-hour step sends the replay envelopes whose `send_at` fell in the step. During the
truth.json outage window the stream is down for the producer: its PutRecords fails with a
connection error (as when Kinesis is unreachable), so those clicks are spilled to a local
file, and replayed once the window is over. After each step the producer's per-minute
counts go to `raw/producer_counts/` (the outage detector compares them with what landed)
and the demo waits for the emulator's Kinesis pollers to drain.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import EndpointConnectionError

from functions.adapters import s3_objects
from functions.core import schemas
from functions.core.ingest.clicks import ClickPayload, parse_payload
from functions.handlers import click_ingest
from functions.handlers.engagement_monitor import FRESHNESS_METRIC
from pablo.producer.cli import CLICK_STREAM_OUTPUT, replay_envelope
from pablo.producer.click_producer import ClickProducer, VirtualTime

STREAM_OUTPUT: Final = CLICK_STREAM_OUTPUT
PRODUCER_ID: Final = "demo-web"
ALARM_KEYS: Final = ("click-freshness", "click-stream-silent")
# Alarms are watched from the outage's start until this long after its end.
WATCH_AFTER_OUTAGE: Final = timedelta(hours=12)
MAX_EPOCH_MS: Final = 32_503_680_000_000  # year 3000: beyond it, not a day worth counting


class _DownStream:
    """A Kinesis client for the outage window: every call fails as an unreachable endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def put_records(self, **_: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url=self.endpoint)


@dataclass
class EngagementDemo:
    name: str = "engagement"
    run: Any = None
    producer: ClickProducer | None = None
    outage: tuple[datetime, datetime] | None = None
    sends: Iterator[tuple[int, bytes]] | None = None
    pending: tuple[int, bytes] | None = None
    offered: int = 0
    spilled: int = 0
    replayed: int = 0
    # Per alarm key: its states seen around the outage, (state, since) in order.
    outage_alarms: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    max_freshness_hours: float = 0.0
    touched_days: set[str] = field(default_factory=set)
    seconds_in_steps: float = 0.0  # sending, spilling, uploading counts, draining the pollers

    def start(self, run: Any) -> None:
        self.run = run
        stream = run.outputs.get(STREAM_OUTPUT)
        if not stream:
            raise RuntimeError(f"the deployed stack has no {STREAM_OUTPUT} output")
        spill = Path(run.out_dir) / "spill" / "clicks.jsonl"
        spill.unlink(missing_ok=True)
        virtual_time = VirtualTime()
        self.producer = ClickProducer(
            client=run.client("kinesis"),
            stream_name=stream,
            spill_path=spill,
            producer_id=PRODUCER_ID,
            # Backoff waits cost no wall time; the retry deadline still counts them, so
            # the simulated outage spills as a real one would.
            sleep=virtual_time.sleep,
            monotonic=virtual_time.monotonic,
            # The emulator's clock, as the stream's arrival times: a spilled click's first
            # attempt must be on the same clock as its arrival.
            clock=self.run_control().now,
        )
        window = run.truth.get("faults", {}).get("stream_outage") or {}
        if window:
            self.outage = (_parse(window["start"]), _parse(window["end"]))
        files = sorted(Path(run.input_dir).glob("clicks/*.replay.jsonl"))
        self.sends = heapq.merge(*(_envelopes(f) for f in files), key=lambda s: s[0])
        self.pending = next(self.sends, None)

    def on_step(self, cursor: datetime) -> None:
        started = time.monotonic()
        try:
            self._step(cursor)
        finally:
            self.seconds_in_steps += time.monotonic() - started

    def _step(self, cursor: datetime) -> None:
        assert self.producer is not None
        until = int(cursor.timestamp() * 1000)
        normal: list[bytes] = []
        down: list[bytes] = []
        while self.pending is not None and self.pending[0] < until:
            send_at, payload = self.pending
            (down if self._in_outage(send_at) else normal).append(payload)
            self.pending = next(self.sends, None) if self.sends else None
        self.offered += len(normal) + len(down)
        if down:
            self._send_during_outage(down)
        if normal:
            self.producer.send(normal)
        if self.outage and cursor >= self.outage[1] and self.producer.spill_path.exists():
            self._replay()
        self.touched_days |= _event_days(normal + down)
        if cursor.hour == 0:
            # Once a day, before the 02:00 workflow: the day's producer counts, and the
            # pollers drained so every click sent so far has landed. (Between, the pollers
            # keep ingesting on their own; arrival times come from the stream's clock.)
            self._upload_counts()
            self.run_control().drain_streams(timeout=120)
        self._watch_alarms(cursor)

    def _replay(self) -> None:
        """Resend the spill; the days it spilled into get their counts uploaded again (the
        replayed minutes are no longer spilled, so those hours can turn complete)."""
        assert self.producer is not None
        self.touched_days |= {r.minute.date().isoformat() for r in self.producer.spilled_records()}
        self.replayed += self.producer.replay_spill().sent

    def _send_during_outage(self, payloads: list[bytes]) -> None:
        assert self.producer is not None
        client = self.producer.client
        self.producer.client = _DownStream(self.run.endpoint)
        try:
            self.spilled += self.producer.send(payloads).spilled
        finally:
            self.producer.client = client

    def _in_outage(self, send_at: int) -> bool:
        if self.outage is None:
            return False
        low, high = (int(t.timestamp() * 1000) for t in self.outage)
        return low <= send_at < high

    def _upload_counts(self) -> None:
        """Rewrite the producer-count files of the days sent to since the last upload."""
        assert self.producer is not None
        if not self.touched_days:
            return
        self.producer.upload_counts(
            self.run.client("s3"), bucket=self.run.outputs["RawBucketName"], days=self.touched_days
        )
        self.touched_days = set()

    def _watch_alarms(self, cursor: datetime) -> None:
        """Record the engagement alarms' states and freshness around the outage."""
        if self.outage is None:
            return
        low, high = self.outage
        if not (low <= cursor <= high + WATCH_AFTER_OUTAGE):
            return
        alarms = self.run.client("cloudwatch").describe_alarms()["MetricAlarms"]
        for alarm in alarms:
            for key in ALARM_KEYS:
                if alarm["AlarmName"].endswith(f"-{key}"):
                    seen = self.outage_alarms.setdefault(key, [])
                    since = _iso(alarm.get("StateUpdatedTimestamp")) or cursor.isoformat()
                    if not seen or seen[-1][0] != alarm["StateValue"]:
                        seen.append((alarm["StateValue"], since))

    def run_control(self) -> Any:
        from pablo.local.control import ControlClient  # noqa: PLC0415

        return ControlClient(self.run.endpoint)

    def finish(self) -> dict[str, Any]:
        assert self.producer is not None
        if self.producer.spill_path.exists():
            self._replay()
        self._upload_counts()
        self.run_control().drain_streams(timeout=120)
        metrics = {
            "received": click_ingest.RECEIVED_METRIC,
            "accepted": click_ingest.ACCEPTED_METRIC,
            "duplicates": click_ingest.DUPLICATE_METRIC,
            "quarantined": click_ingest.QUARANTINED_METRIC,
        }
        cloudwatch = self.run.client("cloudwatch")
        namespace = self.run.outputs.get("MetricsNamespace", "")
        counts = {k: _metric_sum(cloudwatch, namespace, m) for k, m in metrics.items()}
        reasons = {
            dim["Value"]: int(_metric_sum(cloudwatch, namespace, metric["MetricName"], dim))
            for metric in cloudwatch.list_metrics(
                Namespace=namespace, MetricName=click_ingest.QUARANTINED_BY_REASON_METRIC
            )["Metrics"]
            for dim in metric["Dimensions"]
        }
        freshness = _metric_max(cloudwatch, namespace, FRESHNESS_METRIC)
        faults = self.run.truth.get("faults", {})
        return {
            "offered": self.offered,
            "spilled_during_outage": self.spilled,
            "replayed_after_outage": self.replayed,
            "in": int(counts["received"]),
            "accepted": int(counts["accepted"]),
            "duplicates_in_batch": int(counts["duplicates"]),
            "quarantined": int(counts["quarantined"]),
            "quarantined_by_reason": dict(sorted(reasons.items())),
            "dedup": self._dedup_totals(),
            "restated_days": self._restated_days(),
            "incomplete_days": self._incomplete_days(),
            "spilled_by_event_day": self._spilled_by_day(),
            "outage": [t.isoformat() for t in self.outage] if self.outage else None,
            "alarm_states_around_outage": {
                key: [{"state": state, "since": since} for state, since in seen]
                for key, seen in self.outage_alarms.items()
            },
            "freshness_alarm": self._freshness_alarm(),
            "max_freshness_hours": freshness,
            "seconds_in_steps": round(self.seconds_in_steps, 1),
            # Empty without a truth.json: the summary then reports figures only.
            "truth": {}
            if not self.run.truth
            else {
                "natural_duplicate_copies": faults.get("click_natural_duplicates", {}).get(
                    "copies"
                ),
                "synthetic_duplicates": len(faults.get("click_synthetic_duplicates", [])),
                "too_late": len(faults.get("too_late_clicks", [])),
                "accepted_event_ids": self.run.truth.get("totals", {})
                .get("clicks", {})
                .get("expected_accepted_event_ids"),
                "unknown_account_clicks": self.run.truth.get("totals", {})
                .get("clicks", {})
                .get("expected_unknown_account_clicks"),
                "malformed": len(
                    [f for f in faults.get("malformed_records", []) if f.get("input") == "clicks"]
                ),
            },
        }

    def _curated(self, table: schemas.Table) -> pa.Table:
        s3 = self.run.client("s3")
        bucket = self.run.outputs["CuratedBucketName"]
        keys = s3_objects.list_keys(s3, bucket=bucket, prefix=f"{table.prefix}/")
        tables = []
        for key in keys:
            if not key.endswith(".parquet"):
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            part = pq.read_table(pa.BufferReader(body))
            dt = key.split("/dt=")[1].split("/")[0] if "/dt=" in key else ""
            tables.append(part.append_column("dt", pa.array([dt] * part.num_rows, pa.string())))
        return pa.concat_tables(tables) if tables else pa.table({})

    def _freshness_alarm(self) -> dict[str, Any]:
        """When click-freshness went to ALARM and back to OK around the outage."""
        seen = self.outage_alarms.get("click-freshness", [])
        fired = next((since for state, since in seen if state == "ALARM"), None)
        cleared = None
        if fired is not None:
            cleared = next((s for st, s in seen if st == "OK" and s > fired), None)
        during = False
        if fired is not None and self.outage is not None:
            during = self.outage[0] <= _parse(fired) <= self.outage[1]
        return {"fired_at": fired, "cleared_at": cleared, "fired_during_outage": during}

    def _spilled_by_day(self) -> dict[str, int]:
        """Clicks spilled per event day (stream_completeness): why a day is incomplete."""
        table = self._curated(schemas.STREAM_COMPLETENESS)
        if table.num_rows == 0:
            return {}
        spilled = table.filter(pc.greater(table.column("spilled"), 0))
        totals: dict[str, int] = {}
        for dt, count in zip(
            spilled.column("dt").to_pylist(), spilled.column("spilled").to_pylist(), strict=True
        ):
            totals[dt] = totals.get(dt, 0) + int(count)
        return dict(sorted(totals.items()))

    def _dedup_totals(self) -> dict[str, int]:
        table = self._curated(schemas.DEDUP_DAILY)
        names = (
            "rows_landed",
            "rows_kept",
            "natural_duplicates",
            "synthetic_duplicates",
            "unknown_account_clicks",
        )
        if table.num_rows == 0:
            return {n: 0 for n in names}
        return {n: int(pc.sum(table.column(n)).as_py() or 0) for n in names}

    def _restated_days(self) -> list[str]:
        """The days of engagement_daily restated (other tables restate their own periods)."""
        table = self._curated(schemas.RESTATEMENTS)
        if table.num_rows == 0:
            return []
        mine = table.filter(pc.equal(table.column("table_name"), schemas.ENGAGEMENT_DAILY.name))
        return sorted(set(mine.column("period").to_pylist()))

    def _incomplete_days(self) -> list[str]:
        table = self._curated(schemas.ENGAGEMENT_DAILY)
        if table.num_rows == 0:
            return []
        incomplete = table.filter(pc.invert(table.column("complete")))
        return sorted(set(incomplete.column("dt").to_pylist()))

    def lines(self, section: dict[str, Any]) -> list[str]:
        reasons = ", ".join(f"{k} {v}" for k, v in section["quarantined_by_reason"].items())
        dedup = section["dedup"]
        truth = section["truth"]
        in_batch = section["duplicates_in_batch"]
        counted = dedup["natural_duplicates"] + dedup["synthetic_duplicates"]
        expected = (truth.get("natural_duplicate_copies") or 0) + (
            truth.get("synthetic_duplicates") or 0
        )
        verdict = "match" if counted == expected else "DIFFER"
        spilled_days = ", ".join(f"{d} ({n})" for d, n in section["spilled_by_event_day"].items())
        freshness = section["freshness_alarm"]
        transitions = "; ".join(
            f"{key}: " + " -> ".join(f"{t['state']} {t['since'][:16]}" for t in seen)
            for key, seen in section["alarm_states_around_outage"].items()
        )
        return [
            f"clicks in {section['in']} (offered {section['offered']}): accepted "
            f"{section['accepted']}, in-batch duplicates {in_batch}, "
            f"quarantined {section['quarantined']}",
            f"quarantined by reason: {reasons or 'none'}",
            f"duplicates removed {counted} (dedup_daily: {dedup['natural_duplicates']} natural / "
            f"{dedup['synthetic_duplicates']} synthetic, in-batch and across batches; "
            f"{in_batch} of them in batch, as the ingest counted)"
            + (
                f"; truth {expected} (natural {truth['natural_duplicate_copies']}, synthetic "
                f"{truth['synthetic_duplicates']}), {verdict}; too late: truth {truth['too_late']}"
                if truth
                else ""
            ),
            *([_truth_check(section)] if truth else []),
            f"outage {' .. '.join(section['outage'] or ['none'])}: spilled "
            f"{section['spilled_during_outage']}, replayed {section['replayed_after_outage']}",
            f"incomplete days {', '.join(section['incomplete_days']) or 'none'}; clicks spilled "
            f"by event day: {spilled_days or 'none'} (late clicks sent during the outage "
            f"count under their own, earlier, day)",
            f"restated days ({len(section['restated_days'])}): "
            f"{_day_ranges(section['restated_days']) or 'none'}",
            f"freshness alarm (48 h): fired {freshness['fired_at'] or 'never'}"
            f"{' during the outage' if freshness['fired_during_outage'] else ''}, cleared "
            f"{freshness['cleared_at'] or 'not yet'}; max freshness "
            f"{section['max_freshness_hours']} h",
            f"alarms around the outage: {transitions or 'not observed'}",
        ]


def _truth_check(section: dict[str, Any]) -> str:
    """Distinct clicks kept (dedup_daily, outage replays included), clicks of unknown
    accounts (dedup_daily) and clicks quarantined too_late, each against truth.json."""
    truth = section["truth"]
    kept = section["dedup"]["rows_kept"]
    unknown = section["dedup"].get("unknown_account_clicks", 0)
    too_late = section["quarantined_by_reason"].get("too_late", 0)
    checks = [
        ("distinct clicks kept", kept, truth.get("accepted_event_ids")),
        ("unknown_account", unknown, truth.get("unknown_account_clicks") or 0),
        ("too late", too_late, truth.get("too_late")),
    ]
    return "vs truth.json: " + ", ".join(
        f"{name} {got} ({'match' if got == want else f'DIFFER: truth {want}'})"
        for name, got, want in checks
    )


def _day_ranges(days: list[str]) -> str:
    """'2026-09-01..2026-09-03, 2026-09-05' for sorted ISO days."""
    ranges: list[list[date]] = []
    for day in sorted(date.fromisoformat(d) for d in days):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join(
        first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        for first, last in ranges
    )


def _iso(value: Any) -> str | None:
    """An alarm timestamp as ISO UTC. moto keeps naive UTC and boto3 may read it as local
    time: the digits are UTC either way."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC).isoformat()


def _event_days(payloads: list[bytes]) -> set[str]:
    """The UTC days of the clicks' event times (the producer counts them under those)."""
    days = set()
    for payload in payloads:
        # Decoded as the ingest decodes it: only a record it accepts counts under a day.
        click = parse_payload(payload)
        event_time = click.event_time if isinstance(click, ClickPayload) else None
        if isinstance(event_time, int) and 0 < event_time < MAX_EPOCH_MS:
            days.add(datetime.fromtimestamp(event_time / 1000, UTC).date().isoformat())
    return days


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _envelopes(path: Path) -> Iterator[tuple[int, bytes]]:
    """(send_at, the record's bytes as written) of every line of a replay file, in file
    (send) order, split out as `pablo send-clicks` does: never decoded and re-encoded."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            envelope = replay_envelope(line.rstrip(b"\r\n"))
            if envelope is None:
                raise ValueError(f"{path}:{number}: not a replay envelope {{send_at, record}}")
            yield envelope


def _metric_stats(
    cloudwatch: Any, namespace: str, metric: str, dimension: dict[str, str] | None, stat: str
) -> list[float]:
    now = datetime.now(UTC)
    found = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension["Name"], "Value": dimension["Value"]}] if dimension else [],
        StartTime=now - timedelta(days=3650),
        EndTime=now + timedelta(days=3650),
        Period=86400,
        Statistics=[stat],
    )
    return [float(p[stat]) for p in found["Datapoints"]]


def _metric_sum(
    cloudwatch: Any, namespace: str, metric: str, dimension: dict[str, str] | None = None
) -> float:
    return sum(_metric_stats(cloudwatch, namespace, metric, dimension, "Sum"))


def _metric_max(cloudwatch: Any, namespace: str, metric: str) -> float | None:
    values = _metric_stats(cloudwatch, namespace, metric, None, "Maximum")
    return round(max(values), 1) if values else None
