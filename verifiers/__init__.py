"""Verifiable-constraint and answer checkers, used as RLVR rewards and data filters.

Modules (import what you need; heavy ones load lazily):

- verifiers.gsm8k     `is_correct(response, gold)`: last number vs the gold after ####
- verifiers.math      `is_correct`, `check`, `check_batch`, `is_correct_async`: MATH answers
                      read as Math-Verify reads them (flex extraction widened)
- verifiers.code      `run_tests(code, tests)`: sandboxed Python, pass fraction + outcomes
- verifiers.thinking  `strip_thinking(text, strict=...)`: drop <think>...</think>
- verifiers.registry  `get_verifier(dataset)`, `register_function(name, fn)`
- verifiers.rewards   `compute_reward(s)`, `trl_reward_fn()`, `verl_compute_score`
- verifiers.rlvr      GSM8K / MATH / IF sources -> open-instruct or verl RLVR rows
- verifiers.ifeval    IFEval and extended constraints (built separately)
"""

_STAGES = ("Score", "BuildRLVR")


def __getattr__(name: str):  # the stage classes load on first use: `import verifiers` stays light
    if name in _STAGES:
        from importlib import import_module

        return getattr(import_module(__name__ + ".stages"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
