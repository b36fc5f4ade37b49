"""Eval sets: the built-in Tülu 3 suite (loaded from the Hugging Face hub) and local files.

`--eval NAME` loads a built-in set with `datasets`; `--eval NAME=PATH[:field,...]` reads a
local JSONL/JSON/Parquet/Arrow file (or folder). The text of an eval instance is its fields
joined by newlines. Without fields, a built-in name uses its own fields and any other name
uses the first common text column present (question, problem, prompt, input, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.decontam.tokens import tokenize

from caravan.errors import CaravanError


@dataclass(frozen=True)
class BuiltinEval:
    hf_id: str
    split: str
    fields: tuple[str, ...]
    configs: tuple[str | None, ...] = (None,)


_MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
_BBH_TASKS = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)

# The Tülu 3 decontamination suite: hub id, split, text fields.
BUILTIN_EVALS: dict[str, BuiltinEval] = {
    "mmlu": BuiltinEval("cais/mmlu", "test", ("question",), ("all",)),
    "humaneval": BuiltinEval("openai/openai_humaneval", "test", ("prompt",)),
    "gsm8k": BuiltinEval("openai/gsm8k", "test", ("question",), ("main",)),
    "drop": BuiltinEval("ucinlp/drop", "validation", ("passage", "question")),
    "math": BuiltinEval("EleutherAI/hendrycks_math", "test", ("problem",), _MATH_SUBJECTS),
    "ifeval": BuiltinEval("google/IFEval", "train", ("prompt",)),
    "popqa": BuiltinEval("akariasai/PopQA", "test", ("subj", "prop", "obj")),
    "alpaca_eval": BuiltinEval("tatsu-lab/alpaca_eval", "eval", ("instruction",), ("alpaca_eval",)),
    "bbh": BuiltinEval("lukaemon/bbh", "test", ("input",), _BBH_TASKS),
    "truthfulqa": BuiltinEval(
        "truthfulqa/truthful_qa", "validation", ("question",), ("generation",)
    ),
    "wildguardtest": BuiltinEval("allenai/wildguardmix", "test", ("prompt",), ("wildguardtest",)),
    "wildjailbreak": BuiltinEval("allenai/wildjailbreak", "train", ("adversarial",), ("eval",)),
    "trustllm_jailbreaktrigger": BuiltinEval(
        "allenai/tulu-3-trustllm-jailbreaktrigger-eval", "test", ("prompt",)
    ),
    "harmbench": BuiltinEval("allenai/tulu-3-harmbench-eval", "test", ("Behavior",)),
    "do_anything_now": BuiltinEval("allenai/tulu-3-do-anything-now-eval", "test", ("prompt",)),
    "mmlu_pro": BuiltinEval("TIGER-Lab/MMLU-Pro", "test", ("question",)),
    "gpqa": BuiltinEval("Idavidrein/gpqa", "train", ("Question",), ("gpqa_main",)),
    "agieval": BuiltinEval("lighteval/agi_eval_en", "train", ("passage", "question")),
    "bigcodebench": BuiltinEval("bigcode/bigcodebench", "v0.1.2", ("instruct_prompt",)),
    "deepmind_math": BuiltinEval("deepmind/math_dataset", "test", ("question",), ("*",)),
}

_GUESS_FIELDS = ("question", "problem", "prompt", "input", "instruction", "text", "query")


@dataclass
class EvalSet:
    """Eval instances as texts, with the row each came from."""

    name: str
    source: str
    fields: list[str]
    texts: list[str]
    rows: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "fields": self.fields,
            "instances": len(self.texts),
        }


@dataclass(frozen=True)
class EvalSpec:
    name: str
    path: str | None = None
    fields: tuple[str, ...] = ()


def parse_eval_spec(spec: str) -> EvalSpec:
    """`NAME`, `NAME=PATH` or `NAME=PATH:field,field` (a path may itself contain ':')."""
    spec = spec.strip()
    if "=" not in spec:
        if spec not in BUILTIN_EVALS:
            raise CaravanError(
                f"unknown eval set {spec!r}: use one of {', '.join(sorted(BUILTIN_EVALS))}, "
                "or NAME=PATH[:field,...] for a local file"
            )
        return EvalSpec(spec)
    name, rest = spec.split("=", 1)
    name = name.strip()
    if not name or not rest:
        raise CaravanError(f"bad --eval {spec!r}: expected NAME=PATH[:field,...]")
    if Path(rest).expanduser().exists() or ":" not in rest:
        return EvalSpec(name, rest)
    path, fields = rest.rsplit(":", 1)
    names = tuple(f.strip() for f in fields.split(",") if f.strip())
    if not names:
        raise CaravanError(f"bad --eval {spec!r}: no field names after ':'")
    return EvalSpec(name, path, names)


def value_text(value: Any) -> str | None:
    """Text of one field value: a string, a list of strings, or chat messages (all turns)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and "content" in value:
        return value_text(value["content"])
    if isinstance(value, list):
        parts = [value_text(v) for v in value]
        return "\n".join(p for p in parts if p)
    raise ValueError(f"cannot take text from a {type(value).__name__} value")


