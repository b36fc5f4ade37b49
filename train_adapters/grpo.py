"""GRPO with verifiable rewards: verifiers/ scores each completion against its row.

A row's `ground_truth` + `dataset` pick the verifier (value 10 when verified, as Tülu 3.1).
Thinking traces are stripped before checking; with `strict`, a malformed thinking part
scores 0 (it stays in the group, so the policy is pushed away from it). Truncation (no EOS in the
completion) can be overridden with a penalty. An optional reward model scores the answer
with its thinking stripped.
"""

from __future__ import annotations

from typing import Any

from caravan.errors import CaravanError


def verifier_reward(options: Any, eos_token_id: int | None):
    """TRL reward function over `ground_truth`/`dataset` columns, truncation from EOS."""
    from verifiers.rewards import RewardConfig, trl_reward_fn

    config = RewardConfig(
        value=options.reward_value,
        strict_thinking=options.strict,
        truncated_penalty=options.truncated_penalty,
    )
    inner = trl_reward_fn(config, truncated_column="_truncated")

    def verifiable_reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completion_ids is not None and eos_token_id is not None:
            columns["_truncated"] = [not ids or ids[-1] != eos_token_id for ids in completion_ids]
        return inner(prompts=prompts, completions=completions, **columns)

    return verifiable_reward


def completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise CaravanError(f"cannot read a completion of type {type(completion).__name__}")


class RewardModelScorer:
    """A sequence-classification reward model as a TRL reward function.

    The thinking trace is stripped first (the reward model judges the answer only); with
    `strict`, a malformed thinking part scores None.
    """

    def __init__(self, model_id: str, *, strict: bool = False, batch_size: int = 8) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id)
            self.model = AutoModelForSequenceClassification.from_pretrained(model_id).eval()
        except (OSError, ValueError) as exc:
            raise CaravanError(f"cannot load reward model {model_id!r}: {exc}") from exc
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.strict = strict
        self.batch_size = batch_size
        self.__name__ = "reward_model"

    def texts(self, prompts: list[Any], completions: list[Any]) -> list[str | None]:
        from verifiers.thinking import strip_thinking

        out: list[str | None] = []
        for prompt, completion in zip(prompts, completions, strict=True):
            answer = strip_thinking(completion_text(completion), strict=self.strict)
            if answer is None:
                out.append(None)
                continue
            messages = (
                list(prompt)
                if isinstance(prompt, list)
                else [{"role": "user", "content": str(prompt)}]
            )
            messages.append({"role": "assistant", "content": answer})
            out.append(self.tokenizer.apply_chat_template(messages, tokenize=False))
        return out

    def __call__(self, prompts=None, completions=None, **_: Any) -> list[float | None]:
        import torch

        texts = self.texts(prompts, completions)
        scores: list[float | None] = [None] * len(texts)
        todo = [(i, t) for i, t in enumerate(texts) if t is not None]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            enc = self.tokenizer(
                [t for _, t in chunk], return_tensors="pt", padding=True, add_special_tokens=False
            )
            with torch.no_grad():
                logits = self.model(**enc.to(self.model.device)).logits[:, 0]
            for (i, _), value in zip(chunk, logits.tolist(), strict=True):
                scores[i] = float(value)
        return scores


def reward_functions(options: Any, tokenizer: Any) -> list[Any]:
    funcs = [verifier_reward(options, tokenizer.eos_token_id)]
    if options.reward_model:
        funcs.append(RewardModelScorer(options.reward_model, strict=options.strict))
    return funcs


def build_trainer(model: Any, tokenizer: Any, dataset: Any, trl_kwargs: dict, options: Any):
    from trl import GRPOConfig, GRPOTrainer

    kwargs = dict(trl_kwargs)
    if options.reward_model and "reward_weights" not in kwargs:
        kwargs["reward_weights"] = [1.0, options.reward_model_weight]
    args = GRPOConfig(**kwargs)
    return GRPOTrainer(
        model=model,
        reward_funcs=reward_functions(options, tokenizer),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
