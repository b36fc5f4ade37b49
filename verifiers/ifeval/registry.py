"""All known instruction ids and their specs (25 IFEval + 29 training extras)."""

from __future__ import annotations

from caravan.verifiers.ifeval.extra_checks import EXTRA_SPECS
from caravan.verifiers.ifeval.ifeval_checks import IFEVAL_SPECS
from caravan.verifiers.ifeval.spec import ConstraintSpec

SPECS: dict[str, ConstraintSpec] = {**IFEVAL_SPECS, **EXTRA_SPECS}
IFEVAL_IDS: tuple[str, ...] = tuple(IFEVAL_SPECS)
EXTRA_IDS: tuple[str, ...] = tuple(EXTRA_SPECS)
ALL_IDS: tuple[str, ...] = IFEVAL_IDS + EXTRA_IDS
