"""`pablo send-clicks FILE`: send JSON lines of clicks to the click stream.

Each line is a click payload, or a generator replay envelope `{"send_at": ..., "record": {...}}`
(the record is sent; send_at is ignored: the caller paces the replay). A line that is not
JSON is sent byte for byte, and so is an envelope whose record is a JSON string, so the
pipeline's quarantine can be exercised on purpose. The stream is the deployed stack's
(output `ClickStreamName`) unless `--stream` names one. Exit code 1 when anything was
spilled, with why on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from functions.core.errors import ConfigurationError
from pablo import stack
from pablo.producer import ClickProducer

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
    if args.replay_spill:
        replayed = producer.replay_spill()
        print(f"replayed {replayed.sent} spilled clicks ({replayed.spilled} still spilled)")
    result = producer.send(read_clicks(args.file))
    print(
        f"sent {result.sent} clicks to {stream} in {result.calls} calls, "
        f"resent {result.resent}, spilled {result.spilled} to {args.spill}"
    )
    if args.counts_out:
        producer.write_counts(args.counts_out)
    if args.counts_bucket:
        for key in producer.upload_counts(target.client("s3"), bucket=args.counts_bucket):
            print(f"counts: s3://{args.counts_bucket}/{key}")
    if result.spilled:
        print(f"pablo: spilled {result.spilled} clicks: {result.spill_reason}", file=sys.stderr)
        return 1
    return 0


def read_clicks(path: Path) -> Iterator[dict[str, Any] | bytes]:
    """Payloads of a JSON-lines file; envelopes are unwrapped, non-JSON lines kept as bytes."""
    with path.open("rb") as lines:
        for line in lines:
            stripped = line.rstrip(b"\r\n")
            if not stripped.strip():
                continue
            try:
                value = json.loads(stripped)
            except (ValueError, UnicodeDecodeError):
                yield stripped
                continue
            if isinstance(value, dict) and "record" in value and "send_at" in value:
                yield payload_of(value["record"])
            else:
                yield value if isinstance(value, dict) else stripped


def payload_of(record: Any) -> dict[str, Any] | bytes:
    """An envelope's record: an object is a click; a string is sent as its raw bytes."""
    if isinstance(record, dict):
        return record
    if isinstance(record, str):
        return record.encode("utf-8", "surrogatepass")
    return json.dumps(record).encode("utf-8")
