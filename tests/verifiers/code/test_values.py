import math

import pytest
from caravan.verifiers.code.values import UnsupportedValue, decode_value, encode_value


@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -7, 2**80, 1.5, float("inf"), "héllo", b"\x00\xff", 1 + 2j,
        [1, [2, (3,)]], (1, "a"), {"a": [1], 2: (3,), (1, 2): None}, {1, 2}, frozenset({"x"}),
        [], (), {}, set(),
    ],
)  # fmt: skip
def test_builtin_values_round_trip_with_their_types(value):
    back = decode_value(encode_value(value))
    assert back == value and type(back) is type(value)
    if isinstance(value, list | tuple):
        assert [type(v) for v in back] == [type(v) for v in value]


def test_nan_round_trips():
    assert math.isnan(decode_value(encode_value(float("nan"))))


class Anything:
    def __eq__(self, other):
        return True


class MyInt(int):
    pass


@pytest.mark.parametrize(
    "value",
    [Anything(), MyInt(3), [1, Anything()], {"k": MyInt(1)}, (x for x in ()), object(), print],
)
def test_anything_but_exact_builtins_is_refused(value):
    with pytest.raises(UnsupportedValue):
        encode_value(value)


def test_deep_or_huge_values_are_refused():
    deep: list = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(UnsupportedValue):
        encode_value(deep)
    with pytest.raises(UnsupportedValue):
        encode_value("x" * (5 * 1024 * 1024))


@pytest.mark.parametrize(
    "text",
    ["{", '{"zz": 1}', '{"t": [1], "d": []}', '{"s": [[1]]}', '{"d": [[[1], 2]]}', "[" * 5000],
)
def test_malformed_encodings_raise_unsupported_value(text):
    with pytest.raises(UnsupportedValue):
        decode_value(text)
