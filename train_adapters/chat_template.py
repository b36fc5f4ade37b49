"""Chat template choice for training, without changing the tokenizer behind the user's back.

`auto` keeps the checkpoint's own template when it has one (a Tülu SFT checkpoint carries the
format it was trained on) and falls back to our Tülu template. TRL's `assistant_only_loss`
needs `{% generation %}` markers, which TRL cannot add to a model's template: when the
checkpoint's template renders exactly like Tülu's, our marked-up copy is used instead (same
text, same tokens). The Tülu role markers stay plain text on a tokenizer that lacks them;
they become new special tokens (with resized embeddings) only when the recipe asks.
"""

from __future__ import annotations

import re
from typing import Any

from caravan.llm.chat_template import TULU_CHAT_TEMPLATE, TULU_ROLE_TOKENS

from caravan.errors import CaravanError

_GENERATION_BLOCK = re.compile(r"{%-?\s*generation\s*-?%}")
_PROBE = [
    {"role": "system", "content": "s"},
    {"role": "user", "content": "u"},
    {"role": "assistant", "content": "a"},
    {"role": "user", "content": "v"},
]


def renders_like_tulu(tokenizer: Any) -> bool:
    """True when the tokenizer's own template writes the same text as our Tülu template."""
    try:
        own = tokenizer.apply_chat_template(_PROBE, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that cannot render the probe is not Tülu's
        return False
    ours = tokenizer.apply_chat_template(
        _PROBE, tokenize=False, add_generation_prompt=True, chat_template=TULU_CHAT_TEMPLATE
    )
    bos = getattr(tokenizer, "bos_token", None) or ""
    # Ours writes BOS itself (prompts are tokenized without special tokens); released Tülu
    # templates leave it to the tokenizer. Either way the model saw BOS first.
    return own.removeprefix(bos) == ours.removeprefix(bos)


def apply_template_choice(
    tokenizer: Any,
    choice: str,
    *,
    needs_generation_markers: bool = False,
    add_role_tokens: bool = False,
) -> list[str]:
    """Install the chosen template; return what was decided, for the run log."""
    own = getattr(tokenizer, "chat_template", None)
    if choice == "model" and not own:
        raise CaravanError(
            "the model's tokenizer has no chat template; set the recipe's chat_template: tulu"
        )
    notes: list[str] = []
    use_tulu = choice == "tulu" or not own
    if own and not use_tulu and needs_generation_markers and not _GENERATION_BLOCK.search(own):
        if not renders_like_tulu(tokenizer):
            raise CaravanError(
                "assistant_only_loss needs {% generation %} markers, which the checkpoint's chat "
                "template lacks; set sft.chat_template: tulu or trl.assistant_only_loss=false"
            )
        use_tulu = True
        notes.append("chat template: the checkpoint's is Tülu's; using our copy with markers")
    if not use_tulu:
        notes.append("chat template: the checkpoint's own")
        return notes
    tokenizer.chat_template = TULU_CHAT_TEMPLATE
    if not notes:
        notes.append("chat template: Tülu (llm.chat_template)")
    missing = [t for t in TULU_ROLE_TOKENS if t not in tokenizer.get_vocab()]
    if missing and add_role_tokens:
        tokenizer.add_tokens(missing, special_tokens=True)
        notes.append(f"added {missing} as new special tokens; the embeddings are resized")
    elif missing:
        notes.append(
            f"{missing} are not tokens of this tokenizer: they stay plain text and the "
            "vocabulary is unchanged (add_role_tokens: true adds them)"
        )
    return notes
