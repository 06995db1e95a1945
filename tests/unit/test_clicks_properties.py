"""Property tests: the batch invariant, and the fast and careful paths agreeing."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.core import schemas
from functions.core.ingest import clicks
from tests.click_corpus import kinesis_records

ARRIVAL = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
ARRIVAL_MS = int(ARRIVAL.timestamp() * 1000)

valid_click = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["e1", "e2", "e3", "e4", "x:y"]),
        "account_id": st.text(min_size=1, max_size=12).filter(str.strip),
        "user_id": st.sampled_from(["u1", "u2", "u:3"]),
        "event_type": st.sampled_from(schemas.CLICK_EVENT_TYPES),
        "event_time": st.integers(ARRIVAL_MS - 6 * 86_400_000, ARRIVAL_MS),
        "page": st.none() | st.text(max_size=20),
    }
)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
mutated_click = valid_click.flatmap(
    lambda click: st.dictionaries(
        st.sampled_from([*click.keys(), "extra"]), json_scalar, max_size=3
    ).map(lambda changes: {**click, **changes})
)


def _json_bytes(value: dict[str, Any], style: int) -> bytes:
    if style == 0:
        return json.dumps(value, separators=(",", ":")).encode()
    if style == 1:
        return json.dumps(value, indent=2).encode()  # newlines: the fast path must step aside
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


payload_bytes = st.one_of(
    st.binary(max_size=64),
    st.tuples(valid_click, st.integers(0, 2)).map(lambda t: _json_bytes(*t)),
    st.tuples(mutated_click, st.integers(0, 2)).map(lambda t: _json_bytes(*t)),
)
kinesis_data = st.one_of(
    payload_bytes.map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=16),  # mostly not base64
)


def _records(datas: list[str]) -> list[dict[str, Any]]:
    return kinesis_records(datas, ARRIVAL.timestamp())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(kinesis_data, max_size=12))
def test_every_record_lands_in_exactly_one_place(datas: list[str]) -> None:
    # when any mix of records is decoded
    outcome = clicks.decode_batch(_records(datas), now=ARRIVAL)
    # then in = accepted + duplicates + quarantined, with known reasons and unique event ids
    quarantined = outcome.quarantined.num_rows
    assert len(datas) == outcome.accepted.num_rows + outcome.duplicates + quarantined
    assert outcome.duplicate_copies.num_rows == outcome.duplicates
    assert set(outcome.quarantined.column("reason").to_pylist()) <= set(clicks.REASON_CODES)
    ids = outcome.accepted.column("event_id").to_pylist()
    assert len(ids) == len(set(ids))
    seqs = outcome.quarantined.column("sequence_number").to_pylist()
    seqs += outcome.accepted.column("sequence_number").to_pylist()
    assert len(seqs) == len(set(seqs))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(mutated_click, st.integers(0, 2)), min_size=1, max_size=6))
def test_a_record_gets_the_same_verdict_alone_or_among_bad_neighbours(
    clicks_and_styles: list[tuple[dict[str, Any], int]],
) -> None:
    # given payloads decoded as a batch (fast path when all are clean) ...
    payloads = [_json_bytes(c, style) for c, style in clicks_and_styles]
    datas = [base64.b64encode(p).decode() for p in payloads]
    together = clicks.decode_batch(_records(datas), now=ARRIVAL)
    # ... and each one next to a record that forces the careful path
    for i, data in enumerate(datas):
        alone = clicks.decode_batch(_records([data]), now=ARRIVAL)
        careful = clicks.decode_batch(_records([data, "!"]), now=ARRIVAL)
        # then the verdicts agree
        assert _verdict(alone, 0) == _verdict(careful, 0), payloads[i]
    assert together.received == len(datas)


def _verdict(outcome: clicks.BatchOutcome, seq: int) -> Any:
    for row in outcome.quarantined.to_pylist():
        if row["sequence_number"] == str(seq):
            return row["reason"]
    for row in outcome.accepted.to_pylist():
        if row["sequence_number"] == str(seq):
            return {k: v for k, v in row.items() if k != "sequence_number"}
    return "duplicate"


@given(st.one_of(st.text(max_size=12), st.binary(max_size=12).map(base64.b64encode)))
def test_strict_base64_agrees_with_b64decode_validate(text: str | bytes) -> None:
    try:
        expected: bytes | None = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        expected = None
    try:
        got: bytes | None = clicks.strict_b64decode(text)
    except (binascii.Error, ValueError):
        got = None
    assert got == expected


base64ish = st.text(alphabet="QUJDYWa+/=\n ", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(base64ish)
def test_base64_verdicts_are_the_same_on_the_fast_and_careful_paths(text: str) -> None:
    # given near-base64 text next to a clean record (fast path) and next to "!" (careful)
    good = base64.b64encode(
        json.dumps(
            {
                "event_id": "e1",
                "account_id": "a",
                "user_id": "u1",
                "event_type": schemas.CLICK_EVENT_TYPES[0],
                "event_time": ARRIVAL_MS,
            }
        ).encode()
    ).decode()
    fast = clicks.decode_batch(_records([good, text]), now=ARRIVAL)
    careful = clicks.decode_batch(_records([text, "!"]), now=ARRIVAL)
    # then the text gets the same verdict either way
    assert _reason(fast, "1") == _reason(careful, "0")


def _reason(outcome: clicks.BatchOutcome, seq: str) -> str:
    for row in outcome.quarantined.to_pylist():
        if row["sequence_number"] == seq:
            return str(row["reason"])
    return "accepted_or_duplicate"
