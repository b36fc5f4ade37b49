"""Chat template choice for training: our marked-up Tülu template or the model's own.

TRL's `assistant_only_loss` needs `{% generation %}` markers, which TRL cannot add to a
model's template, so the Tülu template (llm.chat_template) ships with them.
"""

from __future__ import annotations

from typing import Any

from caravan.errors import CaravanError
from llm.chat_template import TULU_CHAT_TEMPLATE, TULU_ROLE_TOKENS


def apply_template_choice(tokenizer: Any, choice: str) -> None:
    """`tulu`: install the Tülu template; `model`: keep the tokenizer's own (must exist)."""
    if choice == "tulu":
        tokenizer.chat_template = TULU_CHAT_TEMPLATE
        missing = [t for t in TULU_ROLE_TOKENS if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_tokens(missing)
    elif not getattr(tokenizer, "chat_template", None):
        raise CaravanError(
            "the model's tokenizer has no chat template; set the recipe's chat_template: tulu"
        )
