"""Sandbox tests skip where no OS sandbox exists, unless CI says one must (then they fail)."""

import os

import pytest
from caravan.verifiers.code import isolation

_iso = isolation.probe()
needs_sandbox = pytest.mark.skipif(
    not _iso.available and not os.environ.get("CARAVAN_REQUIRE_SANDBOX"),
    reason=f"no OS sandbox here: {_iso.reason}",
)