def rows_to_eval_set(
    name: str, source: str, rows: list[dict[str, Any]], fields: list[str]
) -> EvalSet:
    """Join `fields` of each row; a row without text is an error naming the row."""
    if not rows:
        raise CaravanError(f"eval set {name!r} ({source}) has no rows")
    columns = set().union(*(r.keys() for r in rows))
    missing = [f for f in fields if f not in columns]
    if missing:
        raise CaravanError(
            f"eval set {name!r} ({source}): no field {', '.join(map(repr, missing))}; "
            f"available: {', '.join(sorted(columns))}"
        )
    texts = []
    for i, row in enumerate(rows):
        parts = []
        for f in fields:
            try:
                t = value_text(row.get(f))
            except ValueError as exc:
                raise CaravanError(
                    f"eval set {name!r} ({source}) row {i + 1}, field {f!r}: {exc}"
                ) from exc
            if t:
                parts.append(t)
        text = "\n".join(parts)
        if not tokenize(text):
            raise CaravanError(
                f"eval set {name!r} ({source}) row {i + 1}: no text (no letters or digits) in "
                f"field(s) {', '.join(fields)}; fix or drop the row, or pick other fields"
            )
        texts.append(text)
    return EvalSet(name, source, list(fields), texts, list(range(len(rows))))


def _default_fields(name: str, columns: list[str], source: str) -> list[str]:
    builtin = BUILTIN_EVALS.get(name)
    if builtin and all(f in columns for f in builtin.fields):
        return list(builtin.fields)
    for f in _GUESS_FIELDS:
        if f in columns:
            return [f]
    raise CaravanError(
        f"eval set {name!r} ({source}): cannot tell which field holds the text; "
        f"name it as {name}={source}:FIELD (columns: {', '.join(columns)})"
    )


def load_local(spec: EvalSpec) -> EvalSet:
    from caravan.records import load_records

    assert spec.path is not None
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise CaravanError(f"eval set {spec.name!r}: no such file or folder: {spec.path}")
    loaded = load_records(path)
    if loaded.bad_rows:
        bad = loaded.bad_rows[0]
        raise CaravanError(
            f"eval set {spec.name!r}: {len(loaded.bad_rows)} unreadable row(s) in {path}, "
            f"first at {bad}"
        )
    columns = loaded.table.column_names
    fields = list(spec.fields) or _default_fields(spec.name, columns, str(path))
    return rows_to_eval_set(spec.name, str(path), loaded.table.to_pylist(), fields)


def load_builtin(name: str) -> EvalSet:
    """Load a built-in eval set from the hub; a clear error when the hub is unreachable."""
    b = BUILTIN_EVALS[name]
    try:
        from caravan.hub import require_hub

        require_hub(b.hf_id, "eval set")  # seconds, not minutes of retries, when offline
        import datasets

        configs = list(b.configs)
        if configs == ["*"]:
            configs = list(datasets.get_dataset_config_names(b.hf_id))
        rows: list[dict[str, Any]] = []
        for config in configs:
            ds = datasets.load_dataset(b.hf_id, config, split=b.split)
            rows.extend(ds.to_list() if hasattr(ds, "to_list") else list(ds))
    except Exception as exc:  # noqa: BLE001 - hub, network and auth errors all look different
        cfg = "" if b.configs == (None,) else f", config(s) {', '.join(map(str, b.configs))}"
        raise CaravanError(
            f"cannot load built-in eval set {name!r} ({b.hf_id}{cfg}, split {b.split}) from "
            f"the Hugging Face hub: {' '.join(str(exc).split())}. Offline? Pass a local copy: "
            f"--eval {name}=PATH:{','.join(b.fields)}"
        ) from exc
    return rows_to_eval_set(name, f"hf:{b.hf_id}/{b.split}", rows, list(b.fields))


def load_eval_set(spec: str | EvalSpec) -> EvalSet:
    spec = parse_eval_spec(spec) if isinstance(spec, str) else spec
    return load_builtin(spec.name) if spec.path is None else load_local(spec)


def load_eval_sets(specs: list[str]) -> list[EvalSet]:
    sets = [load_eval_set(s) for s in specs]
    names = [s.name for s in sets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CaravanError(f"eval set name(s) given twice: {', '.join(dupes)}")
    return sets
