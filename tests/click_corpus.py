"""The hand-built corpus of click records, bad and borderline, with where each must end up.

One place for both tests that use it: tests/unit/test_clicks.py puts every case through
`decode_batch`, and tests/e2e/test_click_corpus_deployed.py puts the cases that can
travel through Kinesis on the deployed stream of the emulator. Each case is one class of
input a hostile or broken producer can send; its expected outcome is a reason code of
functions.core.ingest.clicks, ACCEPTED, or DUPLICATE (a later copy of an event_id in the batch).

Times are relative to the record's Kinesis arrival (`arrival_ms`), the clock the ingest
function judges lateness and skew by.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any, Final

from functions.core import codes, schemas

ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"
MS_DAY: Final = 86_400_000
LIMITS: Final = schemas.CLICK_LIMITS
# Reason codes no record can produce on purpose: `undecodable` names a decoder failure (e.g.
# out of memory) that tests/unit/test_clicks.py injects instead.
REASONS_WITHOUT_A_CASE: Final = frozenset({codes.UNDECODABLE})


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes | str  # the payload bytes; a str is the Kinesis `data` text itself (base64)
    expected: str  # a reason code, ACCEPTED or DUPLICATE
    # Whether a real PutRecords can carry it: Kinesis base64-encodes the bytes itself and
    # refuses empty and oversized records, so those are only tested on decode_batch.
    travels: bool = True


def click(n: int, arrival_ms: int, **overrides: Any) -> dict[str, Any]:
    """A valid click (event_id unique per `n`), with `overrides` applied."""
    body: dict[str, Any] = {
        "event_id": f"corpus-{n:04d}",
        "account_id": "acct-corpus",
        "user_id": "user-corpus",
        "event_type": "click",
        "event_time": arrival_ms - 60_000,
        "page": "/reports",
    }
    body.update(overrides)
    return body


def kinesis_records(datas: list[Any], arrival_seconds: float) -> list[dict[str, Any]]:
    """A Kinesis event's records for Lambda, one per base64 `data`, all arrived at once."""
    return [
        {
            "kinesis": {
                "data": data,
                "sequenceNumber": str(i),
                "approximateArrivalTimestamp": arrival_seconds,
            },
            "eventID": f"shardId-000000000000:{i}",
        }
        for i, data in enumerate(datas)
    ]


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _with_time(n: int, literal: str) -> bytes:
    """A click whose event_time is `literal` spelled as is (NaN, 1e400, 5,000 digits...)."""
    head = compact({k: v for k, v in click(n, 0).items() if k not in ("event_time", "page")})
    return head[:-1] + b',"event_time":' + literal.encode() + b"}"


