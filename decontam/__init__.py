"""8-gram decontamination of training data against eval sets (Tülu 3 rule).

`find_overlaps(train_texts, eval_texts, n=8, threshold=0.5)` is the in-memory API; the
`decontam check` / `decontam remove` commands stream files of any size.
"""

__all__ = ["Match", "find_overlaps", "tokenize"]

# Loaded on first use, so `decontam --help` does not import numpy.
_LAZY = {
    "Match": "match",
    "find_overlaps": "match",
    "tokenize": "tokens",
    "Check": "stages",
    "Gate": "stages",
    "ContaminationError": "stages",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
