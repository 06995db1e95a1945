"""`pablo generate`: write the synthetic company's raw inputs, truth.json and manifest.json."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from functions.core.errors import ConfigurationError
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from exc


def run(args: argparse.Namespace) -> int:
    config = GeneratorConfig(
        seed=args.seed,
        accounts=args.accounts,
        start=args.start,
        days=args.days,
        clicks_per_user_day=args.clicks_per_user_day,
    )
    if args.out.exists() and not args.out.is_dir():
        raise ConfigurationError(f"{args.out} exists and is not a folder")
    truth = generate(config, args.out, progress=not args.no_progress and sys.stderr.isatty())
    print(summary(truth, args.out))
    return 0


def summary(truth: dict[str, Any], out: Path) -> str:
    clicks = truth["totals"]["clicks"]
    faults = truth["faults"]
    window = truth["window"]
    revenue = truth["totals"]["invoices"]["revenue_cents_by_month"]
    lines = [
        f"generated {window['start']}..{window['last_day']} "
        f"({truth['accounts']['count']} accounts, {truth['accounts']['users']} users) in {out}",
        f"clicks: {clicks['records_sent']} records sent, "
        f"{clicks['distinct_valid_event_ids']} distinct valid event ids, "
        f"{clicks['natural_duplicate_copies']} natural + "
        f"{clicks['synthetic_duplicate_copies']} synthetic duplicates, "
        f"{clicks['late_records']} late, {clicks['too_late_records']} too late",
        f"stream outage {faults['stream_outage']['start']}..{faults['stream_outage']['end']}: "
        f"{faults['stream_outage']['clicks_in_window']} records",
        "revenue by month (USD): " + ", ".join(f"{m} {c / 100:,.2f}" for m, c in revenue.items()),
        f"faults: {len(faults['malformed_records'])} malformed records, "
        f"{len(faults['lifecycle_missing_steps'])} missing lifecycle steps, "
        f"{len(faults['ledger_mismatch'])} ledger mismatch, SRM in {', '.join(faults['srm'])}",
        f"truth: {out / 'truth.json'}",
    ]
    return "\n".join(lines)
