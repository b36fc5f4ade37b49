"""Shared fixtures: small valid rows of each record kind, and the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# Fixture modules shared across packages (pytest only allows this in a top-level conftest).
pytest_plugins = ["tests.fixtures.tiny_model"]

from tests.fixtures.shared_data import SHARED_DATA  # noqa: E402


def _msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


@pytest.fixture
def sft_rows() -> list[dict]:
    return [
        {
            "id": f"sft-{i}",
            "messages": _msgs(("user", f"What is {i} + {i}?"), ("assistant", f"{2 * i}")),
            "source": "unit",
        }
        for i in range(5)
    ] + [
        {
            "id": "sft-sys",
            "messages": _msgs(("system", "Be terse."), ("user", "Hi"), ("assistant", "Hi.")),
            "source": "unit",
        }
    ]


@pytest.fixture
def preference_rows() -> list[dict]:
    return [
        {
            "id": f"p-{i}",
            "prompt": _msgs(("user", f"Name a prime above {i}.")),
            "chosen": _msgs(("assistant", "13")),
            "rejected": _msgs(("assistant", "12")),
            "score_chosen": 5.0,
            "score_rejected": 2.5,
        }
        for i in range(4)
    ]


@pytest.fixture
def rlvr_rows() -> list[dict]:
    return [
        {
            "id": "r-0",
            "messages": _msgs(("user", "Tom has 3 apples and buys 4. How many?")),
            "ground_truth": "7",
            "dataset": "gsm8k",
            "constraint_type": None,
            "constraint": None,
        },
        {
            "id": "r-1",
            "messages": _msgs(("user", "Write a haiku without commas.")),
            "ground_truth": '{"func_name": "validate_no_commas"}',
            "dataset": "ifeval",
            "constraint_type": "punctuation:no_comma",
            "constraint": "Do not use any commas.",
        },
    ]


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder absent: {SHARED_DATA}")
    return SHARED_DATA
