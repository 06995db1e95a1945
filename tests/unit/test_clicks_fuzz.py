"""Fuzzing the click ingest core: whatever arrives, nothing raises and nothing is lost.

Batches are drawn from arbitrary bytes, arbitrary Kinesis `data` values, and click-shaped
JSON with every JSON type in every field, deep nesting (past 1,000 levels), huge strings,
lone surrogates (escaped and raw), byte-order marks, invalid UTF-8, repeated keys and
NaN/Infinity literals. For every batch: no exception, received = accepted + duplicates +
quarantined, every record in exactly one place, known reason codes, and both outputs
writable as the handler writes them.
"""

from __future__ import annotations

import base64
import codecs
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.core import schemas
from functions.core.ingest import clicks
from functions.core.parquet import write_parquet
from tests.click_corpus import kinesis_records

ARRIVAL = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
ARRIVAL_MS = int(ARRIVAL.timestamp() * 1000)
FIELDS = ("event_id", "account_id", "user_id", "event_type", "event_time", "page")
DEPTH_LIMIT = schemas.CLICK_LIMITS.max_nesting_depth


class Obj(list[tuple[str, Any]]):
    """A JSON object as written: its pairs in order, repeated keys allowed."""


@dataclass(frozen=True)
class Deep:
    """`inner` wrapped in `depth` arrays or single-key objects (written without recursion)."""

    inner: Any
    depth: int
    as_object: bool


def dump(value: Any, *, ascii_only: bool) -> str:
    """JSON text of `value`; objects may repeat keys, floats may be NaN/Infinity."""
    if isinstance(value, Deep):
        opener, closer = ('{"a":', "}") if value.as_object else ("[", "]")
        return (
            opener * value.depth + dump(value.inner, ascii_only=ascii_only) + closer * value.depth
        )
    if isinstance(value, Obj):
        inner = ",".join(
            f"{dump(k, ascii_only=ascii_only)}:{dump(v, ascii_only=ascii_only)}" for k, v in value
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v, ascii_only=ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)  # NaN, Infinity as their literals


surrogates = st.sampled_from(["\ud800", "\udfff", "\udcff", "a\ud83d", "\ude00b"])
texts = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=6) | surrogates,
    st.sampled_from(["", " ", "\u3000", "a:b", "\\u003a", "[[[", "}", '"', "acct-1", "click"]),
)
scalars = st.one_of(
    st.none(),
    st.integers(0, 300_000).map(lambda n: "x" * n),  # huge strings
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities included
    texts,
    st.sampled_from([ARRIVAL_MS, ARRIVAL_MS - 60_000, ARRIVAL_MS // 1000, -1, 0, 2**63]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.lists(st.tuples(texts, inner), max_size=4).map(Obj)
    ),
    max_leaves=12,
)


# Around the contract's limit, and far past any stack: Hypothesis raises the interpreter's
# recursion limit while a test runs, so 1,000 levels alone would not reach it here.
DEPTHS = [1, DEPTH_LIMIT - 2, DEPTH_LIMIT - 1, DEPTH_LIMIT, 1_000, 20_000, 100_000]
deep_values = st.builds(
    Deep,
    json_values,
    st.sampled_from(DEPTHS),
    st.booleans(),
)
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.sampled_from(["e1", "e2", "e3"]),
    "account_id": st.sampled_from(["acct-1", "a" * 128, "a" * 129]),
    "user_id": st.sampled_from(["u1", "u:2"]),
    "event_type": st.sampled_from(schemas.CLICK_EVENT_TYPES),
    "event_time": st.integers(ARRIVAL_MS - 8 * 86_400_000, ARRIVAL_MS + 600_000),
    "page": st.none() | st.just("/reports"),
}


