"""Pipeline files: a list of stages with their settings, run by `caravan run FILE.yaml`.

    name: persona-if
    vars: {n: 20}                      # `{n}` in any string below; override with --var n=5
    llms:
      gpt4o: {model: gpt-4o}
    output: data/persona-if            # outputs, the run record and the resume journal
    steps:
      - read: example
      - synth.generate: {task: if, llm: gpt4o, n: "{n}"}
      - synth.solve: {llm: gpt4o, verify: true}
        as: sft                        # keep this table under a name
      - decontam.check: {evals: ["ifeval=eval/ifeval.jsonl:prompt"]}
      - decontam.gate: {threshold: 0.02}
      - write: {path: sft.parquet, kind: sft}
      - use: sft                       # continue from a named table
      - concat: [other]                # append named tables to the current one
      - train: {method: sft, recipe: tulu3-8b-sft}   # optional: train on the last write

Finished batches are journaled under the output folder, so a rerun resumes. Every file
written carries the provenance of its chain plus this pipeline's record, and `run.json`
beside them is the run's one record (file hash, settings, per-step counters, outputs).
`--dry-run` runs the free steps, and for every model step prints what it would send and
cost at most, sending nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import pyarrow as pa

from caravan.errors import CaravanError

STAGES = {
    "synth.generate": ("caravan.synth.stages", "Generate"),
    "synth.solve": ("caravan.synth.stages", "Solve"),
    "synth.relax": ("caravan.synth.stages", "Relax"),
    "synth.dedup": ("caravan.synth.stages", "Dedup"),
    "synth.complete": ("caravan.synth.stages", "Complete"),
    "prefs.answer": ("caravan.prefs.stages", "Answer"),
    "prefs.judge": ("caravan.prefs.stages", "Judge"),
    "prefs.binarize": ("caravan.prefs.stages", "Binarize"),
    "decontam.check": ("caravan.decontam.stages", "Check"),
    "decontam.gate": ("caravan.decontam.stages", "Gate"),
    "verify.score": ("caravan.verifiers.stages", "Score"),
    "verify.build_rlvr": ("caravan.verifiers.stages", "BuildRLVR"),
}
CONTROL = ("read", "use", "concat", "write", "train")  # train: caravan/pipeline_train.py
SESSION_ARGS = ("llm", "on_policy")  # values name an entry of `llms`
SESSION_LISTS = ("pool",)
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Step:
    op: str
    args: Any
    name: str | None = None  # `as:`
    index: int = 0

    @property
    def label(self) -> str:
        return f"{self.index + 1}:{self.op}"


@dataclass
class Pipeline:
    name: str
    steps: list[Step]
    llms: dict[str, Any] = field(default_factory=dict)  # name -> LLM session
    output: Path = Path("data")
    source: str = "<pipeline>"
    sha256: str = ""
    vars: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The pipeline as provenance records it (sessions describe themselves, no keys)."""
        return {
            "name": self.name,
            "file": self.source,
            "sha256": self.sha256,
            "vars": {k: _public(v) for k, v in self.vars.items()},
            "llms": {k: v.describe() for k, v in self.llms.items()},
        }


def _public(value: Any) -> Any:
    """URLs without credentials or query strings: variables end up in provenance."""
    from caravan.secrets import public_url

    return public_url(value) if isinstance(value, str) and "://" in value else value


