"""Fixtures for the IFEval tests: the shared data folder (overridable) and IFEval rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.shared_data import SHARED_DATA


def _shared_root() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="module")
def ifeval_rows() -> list[dict]:
    path = _shared_root() / "eval" / "ifeval_input_data.jsonl"
    if not path.exists():
        pytest.skip(f"IFEval prompts absent: {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
