"""`pablo send-clicks FILE`: send the lines of a file to the click stream, byte for byte.

Each line's bytes are sent exactly as read, without its line ending (LF or CRLF): nothing is
decoded and encoded again, so `NaN` stays `NaN`, a repeated key stays repeated, and invalid
UTF-8 or a lone surrogate is sent as is, for the ingest function to quarantine with the
right reason. Empty lines are skipped (Kinesis takes no empty record).

One exception: a generator replay envelope, a line that is exactly a JSON object with the
keys `send_at` (an integer) and `record`, sends its record instead (send_at is ignored: the
caller paces the replay). The record's bytes are the ones written in the line; a record that
is a JSON string is sent as the string's content (how the generator spells payloads that are
not objects). The envelope is found by scanning the line's structure, never by parsing the
record, so a record holding NaN, repeated keys or deep nesting is still sent as written.

The partition key is the record's account_id when it can be read, else a hash of its bytes
(pablo.producer.click_producer.partition_key). A line over Kinesis's 1 MB limit cannot be
sent: it is kept in the rejected file next to the spill and the others go on. The stream is
the deployed stack's (output `ClickStreamName`) unless `--stream` names one. Exit code 1 when
anything was spilled (with why, on stderr) or rejected, or a `--replay-spill` left records in
the spill.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from functions.core.errors import ConfigurationError
from functions.core.ingest.clicks import JSON_STRUCTURE, OVERSIZED_RECORD
from pablo import stack
from pablo.producer.click_producer import ClickProducer

CLICK_STREAM_OUTPUT: Final = "ClickStreamName"


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise ConfigurationError(f"{args.file} is not a file")
    target = stack.command_target(args)
    stream = args.stream or stack.stack_output(
        target.client("cloudformation"), args.stack_name, CLICK_STREAM_OUTPUT
    )
    producer = ClickProducer(
        client=target.client("kinesis"),
        stream_name=stream,
        spill_path=args.spill,
        producer_id=args.producer_id,
    )
    still_spilled = 0
    if args.replay_spill:
        if args.counts_bucket:
            # The counts this producer id uploaded before: the replay moves its records from
            # spilled to sent in them, instead of uploading the replay's counts alone.
            spilled_days = {r.minute.date().isoformat() for r in producer.spilled_records()}
            producer.resume_counts(
                target.client("s3"), bucket=args.counts_bucket, days=spilled_days
            )
        replayed = producer.replay_spill()
        still_spilled = replayed.spilled
        print(f"replayed {replayed.sent} spilled clicks ({still_spilled} still spilled)")
    result = producer.send(read_clicks(args.file))
    print(
        f"sent {result.sent} clicks to {stream} in {result.calls} calls "
        f"({result.failed_calls} failed), retried {result.retried}, "
        f"spilled {result.spilled} to {args.spill}"
    )
    if result.rejected:
        print(
            f"rejected {result.rejected} records larger than Kinesis's 1 MB limit: kept in "
            f"{producer.rejected_path} (reason {OVERSIZED_RECORD}); they cannot be sent"
        )
    if args.counts_out:
        producer.write_counts(args.counts_out)
    if args.counts_bucket:
        for key in producer.upload_counts(target.client("s3"), bucket=args.counts_bucket):
            print(f"counts: s3://{args.counts_bucket}/{key}")
    if result.spilled:
        print(f"pablo: spilled {result.spilled} clicks: {result.spill_reason}", file=sys.stderr)
    return 0 if result.spilled == result.rejected == still_spilled == 0 else 1


def read_clicks(path: Path) -> Iterator[bytes]:
    """The record bytes of each non-empty line, exactly as read (envelopes unwrapped)."""
    with path.open("rb") as lines:
        for line in lines:
            record = _without_line_ending(line)
            if not record:
                continue
            unwrapped = envelope_record(record)
            yield record if unwrapped is None else unwrapped


def _without_line_ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line


_SEND_AT: Final = re.compile(rb"-?[0-9]+")
_ENVELOPE_KEYS: Final = frozenset({"send_at", "record"})


def envelope_record(line: bytes) -> bytes | None:
    """The record's bytes when `line` is a replay envelope, else None (send the line)."""
    envelope = replay_envelope(line)
    return None if envelope is None else envelope[1]


def replay_envelope(line: bytes) -> tuple[int, bytes] | None:
    """(send_at, the record's bytes as written) when `line` is a replay envelope, else None.
    The record is never decoded and re-encoded: a repeated key, a NaN or an odd number
    reaches the stream, and the ingest's strict decoder, exactly as the file holds it."""
    members = _top_level_members(line)
    if members is None or len(members) != len(_ENVELOPE_KEYS):
        return None
    named: dict[str, bytes] = {}
    for raw_key, value in members:
        try:
            key = json.loads(raw_key)
        except ValueError:
            return None
        named[key] = value
    if set(named) != _ENVELOPE_KEYS or not _SEND_AT.fullmatch(named["send_at"]):
        return None
    record = named["record"]
    if record.startswith(b'"'):
        try:
            text = json.loads(record)
        except ValueError:
            return None
        record = str(text).encode("utf-8", "surrogatepass")
    return int(named["send_at"]), record


def _top_level_members(line: bytes) -> list[tuple[bytes, bytes]] | None:
    """(raw key, raw value) of each member of the JSON object `line`, the values' bytes as
    written (whitespace around them trimmed), or None when `line` is not shaped as one."""
    text = line.strip()
    if not (text.startswith(b"{") and text.endswith(b"}")):
        return None
    members: list[tuple[bytes, bytes]] = []
    depth = 0
    key: bytes | None = None
    value_start = -1
    for token in JSON_STRUCTURE.finditer(text):
        mark = token.group()[:1]
        if mark in (b"{", b"["):
            depth += 1
        elif mark in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                if token.end() != len(text) or key is None or value_start < 0:
                    return None
                members.append((key, text[value_start : token.start()].strip()))
                return members
        elif depth == 1:
            if mark == b'"' and key is None:
                key = token.group()
            elif mark == b":" and key is not None and value_start < 0:
                value_start = token.end()
            elif mark == b",":
                if key is None or value_start < 0:
                    return None
                members.append((key, text[value_start : token.start()].strip()))
                key, value_start = None, -1
    return None