def _substitute(value: Any, values: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise CaravanError(f"{where}: unknown variable {{{m.group(1)}}} (see `vars:`)")
        return str(values[m.group(1)])

    whole = _VAR.fullmatch(value)
    if whole and whole.group(1) in values:
        return values[whole.group(1)]  # keeps the value's type (a number stays a number)
    return _VAR.sub(one, value)


def parse_pipeline(
    data: Any,
    source: str = "<pipeline>",
    overrides: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Pipeline:
    """Check a loaded pipeline file and build its sessions and steps; errors name the step."""
    from caravan.session import LLM

    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise CaravanError(f"{source}: a pipeline is a mapping with a non-empty `steps` list")
    unknown = set(data) - {"name", "vars", "llms", "output", "steps"}
    if unknown:
        raise CaravanError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    values = {**(data.get("vars") or {}), **(overrides or {})}
    data = _substitute({k: v for k, v in data.items() if k != "vars"}, values, source)
    llms = {}
    for name, spec in (data.get("llms") or {}).items():
        spec = {"model": spec} if isinstance(spec, str) else dict(spec or {})
        spec.update(settings or {})
        llms[name] = LLM.from_config(spec, f"{source} llms.{name}")
    steps = []
    for i, raw in enumerate(data["steps"]):
        where = f"{source} step {i + 1}"
        if not isinstance(raw, dict):
            raise CaravanError(f"{where}: a step is a mapping like `synth.solve: {{...}}`")
        raw = dict(raw)
        alias = raw.pop("as", None)
        if len(raw) != 1:
            raise CaravanError(f"{where}: one operation per step, got {', '.join(raw) or 'none'}")
        op, args = next(iter(raw.items()))
        if op not in STAGES and op not in CONTROL:
            raise CaravanError(
                f"{where}: unknown step {op!r}; stages: {', '.join(STAGES)}; "
                f"control: {', '.join(CONTROL)}"
            )
        steps.append(Step(op, args, alias, i))
    name = str(data.get("name") or Path(source).stem)
    output = Path(data.get("output") or Path("data") / name)
    pipe = Pipeline(name, steps, llms, output, source, vars=values)
    if any(s.op == "train" for s in steps):
        from caravan.pipeline_train import check_train_steps

        check_train_steps(pipe)
    return pipe


def load_pipeline(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Pipeline:
    from caravan.yaml_config import read_yaml_file

    text, data = read_yaml_file(path, "pipeline file")
    pipe = parse_pipeline(data, str(path), overrides, settings)
    pipe.sha256 = hashlib.sha256(text.encode()).hexdigest()
    return pipe


def build_stage(pipe: Pipeline, step: Step) -> Any:
    args = dict(step.args or {})
    where = f"{pipe.source} step {step.index + 1} ({step.op})"
    if not isinstance(step.args or {}, dict):
        raise CaravanError(f"{where}: settings must be a mapping")

    def session(value: Any, key: str) -> Any:
        from caravan.session import LLM

        if isinstance(value, dict):
            return LLM.from_config(value, f"{where} {key}")
        if value not in pipe.llms:
            raise CaravanError(f"{where}: `{key}: {value}` names no entry of `llms`")
        return pipe.llms[value]

    for key in SESSION_ARGS:
        if args.get(key) is not None:
            args[key] = session(args[key], key)
    for key in SESSION_LISTS:
        if key in args:
            args[key] = [session(v, key) for v in args[key]]
    module, cls = STAGES[step.op]
    try:
        return getattr(import_module(module), cls)(**args)
    except TypeError as exc:
        raise CaravanError(f"{where}: {exc}") from exc


def _concat(parts: list[Any]) -> Any:
    from caravan.dataset import Dataset
    from caravan.records.readers import rows_to_table

    rows = [r for p in parts for r in p.table.to_pylist()]
    ids = [str(r["id"]) for r in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CaravanError(f"concat: row ids repeat across tables: {', '.join(dupes[:5])}")
    rejected = pa.concat_tables([p.rejected for p in parts])
    stats = {k: v for p in parts for k, v in p.stats.items()}
    inputs = {k: v for p in parts for k, v in p.inputs.items()}
    steps = [s for p in parts for s in p.steps]
    return Dataset(rows_to_table(rows), rejected, stats, steps, inputs)


@dataclass
class RunReport:
    pipeline: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    cost_usd: float = 0.0
    dry_run: list[str] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)


def run_pipeline(
    pipe: Pipeline,
    *,
    dry_run: bool = False,
    max_cost: float | None = None,
    progress: bool = True,
    resume: bool = True,
    log: Any = None,
    executor: str = "local",
    ray_address: str | None = None,
    ray_workers: int | None = None,
) -> RunReport:
    """Run every step in order; see the module docstring. `executor="ray"` runs the per-batch
    stages on a Ray cluster (`ray_address`, else $RAY_ADDRESS, else a local Ray) with
    `ray_workers` actors per stage (default: the cluster's CPUs)."""
    from caravan.aio import run_sync

    runner = stage_runner(executor, ray_address, ray_workers)
    return run_sync(_arun(pipe, dry_run, max_cost, progress, resume, log or _stderr, runner))


EXECUTORS = ("local", "ray")


def stage_runner(executor: str, ray_address: str | None = None, workers: int | None = None) -> Any:
    """An async `(stage, data, **options) -> Dataset` for the executor named."""
    from caravan.runner import arun_stage

    if executor == "local":
        return arun_stage
    if executor != "ray":
        raise CaravanError(f"unknown executor {executor!r}; choose {', '.join(EXECUTORS)}")
    from caravan import ray_executor

    ray_executor.init(ray_address)

    async def on_ray(stage: Any, data: Any, **options: Any) -> Any:
        return ray_executor.apply(data, stage, address=ray_address, workers=workers, **options)

    return on_ray


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _arun(
    pipe: Pipeline,
    dry: bool,
    max_cost: float | None,
    progress: bool,
    resume: bool,
    log: Any,
    arun_stage: Any,
) -> RunReport:
    from caravan.journal import Journal
    from caravan.runner import read

    report = RunReport(pipe.record())
    named: dict[str, Any] = {}
    current: Any = None
    spent = 0.0
    journal_root = pipe.output / ".journal"
    for step in pipe.steps:
        where = f"{pipe.source} step {step.index + 1} ({step.op})"
        if step.op == "read":
            spec = step.args if isinstance(step.args, dict) else {"path": step.args}
            current = read(spec["path"], split=spec.get("split"), config=spec.get("config"))
            if spec.get("limit") is not None:
                current.table = current.table.slice(0, int(spec["limit"]))
        elif step.op == "use":
            if step.args not in named:
                raise CaravanError(f"{where}: no table named {step.args!r} (name one with `as:`)")
            current = named[step.args]
        elif step.op == "concat":
            missing = [n for n in step.args if n not in named]
            if missing or current is None:
                raise CaravanError(f"{where}: nothing to concatenate ({', '.join(missing)})")
            current = _concat([current, *(named[n] for n in step.args)])
        elif step.op == "write":
            if current is None:
                raise CaravanError(f"{where}: nothing to write yet")
            spec = step.args if isinstance(step.args, dict) else {"path": step.args}
            path = pipe.output / spec["path"]
            if dry:
                report.dry_run.append(f"{step.label}: would write {current.table.num_rows} "
                                      f"rows to {path}")  # fmt: skip
            else:
                current.write(path, spec.get("kind"), config={"pipeline": pipe.record()})
                report.outputs.append({"path": str(path), "rows": current.table.num_rows,
                                       "kind": spec.get("kind")})  # fmt: skip
                log(f"{step.label}: wrote {current.table.num_rows} rows to {path}")
        elif step.op == "train":
            from caravan.pipeline_train import run_train

            run_train(pipe, step, report, dry=dry, log=log)
        else:
            if current is None:
                raise CaravanError(f"{where}: no input yet; start with a `read` step")
            stage = build_stage(pipe, step)
            if dry and stage.sessions():
                selected = stage.select(current.table)
                for session, requests in stage.plan(selected):
                    est = session.estimate(requests)
                    report.dry_run.append(f"{step.label}: {session.model} ({session.provider})")
                    report.dry_run.extend("  " + line for line in est.lines())
                    report.cost_usd += est.cost_usd or 0.0
                from caravan.dataset import Dataset

                current = Dataset(stage.dry_output(selected), current.rejected, current.stats,
                                  current.steps, current.inputs)  # fmt: skip
            else:
                budget = None if max_cost is None else max_cost - spent
                before = sum(s.spent_usd for s in stage.sessions())
                jnl = (
                    Journal(journal_root / f"{step.index + 1:02d}-{step.op}")
                    if resume and not dry
                    else None
                )
                current = await arun_stage(stage, current, journal=jnl, progress=progress,
                                           max_cost=budget, label=step.label)  # fmt: skip
                spent += sum(s.spent_usd for s in stage.sessions()) - before
                report.steps.append(current.steps[-1])
                c = current.steps[-1]["counters"]
                log(f"{step.label}: {c.get('rows_in', 0)} rows in, {c.get('rows_out', 0)} out, "
                    f"{c.get('rejected', 0)} rejected")  # fmt: skip
        if step.name:
            named[step.name] = current
    report.cost_usd = report.cost_usd if dry else spent
    report.tables = named | {"_last": current}
    if not dry:
        from caravan.records.writers import atomic_path

        pipe.output.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {"pipeline": report.pipeline, "steps": report.steps, "outputs": report.outputs,
                  "fresh_cost_usd": round(spent, 6), "command": [Path(sys.argv[0]).name, *sys.argv[1:]]}  # fmt: skip
        from caravan.secrets import redact, redact_argv

        record["command"] = redact_argv(record["command"])
        with atomic_path(pipe.output / "run.json", "w") as fh:
            json.dump(redact(record), fh, indent=1, default=str)
            fh.write("\n")
    return report


def run(
    pipeline: Any,
    data: Any = None,
    *,
    vars: dict[str, Any] | None = None,
    dry_run: bool = False,
    max_cost: float | None = None,
    progress: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
) -> Any:
    """`cv.run("pipeline.yaml")` runs a pipeline file (returns its RunReport);
    `cv.run([stage, stage, ...], data)` chains stages in memory (returns the Dataset).
    `executor="ray"` runs the stages on Ray (`ray_address`, else $RAY_ADDRESS, else local)."""
    if isinstance(pipeline, str | Path):
        return run_pipeline(
            load_pipeline(pipeline, vars), dry_run=dry_run, max_cost=max_cost, progress=progress,
            executor=executor, ray_address=ray_address,
        )  # fmt: skip
    from caravan.aio import run_sync
    from caravan.runner import read

    runner = stage_runner(executor, ray_address)
    current = read(data)
    for stage in pipeline:
        current = run_sync(runner(stage, current, progress=progress, max_cost=max_cost))
    return current
