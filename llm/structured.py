"""Structured replies: check a reply against the request's JSON schema.

A reply that does not parse or does not match is an error the engine may retry; it is never
replaced by a default value.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from caravan.errors import CaravanError


class ParseFailure(CaravanError):
    """The reply is not JSON matching the schema. `raw` keeps the text for the record."""

    def __init__(self, message: str, raw: str | None) -> None:
        super().__init__(message)
        self.raw = raw


def schema_of(spec: Any) -> dict[str, Any]:
    """Accept a JSON schema dict or a pydantic model class."""
    if isinstance(spec, dict):
        return spec
    model_json_schema = getattr(spec, "model_json_schema", None)
    if callable(model_json_schema):
        return model_json_schema()
    raise CaravanError(
        f"response schema must be a JSON schema dict or pydantic model, not {spec!r}"
    )


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    # Checking a schema costs tens of ms; equal schemas built per request must not pay it
    # again, so validators are cached by the schema's canonical JSON text.
    schema = json.loads(schema_json)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise CaravanError(f"invalid JSON schema: {exc.message}") from exc
    return jsonschema.Draft202012Validator(schema)


def validator_for(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return _validator(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def check_schema(schema: dict[str, Any]) -> None:
    """Fail early on a schema that is itself invalid."""
    validator_for(schema)


def _strip_fence(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def parse_reply(text: str | None, schema: dict[str, Any]) -> Any:
    """The reply as a JSON value valid under `schema`, or ParseFailure."""
    if text is None:
        raise ParseFailure("empty reply where JSON was required", text)
    try:
        value = json.loads(_strip_fence(text))
    except ValueError as exc:
        raise ParseFailure(f"reply is not JSON: {exc}", text) from exc
    error = jsonschema.exceptions.best_match(validator_for(schema).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise ParseFailure(f"reply does not match the schema at {where}: {error.message}", text)
    return value


def schema_instruction(schema: dict[str, Any]) -> str:
    """System text for providers without native JSON-schema output."""
    return (
        "Answer with a single JSON value and nothing else (no prose, no code fence). "
        "It must validate against this JSON schema:\n" + json.dumps(schema, sort_keys=True)
    )
