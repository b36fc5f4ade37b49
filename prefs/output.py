"""Shape build results into the pairs file (TRL + ultrafeedback_binarized columns) and the
side table that keeps every response, model, per-aspect rating, rationale and position."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from caravan.prefs.judge import ASPECTS, TYPE_FIELDS
from caravan.prefs.prompts import Messages, prompt_id

if TYPE_CHECKING:
    from caravan.prefs.build import BuildConfig, BuildReport, PromptResult


def assistant(text: str) -> Messages:
    return [{"role": "assistant", "content": text}]


def pair_row(
    *,
    id: str,
    prompt: Messages,
    chosen: Messages,
    rejected: Messages,
    score_chosen: float | None,
    score_rejected: float | None,
    source: str,
    chosen_model: str | None,
    rejected_model: str | None,
    origin: str,
    ground_truth: str | None,
) -> dict[str, Any]:
    """One output row: TRL's prompt/chosen/rejected plus ultrafeedback_binarized's
    prompt_id, messages (the chosen conversation), score_chosen and score_rejected."""
    return {
        "id": id,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "score_chosen": score_chosen,
        "score_rejected": score_rejected,
        "prompt_id": prompt_id(prompt),
        "messages": prompt + chosen,
        "source": source,
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "origin": origin,
        "ground_truth": ground_truth,
        "if_verified": None,
    }


def pair_rows(cfg: BuildConfig, results: list[PromptResult]) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        if result.pair is None:
            continue
        chosen = result.candidates[result.pair.chosen]
        rejected = result.candidates[result.pair.rejected]
        rows.append(
            pair_row(
                id=result.item.id,
                prompt=result.item.prompt,
                chosen=assistant(chosen.response.text or ""),
                rejected=assistant(rejected.response.text or ""),
                score_chosen=result.pair.score_chosen,
                score_rejected=result.pair.score_rejected,
                source=result.item.source,
                chosen_model=chosen.model.name,
                rejected_model=rejected.model.name,
                origin="judged",
                ground_truth=result.item.ground_truth,
            )
        )
    return rows


IF_DROPPED = "dropped by --verify-if"


def mark_if_dropped(results: list[PromptResult], ids: set[str]) -> None:
    """Record on each judged prompt whose pair --verify-if dropped that it is no longer
    paired, so the side table agrees with the pairs file."""
    for result in results:
        if result.pair is not None and result.item.id in ids:
            result.excluded = IF_DROPPED


def side_rows(cfg: BuildConfig, results: list[PromptResult]) -> list[dict[str, Any]]:
    """One row per response of every prompt, paired or not (nothing is thrown away)."""
    rows = []
    for result in results:
        item = result.item
        status = result.excluded or ("paired" if result.pair is not None else None)
        for ci, cand in enumerate(result.candidates):
            r = cand.response
            row: dict[str, Any] = {
                "prompt_key": item.id,
                "prompt_id": item.prompt_id,
                "source": item.source,
                "prompt": item.prompt,
                "candidate": ci,
                "model": cand.model.name,
                "model_id": cand.model.model,
                "provider": cand.model.provider,
                "origin": cand.model.origin,
                "response": r.text,
                "finish_reason": r.finish_reason,
                "generation_error": r.error,
                "judged": ci in result.judged,
                "score": result.scores.get(ci),
                "role": (
                    "chosen"
                    if result.pair is not None and ci == result.pair.chosen
                    else "rejected"
                    if result.pair is not None and ci == result.pair.rejected
                    else None
                ),
                "prompt_status": status,
            }
            pos = result.judged.index(ci) if ci in result.judged else None
            for aspect in ASPECTS:
                outcome = result.aspects.get(aspect)
                rating = outcome.ratings[pos] if outcome is not None and pos is not None else None
                row[f"{aspect}_rating"] = rating.rating if rating else None
                row[f"{aspect}_label"] = rating.label if rating else None
                row[f"{aspect}_rationale"] = rating.rationale if rating else None
                row[f"{aspect}_position"] = rating.position if rating else None
                if aspect in TYPE_FIELDS:
                    row[f"{aspect}_{TYPE_FIELDS[aspect]}"] = rating.types if rating else None
                failed = (
                    outcome if outcome is not None and not outcome.ok and pos is not None else None
                )
                row[f"{aspect}_judge_error"] = failed.error if failed is not None else None
                row[f"{aspect}_judge_raw"] = failed.raw if failed is not None else None
                row[f"{aspect}_judge_attempts"] = outcome.attempts if outcome else None
            rows.append(row)
    return rows


def write_outputs(
    cfg: BuildConfig,
    rows: list[dict[str, Any]],
    side: list[dict[str, Any]],
    fingerprints: dict[str, str],
    report: BuildReport,
) -> tuple[Path, Path]:
    """Side table first (it holds every paid response), then the pairs file."""
    from caravan.llm.job import public_argv
    from caravan.records import Provenance, write_records

    config = cfg.public()
    config["excluded"] = dict(report.excluded)
    config["judge_failures"] = dict(report.judge_failures)
    config["side_table"] = cfg.side_path.name
    side_path = write_records(
        side,
        cfg.side_path,
        provenance=Provenance.capture(config, fingerprints, public_argv()),
    )
    out = write_records(
        rows,
        cfg.output,
        "preference",
        provenance=Provenance.capture(config, fingerprints, public_argv()),
    )
    return out, side_path
