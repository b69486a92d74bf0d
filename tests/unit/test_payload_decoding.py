"""Payload decoding gives the same result with orjson installed as with ``json.loads`` alone: the
same values of the same types for JSON, the bytes themselves for anything else."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routemq_runtime import message
from routemq_runtime.message import decode_json, decode_payload

orjson = pytest.importorskip("orjson")


@pytest.fixture(params=["orjson", "json"])
def decoder(request, monkeypatch):
    """Each test runs with orjson and with the ``json.loads`` fallback."""
    if request.param == "json":
        monkeypatch.setattr(message, "_orjson", None)
    return request.param


def both(raw: bytes) -> tuple[str, str]:
    """``repr`` of what each decoder gives: strict about types (1 vs 1.0) and equal for NaN."""
    fast = repr(decode_payload(raw))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(message, "_orjson", None)
        fallback = repr(decode_payload(raw))
    return fast, fallback


CASES = [
    (b'{"temperature": 21.5, "unit": "C"}', {"temperature": 21.5, "unit": "C"}),
    (b' [1, 2.0, "x", true, null] \n', [1, 2.0, "x", True, None]),
    (b"42", 42),
    (b'"text"', "text"),
    (b'{"a": 1, "a": 2}', {"a": 2}),
    # Past 64 bits orjson gives a float; json's exact int is kept.
    (b'{"id": 123456789012345678901234567890}', {"id": 123456789012345678901234567890}),
    (b"-9223372036854775809", -9223372036854775809),
    (b"18446744073709551616", 18446744073709551616),
    (b"1732800000000000000", 1732800000000000000),  # nanoseconds: 19 digits, orjson reads them
    (b"[Infinity, -Infinity]", [math.inf, -math.inf]),  # json accepts them, orjson does not
    (b"1e400", math.inf),
    ('{"a": 1}'.encode("utf-16"), {"a": 1}),  # json detects UTF-16/32, orjson reads UTF-8 only
    ('{"a": 1}'.encode("utf-16-le"), {"a": 1}),
    ('{"a": 1}'.encode("utf-32-be"), {"a": 1}),
    (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),  # a UTF-8 byte order mark
    (b'"\\ud800"', "\ud800"),  # a lone surrogate
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_json_decodes_to_the_same_values(decoder, raw, expected):
    assert repr(decode_payload(raw)) == repr(expected)
    assert repr(decode_json(raw)) == repr(expected)


def test_nan_is_read_as_json_reads_it(decoder):
    value = decode_payload(b'{"v": NaN}')
    assert math.isnan(value["v"])


@pytest.mark.parametrize(
    "raw",
    [
        b"\x08\x96\x01\x12\x04abcd",  # protobuf
        b"\xff\xfe\xfd",  # not UTF-8
        b"\xff",
        b"ON",
        b"21.5 C",
        b'{"temperature": 21.5',
        b"NaNa",
        b'{"a": "\x01"}',  # a control character in a string
    ],
)
def test_anything_else_comes_back_as_the_bytes(decoder, raw):
    assert decode_payload(raw) is raw
    with pytest.raises(ValueError):
        decode_json(raw)


def test_empty_payload_is_the_empty_bytes(decoder):
    assert decode_payload(b"") == b""
    with pytest.raises(ValueError):
        decode_json(b"")


def test_bytearray_and_str_decode_as_json_takes_them(decoder):
    assert decode_payload(bytearray(b'{"a": 1}')) == {"a": 1}
    assert decode_json('{"a": [1]}') == {"a": [1]}


def test_orjson_is_used_when_installed():
    assert message._orjson is orjson


def test_without_orjson_installed_json_decodes():
    # A process of its own: orjson blocked before the module is first imported.
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from routemq_runtime import message\n"
        "assert message._orjson is None\n"
        "print(message.decode_payload(b'[1, NaN]'), message.decode_payload(b'x'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1, nan] b'x'"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["utf-8", "utf-16", "utf-32-le"]), st.booleans())
def test_any_json_text_decodes_the_same(value, encoding, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    fast, fallback = both(raw)
    assert fast == fallback


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_decode_the_same(raw):
    fast, fallback = both(raw)
    assert fast == fallback
