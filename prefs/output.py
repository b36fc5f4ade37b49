"""The rows `prefs build` writes: pairs (TRL + ultrafeedback_binarized columns), and the
side table that keeps every response, model, per-aspect rating, rationale and position."""

from __future__ import annotations

from typing import Any

from caravan.prefs.judge import ASPECTS, TYPE_FIELDS
from caravan.prefs.prompts import Messages, prompt_id


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


IF_DROPPED = "dropped by --verify-if"


def _role(row: dict[str, Any], ci: int, pair: dict[str, Any] | None) -> str | None:
    if pair is None:
        return None
    model = row["candidates"][ci]["model"]  # distinct within a prompt
    return {pair["chosen_model"]: "chosen", pair["rejected_model"]: "rejected"}.get(model)


def side_rows(
    prompts: list[dict[str, Any]], pairs: dict[str, dict[str, Any]], status: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per response of every prompt, paired or not (nothing is thrown away).

    `prompts`: each prompt's last row (answered, judged or rejected on the way), in input
    order; `pairs`: pair rows by prompt id; `status`: "paired" or why the prompt is not."""
    rows = []
    for row in prompts:
        judged = list(row.get("judged") or [])
        scores = row.get("scores") or []
        outcomes = {o["aspect"]: o for o in row.get("aspects") or []}
        for ci, cand in enumerate(row["candidates"]):
            out: dict[str, Any] = {
                "prompt_key": row["id"],
                "prompt_id": prompt_id(row["prompt"]),
                "source": row["source"],
                "prompt": row["prompt"],
                "candidate": ci,
                "model": cand["model"],
                "model_id": cand["model_id"],
                "provider": cand["provider"],
                "origin": cand["origin"],
                "response": cand["text"],
                "finish_reason": cand["finish_reason"],
                "generation_error": cand["error"],
                "judged": ci in judged,
                "score": scores[ci] if ci < len(scores) else None,
                "role": _role(row, ci, pairs.get(row["id"])),
                "prompt_status": status.get(row["id"]),
            }
            pos = judged.index(ci) if ci in judged else None
            for aspect in ASPECTS:
                outcome = outcomes.get(aspect)
                rating = (
                    outcome["ratings"][pos] if outcome is not None and pos is not None else None
                )
                out[f"{aspect}_rating"] = rating["rating"] if rating else None
                out[f"{aspect}_label"] = rating["label"] if rating else None
                out[f"{aspect}_rationale"] = rating["rationale"] if rating else None
                out[f"{aspect}_position"] = rating["position"] if rating else None
                if aspect in TYPE_FIELDS:
                    out[f"{aspect}_{TYPE_FIELDS[aspect]}"] = rating["types"] if rating else None
                failed = outcome if outcome and not outcome["ok"] and pos is not None else None
                out[f"{aspect}_judge_error"] = failed["error"] if failed else None
                out[f"{aspect}_judge_raw"] = failed["raw"] if failed else None
                out[f"{aspect}_judge_attempts"] = outcome["attempts"] if outcome else None
            rows.append(out)
    return rows
