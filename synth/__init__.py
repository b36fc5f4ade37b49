"""Persona-driven synthesis of verifiable prompts and solutions."""

_STAGES = ("Generate", "Solve", "Relax", "Dedup", "Complete")


def __getattr__(name: str):  # the stage classes load on first use: `import synth` stays light
    if name in _STAGES:
        from importlib import import_module

        return getattr(import_module(__name__ + ".stages"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
