"""The decisions of `synth solve` (run by the `Solve` stage): answer generated prompts with a
strong model; optionally keep only verified answers, giving SFT rows (and RLVR ground truth
for math).

Per task: IF answers must pass all their constraints; math/gsm/algebra answers are sampled
k times and kept when a majority agree (compared with verifiers.math / gsm8k), the agreed
answer becoming the row's ground truth; code answers come with model-written assert tests
that must pass in the verifier sandbox. Everything else is kept unverified. Every rejection
carries its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.llm.types import Response
from caravan.synth.generate import item_seed
from caravan.synth.templates import Template, load_template
from pydantic import BaseModel, Field

from caravan.errors import CaravanError

MATH_TASKS = ("math", "algebra", "gsm")
SOLVE_TEMPLATES = {"math": "solve_math", "algebra": "solve_math", "gsm": "solve_gsm", "code": "solve_code"}  # fmt: skip


class CodeAnswer(BaseModel):
    """The reply shape for code tasks: the answer text and the model's own tests."""

    solution: str = Field(description="Full answer with the function in a ```python block.")
    tests: list[str] = Field(description="Single-line assert statements calling the function.")


@dataclass
class SolveConfig:
    """The decision settings of one solve step (the `Solve` stage builds it)."""

    verify: bool = False
    samples: int | None = None  # math: answers drawn per prompt (default 4 with --verify)
    min_agreement: float = 0.5  # math: the top answer needs more than this share
    task: str | None = None  # when the input has no `task` column
    prompt_field: str = "prompt"
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 2048
    seed: int = 0
    templates: dict[str, Path] = field(default_factory=dict)  # task -> your own template

    def k(self, task: str) -> int:
        if task not in MATH_TASKS:
            return 1
        return self.samples or (4 if self.verify else 1)


def load_prompt_rows(
    path: Path, prompt_field: str, task: str | None
) -> tuple[list[dict], str, str]:
    from caravan.records import load_records

    loaded = load_records(path)
    if loaded.bad_rows:
        bad = loaded.bad_rows[0]
        raise CaravanError(f"{bad} ({len(loaded.bad_rows)} bad rows)")
    rows = loaded.table.to_pylist()
    if not rows:
        raise CaravanError(f"{path}: holds no prompts")
    normalize_prompt_rows(rows, str(path), prompt_field, task, [str(x) for x in loaded.locations])
    return rows, loaded.source, loaded.fingerprint


def normalize_prompt_rows(
    rows: list[dict],
    path: str,
    prompt_field: str,
    task: str | None,
    locations: list[str] | None = None,
) -> list[dict]:
    """Give each row an id, its prompt text and task (in place); errors name the 1-based row."""
    from caravan.verifiers.ifeval import parse_ground_truth

    for i, row in enumerate(rows):
        where = locations[i] if locations is not None else f"{path} row {i + 1}"
        row.setdefault("id", str(i))
        row["id"] = str(row["id"]) if row["id"] is not None else str(i)
        if not isinstance(row.get(prompt_field), str) or not row[prompt_field].strip():
            msgs = row.get("messages")
            user = [m for m in msgs or [] if m.get("role") == "user"]
            if not user:
                raise CaravanError(f"{where}: no `{prompt_field}` text and no user message")
            row[prompt_field] = user[-1]["content"]
        t = row.get("task") or task
        if t is None:
            raise CaravanError(f"{where}: no `task` column; pass --task")
        row["task"] = t
        if t == "if":
            if not row.get("ground_truth"):
                raise CaravanError(f"{where}: an `if` row needs its `ground_truth`")
            try:
                parse_ground_truth(row["ground_truth"])
            except CaravanError as exc:
                raise CaravanError(f"{where}: {exc}") from exc
    return rows


@dataclass
class Job:
    row: dict[str, Any]
    template: Template | None
    user_text: str
    caller: Any  # the LLM session that answers
    requests: list[Any] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)


def plan(cfg: SolveConfig, rows: list[dict], caller_for: Any) -> list[Job]:
    """One Job per row; `caller_for(task)` is the session that answers that task."""
    templates: dict[str, Template] = {}
    jobs = []
    for row in rows:
        task = row["task"]
        caller = caller_for(task)
        template = None
        if task in SOLVE_TEMPLATES:
            name = SOLVE_TEMPLATES[task]
            if name not in templates:
                templates[name] = load_template(name, cfg.templates.get(task))
            template = templates[name]
        text = template.render(prompt=row[cfg.prompt_field]) if template else row[cfg.prompt_field]
        job = Job(row, template, text, caller)
        base = item_seed(cfg.seed, row["id"])
        for s in range(cfg.k(task)):
            params = {
                "temperature": cfg.temperature,
                "top_p": cfg.top_p,
                "max_tokens": cfg.max_tokens,
                "seed": (base + s) % 2**31,
            }
            job.requests.append(
                caller.request(
                    f"solve-{row['id']}-s{s}",
                    [{"role": "user", "content": text}],
                    params,
                    CodeAnswer if task == "code" else None,
                )
            )
        jobs.append(job)
    return jobs


