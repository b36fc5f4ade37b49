"""Fixtures for the IFEval tests: the shared data folder (overridable) and IFEval rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Same default as tests/conftest.py; CARAVAN_SHARED_DATA points elsewhere (e.g. worktrees).
_DEFAULT = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _shared_root() -> Path:
    return Path(os.environ.get("CARAVAN_SHARED_DATA", _DEFAULT))


@pytest.fixture
def shared_data() -> Path:
    root = _shared_root()
    if not root.is_dir():
        pytest.skip(f"shared data folder absent: {root}")
    return root


@pytest.fixture(scope="module")
def ifeval_rows() -> list[dict]:
    path = _shared_root() / "eval" / "ifeval_input_data.jsonl"
    if not path.exists():
        pytest.skip(f"IFEval prompts absent: {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