def _nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def _deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def cases(arrival_ms: int) -> list[Case]:
    """Every class, in batch order (a DUPLICATE case follows the case it copies)."""
    t = arrival_ms - 60_000
    ok = compact(click(1, arrival_ms))
    long_id = "u" * LIMITS.max_id_chars
    out: list[Case] = [
        # --- accepted, including the borderline forms both decode paths must agree on ---
        Case("valid click", ok, ACCEPTED),
        Case("null page", compact(click(2, arrival_ms, page=None)), ACCEPTED),
        Case(
            "absent page",
            compact({k: v for k, v in click(3, arrival_ms).items() if k != "page"}),
            ACCEPTED,
        ),
        Case(
            "unknown fields of every JSON type",
            compact(
                {
                    **click(4, arrival_ms),
                    "x_obj": {"a": [1, 2.5, None, True, "s"]},
                    "x_num": -1.5e300,
                    "x_null": None,
                    "x_bool": False,
                    "x_big": 10**40,
                }
            ),
            ACCEPTED,
        ),
        Case(
            "unknown field nested exactly to the depth limit",
            compact(click(5, arrival_ms))[:-1]
            + b',"x":'
            + _nested(LIMITS.max_nesting_depth - 1).encode()
            + b"}",
            ACCEPTED,
        ),
        Case(
            "repeated key inside an unknown nested object (not stored, so not a conflict)",
            compact(click(6, arrival_ms))[:-1] + b',"x":{"k":1,"k":2}}',
            ACCEPTED,
        ),
        Case(
            "escaped colon in page",
            compact(click(7, arrival_ms, page="a:b")).replace(b"a:b", b"a\\u003ab"),
            ACCEPTED,
        ),
        Case(
            "keys reordered, indented, escaped",
            json.dumps(dict(reversed(list(click(8, arrival_ms).items()))), indent=2)
            .replace("acct-corpus", "acct\\u002dcorpus")
            .encode(),
            ACCEPTED,
        ),
        Case("ids at the length limit", compact(click(9, arrival_ms, user_id=long_id)), ACCEPTED),
        Case(
            "huge page string", compact(click(10, arrival_ms, page="/" + "p" * 200_000)), ACCEPTED
        ),
        Case(
            "non-ASCII text",
            json.dumps(
                click(11, arrival_ms, page="/r\u00e9sum\u00e9/\u8868/\U0001f600"),
                ensure_ascii=False,
            ).encode(),
            ACCEPTED,
        ),
        Case(
            "whitespace around the object, CRLF included",
            b" \t" + compact(click(12, arrival_ms)) + b" \r\n",
            ACCEPTED,
        ),
        Case(
            "escaped letters in values",
            compact(click(13, arrival_ms)).replace(b'"click"', b'"\\u0063lick"'),
            ACCEPTED,
        ),
        Case("exact resend in the same batch", ok, DUPLICATE),
        Case("same event_id, other page", compact(click(1, arrival_ms, page="/other")), DUPLICATE),
        # --- bytes and encodings ---
        Case("invalid UTF-8 byte", b'{"event_id":"\xff"}', codes.INVALID_UTF8),
        Case(
            "UTF-8 encoded surrogate",
            compact(click(20, arrival_ms, page="@")).replace(b"@", b"\xed\xa0\x80"),
            codes.INVALID_UTF8,
        ),
        Case(
            "lone high surrogate escape in an id",
            compact(click(21, arrival_ms, event_id="@")).replace(b'"@"', b'"\\ud800"'),
            codes.INVALID_UTF8,
        ),
        Case(
            "lone low surrogate escape in page",
            compact(click(22, arrival_ms, page="@")).replace(b'"@"', b'"\\udcff"'),
            codes.INVALID_UTF8,
        ),
        Case(
            "lone surrogate escape in an unknown field",
            compact(click(38, arrival_ms))[:-1] + b',"x":["\\udfff"]}',
            codes.INVALID_UTF8,
        ),
        Case(
            "lone surrogate escape in a key",
            compact(click(39, arrival_ms))[:-1] + b',"\\ud800":1}',
            codes.INVALID_UTF8,
        ),
        Case(
            "surrogate pair escape (valid)",
            compact(click(44, arrival_ms, page="@")).replace(b'"@"', b'"\\ud83d\\ude00"'),
            ACCEPTED,
        ),
        Case(
            "overflowing float in an unknown field",
            compact(click(45, arrival_ms))[:-1] + b',"x":-1e400}',
            codes.NON_FINITE_NUMBER,
        ),
        Case(
            "Latin-1 text",
            json.dumps(click(23, arrival_ms, page="/caf\u00e9"), ensure_ascii=False).encode(
                "latin-1"
            ),
            codes.INVALID_UTF8,
        ),
        Case(
            "overlong UTF-8",
            compact(click(24, arrival_ms, page="@")).replace(b"@", b"\xc0\xaf"),
            codes.INVALID_UTF8,
        ),
        Case(
            "truncated multi-byte sequence",
            compact(click(25, arrival_ms))[:-1] + b"\xe2\x82",
            codes.INVALID_UTF8,
        ),
        Case(
            "UTF-8 byte-order mark",
            codecs.BOM_UTF8 + compact(click(26, arrival_ms)),
            codes.BYTE_ORDER_MARK,
        ),
        Case(
            "UTF-16 LE with its mark",
            json.dumps(click(27, arrival_ms)).encode("utf-16"),
            codes.BYTE_ORDER_MARK,
        ),
        Case(
            "UTF-16 BE with its mark",
            codecs.BOM_UTF16_BE + json.dumps(click(28, arrival_ms)).encode("utf-16-be"),
            codes.BYTE_ORDER_MARK,
        ),
        Case(
            "UTF-16 without a mark (its NUL bytes are valid UTF-8)",
            json.dumps(click(29, arrival_ms)).encode("utf-16-le"),
            codes.INVALID_JSON,
        ),
        # --- JSON syntax ---
        Case("not JSON", b"click!", codes.INVALID_JSON),
        Case("truncated JSON", ok[: len(ok) // 2], codes.INVALID_JSON),
        Case("two objects in one record", ok + compact(click(30, arrival_ms)), codes.INVALID_JSON),
        Case(
            "two JSON lines in one record",
            ok + b"\n" + compact(click(31, arrival_ms)),
            codes.INVALID_JSON,
        ),
        Case("trailing comma", compact(click(32, arrival_ms))[:-1] + b",}", codes.INVALID_JSON),
        Case(
            "single quotes", compact(click(33, arrival_ms)).replace(b'"', b"'"), codes.INVALID_JSON
        ),
        Case("a comment", b"/* c */" + compact(click(34, arrival_ms)), codes.INVALID_JSON),
        Case(
            "raw control character in a string",
            compact(click(35, arrival_ms, page="a@b")).replace(b"@", b"\n"),
            codes.INVALID_JSON,
        ),
        Case("hex number", _with_time(36, "0x1A2B3C4D5E6"), codes.INVALID_JSON),
        Case("leading zero", _with_time(37, "0" + str(t)), codes.INVALID_JSON),
        Case("plus sign", _with_time(46, "+" + str(t)), codes.INVALID_JSON),
        Case(
            "raw NUL byte in a string",
            compact(click(47, arrival_ms, page="a@b")).replace(b"@", b"\x00"),
            codes.INVALID_JSON,
        ),
        Case("whitespace only", b"   \n ", codes.INVALID_JSON),
        Case("empty payload", b"", codes.INVALID_JSON, travels=False),
        # --- nesting ---
        Case(
            "unknown field 1,000 arrays deep",
            compact(click(40, arrival_ms))[:-1] + b',"x":' + _nested(1000).encode() + b"}",
            codes.NESTING_TOO_DEEP,
        ),
        Case(
            "unknown field 1,000 objects deep",
            compact(click(41, arrival_ms))[:-1] + b',"x":' + _deep_object(1000).encode() + b"}",
            codes.NESTING_TOO_DEEP,
        ),
        Case(
            "one level past the limit",
            compact(click(42, arrival_ms))[:-1]
            + b',"x":'
            + _nested(LIMITS.max_nesting_depth).encode()
            + b"}",
            codes.NESTING_TOO_DEEP,
        ),
        Case("100,000 unclosed brackets", b"[" * 100_000, codes.NESTING_TOO_DEEP),
        Case(
            "brackets inside strings do not nest",
            compact(click(43, arrival_ms, page="[" * 1000)),
            ACCEPTED,
        ),
        # --- numbers ---
        Case("NaN", _with_time(50, "NaN"), codes.NON_FINITE_NUMBER),
        Case("Infinity", _with_time(51, "Infinity"), codes.NON_FINITE_NUMBER),
        Case("-Infinity", _with_time(52, "-Infinity"), codes.NON_FINITE_NUMBER),
        Case("overflowing float", _with_time(53, "1e400"), codes.NON_FINITE_NUMBER),
        Case(
            "NaN in an unknown field",
            compact(click(54, arrival_ms))[:-1] + b',"x":NaN}',
            codes.NON_FINITE_NUMBER,
        ),
        # --- shape ---
        Case("array", b"[1,2]", codes.NOT_AN_OBJECT),
        Case("string", b'"click"', codes.NOT_AN_OBJECT),
        Case("number", b"1788393758588", codes.NOT_AN_OBJECT),
        Case("null", b"null", codes.NOT_AN_OBJECT),
        Case(
            "array of a valid click",
            b"[" + compact(click(55, arrival_ms)) + b"]",
            codes.NOT_AN_OBJECT,
        ),
        Case(
            "repeated event_id key",
            compact(click(56, arrival_ms))[:-1] + b',"event_id":"other"}',
            codes.DUPLICATE_JSON_KEY,
        ),
        Case(
            "repeated key, same value",
            compact(click(57, arrival_ms))[:-1] + b',"page":"/reports"}',
            codes.DUPLICATE_JSON_KEY,
        ),
        Case(
            "repeated key spelled with an escape",
            compact(click(58, arrival_ms))[:-1] + b',"event\\u005fid":"x"}',
            codes.DUPLICATE_JSON_KEY,
        ),
        Case(
            "repeated unknown key",
            compact(click(59, arrival_ms))[:-1] + b',"x":1,"x":2}',
            codes.DUPLICATE_JSON_KEY,
        ),
        Case(
            "missing user_id",
            compact({k: v for k, v in click(60, arrival_ms).items() if k != "user_id"}),
            codes.MISSING_FIELD,
        ),
        Case("empty object", b"{}", codes.MISSING_FIELD),
        Case("null account_id", compact(click(61, arrival_ms, account_id=None)), codes.NULL_FIELD),
        Case("null event_time", compact(click(62, arrival_ms, event_time=None)), codes.NULL_FIELD),
        Case(
            "ISO string time",
            compact(click(63, arrival_ms, event_time="2026-09-01T00:00:00Z")),
            codes.WRONG_TYPE,
        ),
        Case(
            "numeric string time",
            compact(click(64, arrival_ms, event_time=str(t))),
            codes.WRONG_TYPE,
        ),
        Case("boolean time", compact(click(65, arrival_ms, event_time=True)), codes.WRONG_TYPE),
        Case(
            "fractional time", compact(click(66, arrival_ms, event_time=t + 0.5)), codes.WRONG_TYPE
        ),
        Case("integral float time", _with_time(67, f"{t}.0"), codes.WRONG_TYPE),
        Case("exponent time", _with_time(72, "1.7e12"), codes.WRONG_TYPE),
        Case("number as user_id", compact(click(68, arrival_ms, user_id=7)), codes.WRONG_TYPE),
        Case("object as page", compact(click(69, arrival_ms, page={"p": 1})), codes.WRONG_TYPE),
        Case(
            "array as event_type",
            compact(click(70, arrival_ms, event_type=["click"])),
            codes.WRONG_TYPE,
        ),
        Case(
            "boolean as event_id", compact(click(71, arrival_ms, event_id=False)), codes.WRONG_TYPE
        ),
        # --- field values ---
        Case("empty event_id", compact(click(80, arrival_ms, event_id="")), codes.INVALID_ID),
        Case(
            "blank account_id", compact(click(81, arrival_ms, account_id="   ")), codes.INVALID_ID
        ),
        Case(
            "Unicode-blank user_id",
            compact(click(82, arrival_ms, user_id="\u3000\t\u2028")),
            codes.INVALID_ID,
        ),
        Case(
            "id one past the length limit",
            compact(click(83, arrival_ms, user_id=long_id + "u")),
            codes.INVALID_ID,
        ),
        Case(
            "200-character user_id",
            compact(click(84, arrival_ms, user_id="u" * 200)),
            codes.INVALID_ID,
        ),
        Case(
            "unknown event_type",
            compact(click(85, arrival_ms, event_type="hover")),
            codes.UNKNOWN_EVENT_TYPE,
        ),
        Case(
            "event_type in other case",
            compact(click(86, arrival_ms, event_type="Click")),
            codes.UNKNOWN_EVENT_TYPE,
        ),
        Case(
            "negative time",
            compact(click(87, arrival_ms, event_time=-5)),
            codes.NEGATIVE_TIMESTAMP,
        ),
        Case("time below int64", _with_time(88, "-" + "9" * 25), codes.NEGATIVE_TIMESTAMP),
        Case(
            "time in seconds",
            compact(click(89, arrival_ms, event_time=arrival_ms // 1000)),
            codes.TIMESTAMP_IN_SECONDS,
        ),
        Case("zero time", compact(click(90, arrival_ms, event_time=0)), codes.TIMESTAMP_IN_SECONDS),
        Case(
            "three hours ahead",
            compact(click(91, arrival_ms, event_time=arrival_ms + 3 * 3_600_000)),
            codes.FUTURE_TIMESTAMP,
        ),
        Case(
            "time in microseconds",
            compact(click(92, arrival_ms, event_time=arrival_ms * 1000)),
            codes.FUTURE_TIMESTAMP,
        ),
        Case("time beyond int64", _with_time(93, "9" * 25), codes.FUTURE_TIMESTAMP),
        Case("time of 2^63", _with_time(97, str(2**63)), codes.FUTURE_TIMESTAMP),
        Case("time of 5,000 digits", _with_time(94, "1" * 5000), codes.FUTURE_TIMESTAMP),
        Case(
            "eight days late",
            compact(click(95, arrival_ms, event_time=arrival_ms - 8 * MS_DAY)),
            codes.TOO_LATE,
        ),
        # --- records Kinesis itself would not carry (decode_batch only) ---
        Case("not base64", "not*base64!", codes.INVALID_BASE64, travels=False),
        Case("base64 missing padding", "YWJjZA", codes.INVALID_BASE64, travels=False),
        Case("base64 data after padding", "YWJjZA=A", codes.INVALID_BASE64, travels=False),
        Case("base64 padding inside", "YQ==YWJj", codes.INVALID_BASE64, travels=False),
        Case("non-ASCII base64 text", "e30\u00e9", codes.INVALID_BASE64, travels=False),
        Case(
            "oversized record",
            compact(click(96, arrival_ms, page="x" * (LIMITS.max_record_bytes + 10))),
            codes.OVERSIZED_RECORD,
            travels=False,
        ),
    ]
    return out
