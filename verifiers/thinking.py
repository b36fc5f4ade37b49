"""Separate a reasoning trace (`<think>...</think>`) from the answer that gets verified.

Verifiers must only see the answer: a number inside the reasoning is not the model's answer.
Two modes:

* lenient (default): remove every closed `<think>...</think>` block; an unclosed `<think>`
  drops everything after it; a stray `</think>` keeps only what follows its last occurrence
  (templates that open the block in the prompt).
* strict: the thinking part must be well formed, else the response counts as null (None),
  as in the seed recipe's `strict` option. Well formed means: optional whitespace, exactly one
  `<think>`, no nested `<think>` inside it, exactly one `</think>`, and no tag after it.
  With `opened_in_prompt=True` the completion starts inside the block, so it must hold
  exactly one `</think>` and no `<think>`. With `required=True` a response without a
  thinking block is malformed too (otherwise it passes through unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN = "<think>"
CLOSE = "</think>"


@dataclass(frozen=True)
class ThinkingConfig:
    """How a model writes its reasoning (the seed's "longCoT config")."""

    open_tag: str = OPEN
    close_tag: str = CLOSE
    required: bool = False
    opened_in_prompt: bool = False


def thinking_problem(text: str, config: ThinkingConfig | None = None) -> str | None:
    """Why the thinking part of `text` is malformed, or None when it is well formed."""
    cfg = config or ThinkingConfig()
    n_open = text.count(cfg.open_tag)
    n_close = text.count(cfg.close_tag)
    if cfg.opened_in_prompt:
        if n_open:
            return f"{cfg.open_tag} inside a completion whose block opens in the prompt"
        if n_close == 0:
            return f"unclosed thinking block (no {cfg.close_tag})"
        if n_close > 1:
            return f"{n_close} {cfg.close_tag} tags; exactly one expected"
        return None
    if n_open == 0 and n_close == 0:
        return "no thinking block" if cfg.required else None
    if n_open > 1:
        start = text.find(cfg.open_tag)
        first_close = text.find(cfg.close_tag, start)
        second_open = text.find(cfg.open_tag, start + len(cfg.open_tag))
        if first_close == -1 or second_open < first_close:
            return "nested thinking blocks"
        return f"{n_open} thinking blocks; exactly one expected"
    if n_open == 0:
        return f"{cfg.close_tag} without {cfg.open_tag}"
    if n_close == 0:
        return f"unclosed thinking block (no {cfg.close_tag})"
    if n_close > 1:
        return f"{n_close} {cfg.close_tag} tags; exactly one expected"
    start = text.find(cfg.open_tag)
    if text[:start].strip():
        return f"text before {cfg.open_tag}"
    if text.find(cfg.close_tag) < start:
        return f"{cfg.close_tag} before {cfg.open_tag}"
    return None


def _lenient(text: str, cfg: ThinkingConfig) -> str:
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(cfg.open_tag, pos)
        if start == -1:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = text.find(cfg.close_tag, start + len(cfg.open_tag))
        if end == -1:
            break  # unclosed: the rest is reasoning, not answer
        pos = end + len(cfg.close_tag)
    answer = "".join(out)
    if cfg.close_tag in answer:  # block opened in the prompt (or a stray closer)
        answer = answer.rsplit(cfg.close_tag, 1)[1]
    return answer.strip()


def strip_thinking(
    text: str, *, strict: bool = False, config: ThinkingConfig | None = None
) -> str | None:
    """The answer part of `text`; None in strict mode when the thinking part is malformed."""
    cfg = config or ThinkingConfig()
    if strict:
        if thinking_problem(text, cfg) is not None:
            return None
        if cfg.close_tag in text:
            return text.split(cfg.close_tag, 1)[1].strip()
        return text.strip()
    return _lenient(text, cfg)


def format_score(
    text: str, *, config: ThinkingConfig | None = None, answer_tags: bool = False
) -> float:
    """1.0 when the response has a well-formed, non-empty thinking block and answer, else 0.0.

    With `answer_tags=True` the answer must also sit in exactly one `<answer>...</answer>`.
    """
    cfg = config or ThinkingConfig()
    required = ThinkingConfig(cfg.open_tag, cfg.close_tag, True, cfg.opened_in_prompt)
    if thinking_problem(text, required) is not None:
        return 0.0
    thought = text.split(cfg.close_tag, 1)[0].replace(cfg.open_tag, "")
    answer = text.split(cfg.close_tag, 1)[1].strip()
    if not thought.strip() or not answer:
        return 0.0
    if answer_tags:
        if answer.count("<answer>") != 1 or answer.count("</answer>") != 1:
            return 0.0
        if not (answer.startswith("<answer>") and answer.endswith("</answer>")):
            return 0.0
        if not answer[len("<answer>") : -len("</answer>")].strip():
            return 0.0
    return 1.0
