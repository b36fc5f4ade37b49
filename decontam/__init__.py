"""8-gram decontamination of training data against eval sets (Tülu 3 rule).

`find_overlaps(train_texts, eval_texts, n=8, threshold=0.5)` is the in-memory API; the
`decontam check` / `decontam remove` commands stream files of any size.
"""

from decontam.match import Match, find_overlaps
from decontam.tokens import tokenize

__all__ = ["Match", "find_overlaps", "tokenize"]


_STAGES = ("Check", "Gate", "ContaminationError")


def __getattr__(name: str):  # the stage classes load on first use: `import decontam` stays light
    if name in _STAGES:
        from importlib import import_module

        return getattr(import_module(__name__ + ".stages"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
