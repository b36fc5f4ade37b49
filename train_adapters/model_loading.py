"""Load model and tokenizer for a stage, adapting precision to the machine."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from caravan.train_adapters.chat_template import apply_template_choice

from caravan.errors import CaravanError


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


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in ("1", "true", "yes")


def loads_on_meta_device() -> bool:
    """FSDP with cpu_ram_efficient_loading, process group up, and not local rank 0."""
    import torch.distributed as dist

    return (
        dist.is_available()
        and dist.is_initialized()
        and _flag("ACCELERATE_USE_FSDP")
        and _flag("FSDP_CPU_RAM_EFFICIENT_LOADING")
        and int(os.environ.get("LOCAL_RANK", "0")) != 0
    )


def empty_model(model_id: str, dtype: Any) -> Any:
    """The architecture without weights: parameters on meta, buffers real.

    Non-persistent buffers (rotary frequencies) are computed in `__init__` and are not part of
    the state dict rank 0 broadcasts, so they must exist on every rank.
    """
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    config = AutoConfig.from_pretrained(model_id)
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    with contextlib.suppress(OSError):  # without generation_config.json the derived one stays
        model.generation_config = GenerationConfig.from_pretrained(model_id)
    return model


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
    `cpu_ram_efficient_loading`, only local rank 0 reads the weights; every other rank builds
    the model with its parameters on the meta device, and accelerate's FSDP2 preparation fills
    their shards from rank 0. A node then holds one host copy of a 70B model, not eight.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if bf16 else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        if loads_on_meta_device():
            model = empty_model(model_id, dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype)
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
