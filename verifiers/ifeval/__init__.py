"""IFEval and extended instruction-following constraints: check, score, sample.

- `check_instructions(response, ids, kwargs_list, prompt=None, loose=False)` -> list[bool]
- `evaluate(rows)` -> IFEval's prompt/instruction-level, strict/loose accuracies
- `score_ground_truth(response, ground_truth, scoring="fraction", loose=False)` -> float
- `sample_constraints(seed, k_min, k_max, ids=None, prompt=None)` + `to_ground_truth`

Verdicts follow the official IFEval evaluator (google-research, as shipped in lm_eval),
checked instruction by instruction on the 540 IFEval prompts. Deliberate differences,
all where the reference is random or crashes: a non-letter `letter` kwarg ('#') is
counted as given (the reference substitutes a random letter); an invalid regex keyword
is matched literally; JSON too deeply nested for Python's parser is rejected; missing or
malformed kwargs raise CaravanError instead of being replaced by random values.
Sentence counts use NLTK's Punkt algorithm with the English model's small tables but
not its per-word orthographic table (see `text.py`), so they can differ in rare cases.
"""

from caravan.verifiers.ifeval.checking import (
    IFEvalReport,
    check_instructions,
    evaluate,
    loose_variants,
)
from caravan.verifiers.ifeval.conflicts import compatible, conflict_table, conflicts
from caravan.verifiers.ifeval.labels import (
    InstructionLabel,
    TuluLabel,
    failed_checks,
    outcomes,
    parse_ground_truth,
    score_ground_truth,
)
from caravan.verifiers.ifeval.registry import ALL_IDS, EXTRA_IDS, IFEVAL_IDS
from caravan.verifiers.ifeval.sampler import (
    SampledConstraint,
    describe,
    render_instructions,
    sample_constraints,
    to_ground_truth,
)

__all__ = [
    "ALL_IDS",
    "EXTRA_IDS",
    "IFEVAL_IDS",
    "IFEvalReport",
    "SampledConstraint",
    "check_instructions",
    "compatible",
    "conflict_table",
    "conflicts",
    "describe",
    "evaluate",
    "loose_variants",
    "outcomes",
    "failed_checks",
    "InstructionLabel",
    "TuluLabel",
    "parse_ground_truth",
    "render_instructions",
    "sample_constraints",
    "score_ground_truth",
    "to_ground_truth",
]
