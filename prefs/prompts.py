"""Prompts to build preferences from: any SFT/synth dataset (its user turn) or a prompt file.

A row gives its prompt as `messages` (cut after the last user turn, so SFT rows work),
`prompt` (text or messages), or a text column named with --prompt-field. Each prompt keeps a
source tag (the row's `source`, else the file's name) and any IF ground truth it carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError

Messages = list[dict[str, str]]


@dataclass
class PromptItem:
    id: str
    prompt: Messages
    source: str
    ground_truth: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_id(self) -> str:
        return prompt_id(self.prompt)


def prompt_id(prompt: Messages) -> str:
    """sha256 of the prompt text, as ultrafeedback_binarized computes it for one user turn;
    of the JSON messages for longer conversations."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        text = prompt[0]["content"]
    else:
        text = json.dumps(prompt, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_messages(value: Any, where: str) -> Messages:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise CaravanError(f"{where}: prompt must be text or a non-empty message list")
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
            raise CaravanError(f"{where}: every message needs a `role` and text `content`")
        out.append({"role": str(m["role"]), "content": m["content"]})
    return out


def if_ground_truth(row: dict[str, Any], field_name: str) -> str | None:
    """The row's IF label, or None. Rows of other verifiers (an RLVR mix's gsm8k/MATH
    rows carry `ground_truth` too) are not IF rows."""
    gt = row.get(field_name)
    if not isinstance(gt, str) or not gt.strip():
        return None
    dataset = row.get("dataset")
    if dataset:
        from caravan.verifiers.registry import get_verifier

        try:
            if get_verifier(str(dataset)).name != "ifeval":
                return None
        except CaravanError:
            return None
    return gt


def cut_after_last_user(messages: Messages, where: str) -> Messages:
    """The conversation up to and including its last user turn."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last is None:
        raise CaravanError(f"{where}: the conversation has no user turn")
    return messages[: last + 1]


def row_prompt(row: dict[str, Any], where: str, prompt_field: str | None) -> Messages:
    if prompt_field:
        if prompt_field not in row or row[prompt_field] is None:
            raise CaravanError(f"{where}: no `{prompt_field}` value")
        value = row[prompt_field]
    elif row.get("messages") is not None:
        value = row["messages"]
    elif row.get("prompt") is not None:
        value = row["prompt"]
    else:
        raise CaravanError(f"{where}: needs a `messages` or `prompt` column (or --prompt-field)")
    messages = cut_after_last_user(_as_messages(value, where), where)
    if not messages[-1]["content"].strip():
        raise CaravanError(f"{where}: the last user turn is empty")
    return messages


def load_prompts(
    paths: list[Path],
    *,
    prompt_field: str | None = None,
    source: str | None = None,
    ground_truth_field: str = "ground_truth",
    limit: int | None = None,
) -> tuple[list[PromptItem], dict[str, str], int]:
    """(prompts, {file: fingerprint}, duplicates dropped). Ids must be unique; prompts with
    identical content are kept once (duplicate pairs would overweight them in DPO)."""
    from caravan.records import load_records

    items: list[PromptItem] = []
    fingerprints: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    seen_prompts: set[str] = set()
    duplicates = 0
    for path in paths:
        loaded = load_records(path)
        if loaded.bad_rows:
            bad = loaded.bad_rows[0]
            raise CaravanError(str(bad))
        fingerprints[str(path)] = loaded.fingerprint
        tag = source or Path(path).stem
        for i, row in enumerate(loaded.table.to_pylist()):
            where = str(loaded.locations[i])
            messages = row_prompt(row, where, prompt_field)
            rid = str(row["id"]) if row.get("id") is not None else f"{Path(path).stem}-{i}"
            if rid in seen_ids:
                raise CaravanError(f"{where}: id {rid!r} already used by {seen_ids[rid]}")
            seen_ids[rid] = where
            item = PromptItem(
                id=rid,
                prompt=messages,
                source=str(row.get("source") or tag),
                ground_truth=if_ground_truth(row, ground_truth_field),
            )
            if item.prompt_id in seen_prompts:
                duplicates += 1
                continue
            seen_prompts.add(item.prompt_id)
            items.append(item)
            if limit is not None and len(items) >= limit:
                return items, fingerprints, duplicates
    if not items:
        raise CaravanError(f"no prompts in {', '.join(str(p) for p in paths)}")
    return items, fingerprints, duplicates