def _answer_text(task: str, r: Response) -> str:
    if task == "code":
        return str((r.parsed or {}).get("solution", ""))
    return (r.text or "").strip()


def _math_key(task: str, text: str) -> Any:
    if task == "gsm":
        from caravan.verifiers.gsm8k import extract_prediction

        return extract_prediction(text)
    from caravan.verifiers.math import extract_answer

    return extract_answer(text)


def _same(task: str, a: Any, b: Any) -> bool:
    if task == "gsm":
        return a == b
    from caravan.verifiers.math import is_correct

    return is_correct("\\boxed{" + str(a) + "}", str(b))


def _gsm_truth(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def majority(task: str, texts: list[str]) -> tuple[int | None, Any, list[tuple[Any, int]]]:
    """(index of a response in the largest agreeing group, its answer, group sizes)."""
    groups: list[list[Any]] = []  # [answer, count, first index]
    for i, text in enumerate(texts):
        ans = _math_key(task, text)
        if ans is None or (isinstance(ans, str) and not ans.strip()):
            continue
        for g in groups:
            if _same(task, ans, g[0]):
                g[1] += 1
                break
        else:
            groups.append([ans, 1, i])
    if not groups:
        return None, None, []
    best = max(groups, key=lambda g: (g[1], -g[2]))
    return best[2], best[0], [(g[0], g[1]) for g in groups]


def check(cfg: SolveConfig, job: Job) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """(extra row fields, None, []) when kept, else (None, reason, details)."""
    task = job.row["task"]
    ok = [r for r in job.responses if r.ok and r.finish_reason != "length"]
    if not ok:
        r = job.responses[0]
        if not r.ok:
            return None, "request failed", [f"{r.error_kind}: {r.error}"]
        return None, "truncated", [f"answer hit max_tokens={cfg.max_tokens}"]
    first = ok[0]
    answer = _answer_text(task, first)
    if not answer:
        return None, "empty answer", []
    extra: dict[str, Any] = {"verified": False, "agreement": None}
    if not cfg.verify:
        return {"answer": answer, **extra}, None, []
    if task == "if":
        from caravan.verifiers.ifeval import failed_checks, parse_ground_truth

        failed = failed_checks(answer, parse_ground_truth(job.row["ground_truth"]))
        if failed:
            return None, "answer fails its constraints", [f"fails {i}" for i in failed]
        return {"answer": answer, "verified": True, "agreement": None}, None, []
    if task in MATH_TASKS:
        texts = [(r.text or "") for r in ok]
        k = len(job.responses)
        index, value, groups = majority(task, texts)
        shown = [f"{a} x{n}" for a, n in groups] or ["no answer could be extracted"]
        top = max((n for _, n in groups), default=0)
        if index is None or top / k <= cfg.min_agreement:
            return None, "no majority answer", [f"{k} samples: " + ", ".join(map(str, shown))]
        truth = _gsm_truth(value) if task == "gsm" else str(value)
        return (
            {
                "answer": texts[index].strip(),
                "verified": True,
                "agreement": top / k,
                "ground_truth": truth,
                "dataset": "gsm8k" if task == "gsm" else "MATH",
            },
            None,
            [],
        )
    if task == "code":
        from caravan.verifiers.code import TestCase, extract_code, run_tests

        tests = [t for t in (first.parsed or {}).get("tests", []) if str(t).strip()]
        if not tests:
            return None, "no tests written", []
        result = run_tests(extract_code(answer), [TestCase("assert", code=t) for t in tests])
        if not result.all_passed:
            details = [
                f"test {o.index}: {o.status} {o.detail}".strip()
                for o in result.outcomes
                if not o.passed
            ]
            return None, "own tests fail", details
        return (
            {
                "answer": answer,
                "verified": True,
                "agreement": None,
                "ground_truth": json.dumps(tests),
                "dataset": "code",
            },
            None,
            [],
        )
    return {"answer": answer, **extra}, None, []  # instruction: nothing to verify


def solve_row(cfg: SolveConfig, job: Job, extra: dict[str, Any]) -> dict[str, Any]:
    """The SFT row for a kept answer (`extra` as `check` returned it)."""
    row = job.row
    answer = extra.pop("answer")
    choice = job.caller
    return {
        "id": row["id"],
        "messages": [
            {"role": "user", "content": job.user_text},
            {"role": "assistant", "content": answer},
        ],
        "source": f"synth:{row['task']}",
        "persona_id": row.get("persona_id"),
        "task": row["task"],
        "prompt": row[cfg.prompt_field],
        "template": row.get("template"),
        "template_sha256": row.get("template_sha256"),
        "solve_template": job.template.name if job.template else None,
        "solve_template_sha256": job.template.sha256 if job.template else None,
        "model": choice.model,
        "provider": choice.provider,
        "samples": len(job.responses),
        "ground_truth": extra.pop("ground_truth", row.get("ground_truth")),
        "dataset": extra.pop("dataset", row.get("dataset")),
        "constraint_type": row.get("constraint_type"),
        "constraint": row.get("constraint"),
        **extra,
    }
