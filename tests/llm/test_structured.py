"""Replies checked against JSON schemas: never defaulted, always explained."""

from __future__ import annotations

import pydantic
import pytest
from caravan.llm.structured import ParseFailure, check_schema, parse_reply, schema_of

from caravan.errors import CaravanError

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["score"],
}


def test_valid_reply_and_code_fence():
    assert parse_reply('{"score": 7}', SCHEMA) == {"score": 7}
    assert parse_reply('```json\n{"score": 3}\n```', SCHEMA) == {"score": 3}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Score: 7", "not JSON"),
        ('{"score": 11}', "at score"),
        ("{}", "at <root>"),
        (None, "empty reply"),
    ],
)
def test_bad_replies_fail_with_raw_text_kept(text, why):
    with pytest.raises(ParseFailure, match=why) as info:
        parse_reply(text, SCHEMA)
    assert info.value.raw == text


def test_pydantic_model_becomes_schema():
    class Verdict(pydantic.BaseModel):
        label: str
        confidence: float

    schema = schema_of(Verdict)
    assert parse_reply('{"label": "a", "confidence": 0.5}', schema) == {
        "label": "a",
        "confidence": 0.5,
    }
    with pytest.raises(ParseFailure):
        parse_reply('{"label": "a"}', schema)


def test_invalid_schema_is_rejected_early():
    with pytest.raises(CaravanError, match="invalid JSON schema"):
        check_schema({"type": "objekt"})


def test_equal_schemas_are_checked_once():
    from caravan.llm.structured import _validator, check_schema, parse_reply

    _validator.cache_clear()
    for _ in range(50):
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
        check_schema(schema)
        assert parse_reply('{"a": 1}', schema) == {"a": 1}
    info = _validator.cache_info()
    assert info.misses == 1 and info.hits == 99
