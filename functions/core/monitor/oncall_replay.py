"""Quarantine replay plans (pure): which quarantined records to re-send after a fix, and how.

Clicks go back to Kinesis with their original bytes; lines of landing files are re-landed as
one new file per original file, next to it, named from the lines (same lines, same key).
A record (its reason and exact bytes: `Quarantined.digest`) is replayed once:

- replayed record: pk `oncall#replayed#<pipeline>#<reason>`, sk the record's digest;
- replay run: pk `oncall#replay`, sk `<replayed_at>#<pipeline>#<reason>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from functions.core.codes import CLICKS_SOURCE
from functions.core.landing import BucketRole, Classified, classify
from functions.core.times import format_seconds

REPLAY_PK: Final = "oncall#replay"
REPLAYED_PK_PREFIX: Final = "oncall#replayed#"


@dataclass(frozen=True)
class Quarantined:
    """One quarantine row, as much as a replay needs."""

    record_id: str
    source: str
    reason: str
    raw: bytes
    source_key: str | None
    line_number: int | None

    @property
    def digest(self) -> str:
        """Identity of the record for replay: its reason and its exact bytes."""
        return hashlib.sha256(self.reason.encode() + b"\0" + self.raw).hexdigest()[:32]


@dataclass(frozen=True)
class ReplayFile:
    """A new landing file holding quarantined lines of one original file."""

    bucket_role: BucketRole
    key: str
    body: bytes
    digests: tuple[str, ...]


@dataclass(frozen=True)
class ReplayPlan:
    clicks: tuple[Quarantined, ...]
    files: tuple[ReplayFile, ...]
    already_replayed: int
    not_replayable: tuple[tuple[Quarantined, str], ...]  # the row and why

    @property
    def records(self) -> int:
        return len(self.clicks) + sum(len(f.digests) for f in self.files)

    def digests(self) -> list[str]:
        return [r.digest for r in self.clicks] + [d for f in self.files for d in f.digests]


def plan_replay(
    rows: Iterable[Quarantined],
    *,
    reason: str,
    replayed: set[str],
    headers: Mapping[str, bytes | None],
) -> ReplayPlan:
    """What to re-send for `reason`: clicks back to Kinesis, file lines as new landing
    files named from their content (same rows -> same key), skipping `replayed` digests.

    `headers` maps an original CSV landing key to its header line (None if unreadable).
    """
    chosen: dict[str, Quarantined] = {}
    skipped = 0
    for row in rows:
        if row.reason != reason or row.digest in chosen:
            continue
        if row.digest in replayed:
            skipped += 1
            continue
        chosen[row.digest] = row
    clicks = tuple(r for r in chosen.values() if r.source == CLICKS_SOURCE)
    by_file: dict[tuple[BucketRole, str], list[Quarantined]] = {}
    refused: list[tuple[Quarantined, str]] = []
    for row in chosen.values():
        if row.source == CLICKS_SOURCE:
            continue
        role = landing_role(row)
        if role is None or row.source_key is None:
            refused.append((row, "not from a landing file: re-run its pipeline after the fix"))
            continue
        by_file.setdefault((role, row.source_key), []).append(row)
    files = []
    for (role, source_key), lines in sorted(by_file.items()):
        header = headers.get(source_key) if source_key.endswith(".csv") else b""
        if header is None:
            refused += [(r, f"header of {source_key} unreadable") for r in lines]
            continue
        files.append(replay_file(role, source_key, reason, lines, header))
    return ReplayPlan(clicks, tuple(files), skipped, tuple(refused))


def landing_role(row: Quarantined) -> BucketRole | None:
    """The bucket the row's original file landed in, if it is a landing file."""
    if row.source_key is None:
        return None
    for role in BucketRole:
        classified = classify(role, row.source_key)
        if isinstance(classified, Classified) and classified.source == row.source:
            return role
    return None


def replay_file(
    role: BucketRole, source_key: str, reason: str, lines: Sequence[Quarantined], header: bytes
) -> ReplayFile:
    """`<period folder>/replay-<reason>-<digest>.<ext>` next to the original file: the same
    delivery period, a name derived from the lines, so a second replay finds it."""
    ordered = sorted(lines, key=lambda r: (r.line_number or 0, r.record_id))
    digests = tuple(r.digest for r in ordered)
    name_digest = hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]
    folder, _, file_name = source_key.rpartition("/")
    extension = file_name.rsplit(".", 1)[1] if "." in file_name else "txt"
    key = f"{folder}/replay-{reason}-{name_digest}.{extension}"
    body = b"".join(
        line if line.endswith(b"\n") else line + b"\n"
        for line in ([header] if header else []) + [r.raw for r in ordered]
    )
    return ReplayFile(role, key, body, digests)


def replayed_pk(pipeline: str, reason: str) -> str:
    return f"{REPLAYED_PK_PREFIX}{pipeline}#{reason}"


def replay_run_item(
    *, pipeline: str, reason: str, at: datetime, by: str, plan: ReplayPlan, targets: list[str]
) -> dict[str, Any]:
    stamp = format_seconds(at)
    return {
        "pk": REPLAY_PK,
        "sk": f"{stamp}#{pipeline}#{reason}",
        "pipeline": pipeline,
        "reason": reason,
        "replayed_at": stamp,
        "by": by,
        "records": plan.records,
        "clicks": len(plan.clicks),
        "files": [f.key for f in plan.files],
        "targets": targets,
    }


def replay_lines(plan: ReplayPlan, *, dry_run: bool) -> list[str]:
    verb = "would re-send" if dry_run else "re-sent"
    lines = [f"{verb} {plan.records} records ({plan.already_replayed} already replayed)"]
    if plan.clicks:
        lines.append(f"  {len(plan.clicks)} clicks back into the click stream")
    lines += [f"  {len(f.digests)} lines as {f.key}" for f in plan.files]
    for row, why in plan.not_replayable:
        lines.append(f"  not replayed: {row.record_id}: {why}")
    return lines
