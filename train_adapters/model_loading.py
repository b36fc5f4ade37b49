"""Load model and tokenizer for a stage, adapting precision to the machine."""

from __future__ import annotations

from typing import Any

from caravan.errors import CaravanError
from train_adapters.chat_template import apply_template_choice


def adapt_to_machine(trl_kwargs: dict[str, Any]) -> list[str]:
    """On a machine without CUDA, train in fp32 on the CPU (TRL defaults to bf16)."""
    import torch

    if torch.cuda.is_available():
        return []
    trl_kwargs["bf16"] = False
    trl_kwargs["use_cpu"] = True
    trl_kwargs.pop("fp16", None)
    if trl_kwargs.get("use_vllm"):
        trl_kwargs["use_vllm"] = False
        return ["no CUDA: training on CPU in fp32, generating with transformers instead of vLLM"]
    return ["no CUDA: training on CPU in fp32"]


def load_model_and_tokenizer(
    model_id: str,
    template: str | None,
    bf16: bool,
    *,
    needs_generation_markers: bool = False,
    add_role_tokens: bool = False,
) -> tuple[Any, Any, list[str]]:
    """Model, tokenizer and notes on what was decided about the chat template.

    Call this after the process group exists (see run.py): with FSDP's
    `cpu_ram_efficient_loading`, transformers then reads the weights on local rank 0 only and
    puts every other rank's model on the meta device, so a node holds one host copy, not N.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        model = AutoModelForCausalLM.from_pretrained(
            model_id, dtype=torch.bfloat16 if bf16 else torch.float32
        )
    except (OSError, ValueError) as exc:
        raise CaravanError(f"cannot load model {model_id!r}: {' '.join(str(exc).split())}") from exc
    notes: list[str] = []
    if template is not None:
        notes = apply_template_choice(
            tokenizer,
            template,
            needs_generation_markers=needs_generation_markers,
            add_role_tokens=add_role_tokens,
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer, notes
