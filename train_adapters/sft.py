"""SFT on `messages` records with TRL, loss on assistant tokens, `sum` or `mean` reduction."""

from __future__ import annotations

from typing import Any


def sum_loss_trainer_class() -> type:
    """An SFTTrainer whose loss is the *sum* of token losses (Tülu 3), not the mean.

    Gradient accumulation adds micro-batch sums (no division), so one optimizer step sees
    the sum over every assistant token of the effective batch, as in open-instruct.
    """
    import torch.nn.functional as F
    from trl import SFTTrainer

    class SumLossSFTTrainer(SFTTrainer):
        # A sum needs no division by accumulation steps. trl's _BaseTrainer declares the
        # attribute without an annotation (`= None`), so its inferred type is None.
        loss_is_scaled_for_ga = True  # type: ignore[assignment]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            model_inputs["use_cache"] = False
            outputs = model(**model_inputs)
            logits = outputs.logits[:, :-1, :].float()
            target = labels[:, 1:].to(logits.device)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                target.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            return (loss, outputs) if return_outputs else loss

    return SumLossSFTTrainer


def build_trainer(model: Any, tokenizer: Any, dataset: Any, args: Any, reduction: str):
    from trl import SFTTrainer

    cls = sum_loss_trainer_class() if reduction == "sum" else SFTTrainer
    return cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
