"""GRPO with verifiable rewards: verifiers/ scores each completion against its row.

A row's `ground_truth` + `dataset` pick the verifier (value 10 when verified, as Tülu 3.1).
Thinking traces are stripped before checking; with `strict`, a malformed thinking part
scores 0 (it stays in the group, so the policy is pushed away from it). With `think_in_prompt`
the chat template opened `<think>` in the prompt, so a completion `... </think> answer` is well
formed. Truncation (no EOS in the
completion) can be overridden with a penalty. An optional reward model scores the answer
with its thinking stripped.
"""

from __future__ import annotations

from typing import Any, cast

from caravan.errors import CaravanError


def thinking_config(options: Any) -> Any:
    from caravan.verifiers.thinking import ThinkingConfig

    return ThinkingConfig(opened_in_prompt=bool(getattr(options, "think_in_prompt", False)))


def template_opens_thinking(tokenizer: Any) -> bool:
    """Does the chat template's generation prompt end inside an opened `<think>` block?"""
    from caravan.verifiers.thinking import CLOSE, OPEN

    try:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
        )
    except Exception:  # noqa: BLE001 - no usable template: nothing to detect
        return False
    return prompt.rfind(OPEN) > prompt.rfind(CLOSE)


def think_in_prompt_warning(tokenizer: Any, options: Any) -> str | None:
    """A warning when `grpo.think_in_prompt` disagrees with what the template does."""
    opens = template_opens_thinking(tokenizer)
    if opens and not options.think_in_prompt:
        return (
            "the chat template opens <think> in the prompt but grpo.think_in_prompt is off: "
            "with grpo.strict every completion will be judged malformed"
        )
    if options.think_in_prompt and not opens:
        return (
            "grpo.think_in_prompt is on but the chat template does not open <think>: "
            "completions that open their own block will be judged malformed"
        )
    return None


def eos_token_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model's generation config.

    Instruct checkpoints often stop on several ids (Llama 3: <|eot_id|> and <|end_of_text|>);
    checking only `tokenizer.eos_token_id` would call every <|eot_id|> ending truncated.
    """
    ids: set[int] = set()
    sources = [getattr(tokenizer, "eos_token_id", None)]
    for holder in (model, getattr(model, "config", None)):
        gen = getattr(holder, "generation_config", None)
        sources.append(getattr(gen, "eos_token_id", None))
    sources.append(getattr(getattr(model, "config", None), "eos_token_id", None))
    for value in sources:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple | set):
            ids.update(int(v) for v in value if v is not None)
    return ids


def verifier_reward(options: Any, eos_ids: int | set[int] | None):
    """TRL reward function over `ground_truth`/`dataset` columns, truncation from EOS ids."""
    from caravan.verifiers.rewards import RewardConfig, trl_reward_fn

    config = RewardConfig(
        value=options.reward_value,
        strict_thinking=options.strict,
        thinking=thinking_config(options),
        truncated_penalty=options.truncated_penalty,
    )
    inner = trl_reward_fn(config, truncated_column="_truncated")
    stops = {eos_ids} if isinstance(eos_ids, int) else set(eos_ids or ())

    def verifiable_reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completion_ids is not None and stops:
            columns["_truncated"] = [not ids or ids[-1] not in stops for ids in completion_ids]
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

    def __init__(
        self,
        model_id: str,
        *,
        strict: bool = False,
        think_in_prompt: bool = False,
        batch_size: int = 8,
    ) -> None:
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
        self.think_in_prompt = think_in_prompt
        self.batch_size = batch_size
        self.__name__ = "reward_model"

    def texts(self, prompts: list[Any], completions: list[Any]) -> list[str | None]:
        from caravan.verifiers.thinking import ThinkingConfig, strip_thinking

        config = ThinkingConfig(opened_in_prompt=self.think_in_prompt)
        out: list[str | None] = []
        for prompt, completion in zip(prompts, completions, strict=True):
            answer = strip_thinking(completion_text(completion), strict=self.strict, config=config)
            if answer is None:
                out.append(None)
                continue
            messages = (
                list(prompt)
                if isinstance(prompt, list)
                else [{"role": "user", "content": str(prompt)}]
            )
            messages.append({"role": "assistant", "content": answer})
            # tokenize=False: the rendered text (transformers types every return form at once)
            out.append(cast(str, self.tokenizer.apply_chat_template(messages, tokenize=False)))
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
            for (i, _text), value in zip(chunk, logits.tolist(), strict=True):
                scores[i] = float(value)
        return scores


def reward_functions(options: Any, tokenizer: Any, model: Any = None) -> list[Any]:
    funcs = [verifier_reward(options, eos_token_ids(tokenizer, model))]
    if options.reward_model:
        funcs.append(
            RewardModelScorer(
                options.reward_model, strict=options.strict, think_in_prompt=options.think_in_prompt
            )
        )
    return funcs


def build_trainer(model: Any, tokenizer: Any, dataset: Any, args: Any, options: Any):
    from trl import GRPOTrainer

    return GRPOTrainer(
        model=model,
        reward_funcs=reward_functions(options, tokenizer, model),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def grpo_kwargs(trl_kwargs: dict, options: Any) -> dict:
    """TRL kwargs plus the reward weights an optional reward model implies."""
    kwargs = dict(trl_kwargs)
    if options.reward_model and "reward_weights" not in kwargs:
        kwargs["reward_weights"] = [1.0, options.reward_model_weight]
    return kwargs