@st.composite
def click_objects(draw: st.DrawFn) -> Obj:
    """A click whose fields are valid or any JSON value (deep ones too), some missing,
    some repeated, with unknown fields."""
    pairs = Obj()
    for name in FIELDS:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue  # missing
        if choice <= 6:
            pairs.append((name, draw(valid_values[name])))
        elif choice <= 8:
            pairs.append((name, draw(json_values)))
        else:
            pairs.append((name, draw(deep_values)))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append(
            (draw(st.sampled_from(["extra", "x", *FIELDS])), draw(json_values | deep_values))
        )
    return Obj(draw(st.permutations(pairs)))


BOMS = [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    value = draw(click_objects() | json_values | deep_values)
    text = dump(value, ascii_only=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")  # a raw lone surrogate: invalid UTF-8
    mutation = draw(st.integers(0, 7))
    if mutation == 0:
        raw = draw(st.sampled_from(BOMS)) + raw
    elif mutation == 1 and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at + 1 :]
    elif mutation == 2:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == 3:
        raw = raw + b"\n" + raw
    return raw


kinesis_data = st.one_of(
    payloads().map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=16),  # mostly not base64
    st.none() | st.integers() | st.binary(max_size=8),  # not text at all
)


def _records(datas: list[Any]) -> list[dict[str, Any]]:
    return kinesis_records(datas, ARRIVAL.timestamp())


def _check_batch(datas: list[Any]) -> None:
    # When the batch is decoded (any exception fails the test)
    outcome = clicks.decode_batch(_records(datas), now=ARRIVAL)
    # Then received = accepted + duplicates + quarantined
    accepted, quarantined = outcome.accepted.num_rows, outcome.quarantined.num_rows
    assert outcome.received == len(datas) == accepted + outcome.duplicates + quarantined
    # and no record is in two places, and every reason is a documented code
    seqs = outcome.quarantined.column("sequence_number").to_pylist()
    seqs += outcome.accepted.column("sequence_number").to_pylist()
    assert len(seqs) == len(set(seqs))
    assert set(outcome.quarantined.column("reason").to_pylist()) <= set(clicks.REASON_CODES)
    ids = outcome.accepted.column("event_id").to_pylist()
    assert len(ids) == len(set(ids))
    # and both outputs can be written as the handler writes them
    write_parquet(outcome.quarantined, schemas.QUARANTINE)
    write_parquet(outcome.accepted, schemas.RAW_CLICKS)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(payloads(), min_size=1, max_size=8))
def test_click_shaped_batches_never_raise_and_balance(raws: list[bytes]) -> None:
    # Given a batch of click-shaped JSON, mutated
    _check_batch([base64.b64encode(raw).decode() for raw in raws])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(kinesis_data, max_size=10))
def test_arbitrary_kinesis_data_never_raises_and_balances(datas: list[Any]) -> None:
    # Given a batch of anything a Kinesis record's data could hold, and more
    _check_batch(datas)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(payloads())
def test_a_payload_gets_the_same_verdict_on_the_fast_and_careful_paths(raw: bytes) -> None:
    # Given one payload alone (the fast path, when it is clean) and next to "!" (careful)
    data = base64.b64encode(raw).decode()
    alone = clicks.decode_batch(_records([data]), now=ARRIVAL)
    careful = clicks.decode_batch(_records([data, "!"]), now=ARRIVAL)
    # Then both put it in the same place, with the same reason
    assert _verdict(alone) == _verdict(careful), raw[:200]


def _verdict(outcome: clicks.BatchOutcome) -> Any:
    for row in outcome.quarantined.to_pylist():
        if row["sequence_number"] == "0":
            return row["reason"]
    return [
        {k: v for k, v in r.items() if k != "sequence_number"} for r in outcome.accepted.to_pylist()
    ]


def test_nesting_is_measured_outside_strings_only() -> None:
    # Given brackets inside strings (escaped quotes included) and real nesting
    in_strings = b'{"a":"[[[[","b":"\\"[[[[{{{{"}'
    # Then only the real nesting counts
    assert not clicks.nests_deeper_than(in_strings, 1)
    assert clicks.nests_deeper_than(b'{"a":[[1]]}', 2)
    assert not clicks.nests_deeper_than(b'{"a":[[1]]}', 3)
