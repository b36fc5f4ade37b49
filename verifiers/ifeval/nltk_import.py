"""Import NLTK's tokenizers without the two seconds of SciPy its package import costs.

`import nltk.tokenize.punkt` runs `nltk/__init__.py`, which imports `nltk.metrics`, whose
association measures try `from scipy.stats import fisher_exact` (~2 s of CPU on a cold
start; it dominated the first GRPO reward batch). We never use those measures, so while NLTK
itself is first imported SciPy is hidden and NLTK takes its documented fallback for a missing
SciPy. Nothing changes when NLTK or SciPy is already imported, and SciPy imports normally
afterwards.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def import_nltk(module: str) -> ModuleType:
    """`importlib.import_module(module)` for an `nltk.*` module, SciPy hidden on first load."""
    with _lock:
        if "nltk" in sys.modules or "scipy" in sys.modules:
            return importlib.import_module(module)
        sys.modules["scipy"] = None  # type: ignore[assignment] # ImportError inside nltk
        try:
            return importlib.import_module(module)
        finally:
            if sys.modules.get("scipy", 0) is None:
                del sys.modules["scipy"]
