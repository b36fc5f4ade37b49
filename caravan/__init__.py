"""Caravan: post-training data the way Tülu 3 makes it, handed to trainers.

    import caravan as cv
    gpt4o = cv.LLM("gpt-4o")
    prompts = cv.synth.Generate(task="if", llm=gpt4o, n=20)(cv.read("example"))

Everything below loads on first use, so `import caravan` (and every CLI's --help) stays fast.
"""

from caravan.errors import CaravanError


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("caravan-posttrain")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"

_LAZY = {
    "LLM": ("caravan.session", "LLM"),
    "LLMSettings": ("caravan.session", "LLMSettings"),
    "read": ("caravan.runner", "read"),
    "run": ("caravan.pipeline", "run"),
    "Dataset": ("caravan.dataset", "Dataset"),
    "Stage": ("caravan.stage", "Stage"),
    "GlobalStage": ("caravan.stage", "GlobalStage"),
    "StageResult": ("caravan.stage", "StageResult"),
    "Rejection": ("caravan.stage", "Rejection"),
}
_PACKAGES = ("synth", "prefs", "decontam", "verifiers", "llm", "records", "train_adapters")


def __getattr__(name: str):
    from importlib import import_module

    if name == "__version__":  # importlib.metadata costs 35 ms: only when asked
        return _version()
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    if name == "ray":  # cv.ray.apply(ds, stage): the Ray executor (Ray itself loads on use)
        return import_module(f"{__name__}.ray_executor")
    if name in _PACKAGES:  # cv.synth.Generate: the subpackages live under caravan.*
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CaravanError", "__version__", *_LAZY]
