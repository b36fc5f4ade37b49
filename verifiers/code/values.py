"""Values crossing the sandbox boundary: builtin types only, tagged JSON, size-capped.

A candidate's return value is encoded inside the sandbox and decoded here, so every
comparison with an expected value runs on plain builtins: an object with a custom `__eq__`,
`__bool__` or `__hash__` (or a subclass of a builtin type) cannot be encoded at all and the
test fails. The module is stdlib-only and self-contained because the sandbox harness ships
its source into the sandboxed interpreter (see sandbox.py).
"""

import json
import math

MAX_VALUE_BYTES = 4 * 1024 * 1024
_MAX_DEPTH = 200


class UnsupportedValue(TypeError):
    """A value that is not made of exact builtin types (or is too big or too deep)."""


def _enc(value, depth):
    if depth > _MAX_DEPTH:
        raise UnsupportedValue("value nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"i": str(value)} if abs(value) > 2**53 else value
    if kind is float:
        return {"f": repr(value)} if not math.isfinite(value) else value
    if kind is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is list:
        return [_enc(v, depth + 1) for v in value]
    if kind is tuple:
        return {"t": [_enc(v, depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in value.items()]}
    if kind is set or kind is frozenset:
        items = [_enc(v, depth + 1) for v in value]
        return {"s" if kind is set else "fs": items}
    raise UnsupportedValue(f"values of type {kind.__name__} cannot leave the sandbox")


def encode_value(value):
    """JSON text for `value`; raises UnsupportedValue for anything but exact builtins."""
    try:
        text = json.dumps(_enc(value, 0), separators=(",", ":"), allow_nan=False)
    except RecursionError as exc:
        raise UnsupportedValue("value nested too deeply") from exc
    if len(text) > MAX_VALUE_BYTES:
        raise UnsupportedValue(f"value larger than {MAX_VALUE_BYTES} bytes")
    return text


def _dec(data, depth):
    if depth > _MAX_DEPTH:
        raise UnsupportedValue("value nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [_dec(v, depth + 1) for v in data]
    if kind is not dict or len(data) != 1:
        raise UnsupportedValue("malformed encoded value")
    ((tag, body),) = data.items()
    if tag == "i":
        return int(body)
    if tag == "f":
        return float(body)
    if tag == "c":
        return complex(float(body[0]), float(body[1]))
    if tag == "b":
        return bytes.fromhex(body)
    if tag == "t":
        return tuple(_dec(v, depth + 1) for v in body)
    if tag == "d":
        return {_dec(k, depth + 1): _dec(v, depth + 1) for k, v in body}
    if tag == "s":
        return {_dec(v, depth + 1) for v in body}
    if tag == "fs":
        return frozenset(_dec(v, depth + 1) for v in body)
    raise UnsupportedValue(f"unknown value tag {tag!r}")


def decode_value(text):
    """The builtin value `encode_value` produced; raises UnsupportedValue when malformed."""
    if len(text) > MAX_VALUE_BYTES:
        raise UnsupportedValue(f"value larger than {MAX_VALUE_BYTES} bytes")
    try:
        return _dec(json.loads(text), 0)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        raise UnsupportedValue(f"malformed encoded value: {exc}") from exc
