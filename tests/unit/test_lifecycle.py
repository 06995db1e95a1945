"""The lifecycle model: as data, printed in docs/metrics.md, and checked against the
generator's lifecycles (every hidden step found; nothing flagged on full histories)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import codes, lifecycle
from functions.core.ingest.account_events import PRICE_PER_SEAT_CENTS
from functions.core.lifecycle import Event, replay
from pablo.generate.accounts import STATUS_AFTER, build_accounts, missing_step_faults
from pablo.generate.model import PRICE_PER_SEAT_CENTS as GENERATOR_PRICES
from pablo.generate.model import GeneratorConfig

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(n: int, event_type: str, *, account: str = "acct-1", mrr: int = 3500) -> Event:
    return Event(f"e{n}", account, event_type, T0 + timedelta(days=n), "team", 1, mrr)


def _lifecycle_events(account: object, *, visible: bool) -> list[Event]:
    source = account.visible_events() if visible else account.events  # type: ignore[attr-defined]
    return [
        Event(e.event_id, e.account_id, e.event_type, e.event_time, e.plan, e.seats, e.mrr_cents)
        for e in source
    ]


def test_model_agrees_with_the_generator_and_the_contract() -> None:
    # given the generator's own status map and prices / when compared / then they agree
    assert {k: v for k, v in lifecycle.STATUS_AFTER.items()} == STATUS_AFTER
    assert PRICE_PER_SEAT_CENTS == GENERATOR_PRICES


def test_docs_print_the_model_generated_from_the_code() -> None:
    # given docs/metrics.md / when its generated blocks are read / then they equal the code's
    text = METRICS_DOC.read_text(encoding="utf-8")
    for name, expected in (
        ("lifecycle-transitions", lifecycle.markdown_table()),
        ("lifecycle-required-steps", lifecycle.required_steps_table()),
    ):
        match = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
        assert match is not None, name
        assert match.group(1) == expected


def test_renewed_without_renewal_due_is_flagged_and_inferred() -> None:
    # given subscribed -> renewed (renewal_due forgotten), then a seat change
    events = [_event(3, "seats_changed"), _event(2, "renewed"), _event(1, "subscribed")]
    # when replayed (out of order on purpose)
    result = replay(events)
    # then one issue names the pair and the missing step; the status is active, inferred
    assert [(i.from_event_id, i.to_event_id, i.missing_step) for i in result.issues] == [
        ("e1", "e2", "renewal_due")
    ]
    assert result.issues[0].inferred_status == "active"
    assert [(s.status, s.status_inferred) for s in result.states] == [
        ("active", False),
        ("active", True),
        ("active", True),
    ]


def test_clean_status_change_clears_the_inferred_mark() -> None:
    events = [_event(1, "subscribed"), _event(2, "churned", mrr=0), _event(3, "reactivated")]
    result = replay(events)
    assert [i.missing_step for i in result.issues] == ["cancelled"]
    assert [s.status_inferred for s in result.states] == [False, True, False]


def test_unexplainable_event_makes_the_status_unknown() -> None:
    result = replay([_event(1, "subscribed"), _event(2, "trial_started", mrr=0)])
    assert result.states[-1].status == lifecycle.UNKNOWN
    assert [i.missing_step for i in result.issues] == [codes.NO_VALID_PATH]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), days=st.integers(10, 120))
def test_generated_lifecycles_flag_exactly_the_hidden_steps(seed: int, days: int) -> None:
    # given a generated company (true histories and what the Accounts team recorded)
    config = GeneratorConfig(seed=seed, accounts=24, days=days)
    accounts = build_accounts(random.Random(seed), config)
    expected = sorted(
        (f["account_id"], f["from_event_id"], f["to_event_id"], f["missing_step"])
        for f in missing_step_faults(accounts)
    )
    found = []
    for account in accounts:
        if not account.events:
            continue
        # when the full history is replayed / then nothing is flagged
        assert replay(_lifecycle_events(account, visible=False)).issues == ()
        # when the recorded history is replayed / then exactly the hidden steps are found
        found += [
            (i.account_id, i.from_event_id, i.to_event_id, i.missing_step)
            for i in replay(_lifecycle_events(account, visible=True)).issues
        ]
    assert sorted(found) == expected


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), days=st.integers(10, 90))
def test_late_arrivals_are_put_in_event_time_order_before_checking(seed: int, days: int) -> None:
    # given each generated account's recorded events, in event-time order
    config = GeneratorConfig(seed=seed, accounts=12, days=days)
    shuffler = random.Random(seed)
    for account in build_accounts(random.Random(seed), config):
        events = _lifecycle_events(account, visible=True)
        if not events:
            continue
        # when they arrive in any order (late-recorded events after later ones)
        arrived = list(events)
        shuffler.shuffle(arrived)
        # then the replay is the same: same issues, same statuses
        assert replay(arrived) == replay(events)
