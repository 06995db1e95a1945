"""`pablo send-clicks FILE`: send JSON lines of clicks to the click stream.

Each line is a click payload, or a generator replay envelope `{"send_at": ..., "record": {...}}`
(the record is sent; send_at is ignored: the caller paces the replay). A line that is not
JSON is sent byte for byte, and so is an envelope whose record is a JSON string, so the
pipeline's quarantine can be exercised on purpose. Exit code 1 when anything was spilled.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from functions.core.errors import ConfigurationError
from pablo.local.context import LOCAL_REGION, local_client
from pablo.producer import ClickProducer

DEFAULT_STREAM = "pablo-clicks"
DEFAULT_SPILL = Path(".pablo/spill/clicks.jsonl")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send-clicks", help="send JSON lines of clicks to the Kinesis click stream"
    )
    parser.add_argument("file", type=Path, help="JSON lines: payloads or replay envelopes")
    parser.add_argument("--stream", default=DEFAULT_STREAM, help="Kinesis stream name")
    parser.add_argument("--endpoint", help="endpoint URL (e.g. the local emulator)")
    parser.add_argument("--region", default=LOCAL_REGION)
    parser.add_argument("--spill", type=Path, default=DEFAULT_SPILL, help="spill file")
    parser.add_argument("--producer-id", default="send-clicks")
    parser.add_argument("--counts-out", type=Path, help="write per-minute counts here")
    parser.add_argument(
        "--replay-spill",
        action="store_true",
        help="first resend what an earlier run spilled (with --counts-bucket, its uploaded "
        "counts are taken up and corrected: the replayed minutes are no longer spilled)",
    )
    parser.add_argument(
        "--counts-bucket",
        help="raw bucket: upload the per-minute counts to raw/producer_counts/ (outage detection)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise ConfigurationError(f"{args.file} is not a file")
    producer = ClickProducer(
        client=_client(args.endpoint, args.region),
        stream_name=args.stream,
        spill_path=args.spill,
        producer_id=args.producer_id,
    )
    s3 = None
    if args.counts_bucket:
        s3 = local_client("s3", args.endpoint, args.region) if args.endpoint else boto3.client("s3")
    if args.replay_spill:
        if s3 is not None:
            spilled_days = {r.minute.date().isoformat() for r in producer.spilled_records()}
            producer.resume_counts(s3, bucket=args.counts_bucket, days=spilled_days)
        replayed = producer.replay_spill()
        print(f"replayed {replayed.sent} spilled clicks ({replayed.spilled} still spilled)")
    result = producer.send(read_clicks(args.file))
    print(
        f"sent {result.sent} clicks in {result.calls} calls, resent {result.resent}, "
        f"spilled {result.spilled} to {args.spill}"
    )
    if args.counts_out:
        producer.write_counts(args.counts_out)
    if s3 is not None:
        for key in producer.upload_counts(s3, bucket=args.counts_bucket):
            print(f"counts: s3://{args.counts_bucket}/{key}")
    return 0 if result.spilled == 0 else 1


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


def _client(endpoint: str | None, region: str) -> Any:
    if endpoint:
        return local_client("kinesis", endpoint, region)

    return boto3.client("kinesis", region_name=region)  # real AWS: the usual credentials
