"""The Tülu chat template, with `{% generation %}` markers for assistant-only loss.

Per turn: `<|system|>\\n{content}\\n`, `<|user|>\\n{content}\\n`,
`<|assistant|>\\n{content}{eos}` and a `\\n` only when more turns follow; the generation
prompt is `<|assistant|>\\n`. TRL's `assistant_only_loss` needs the markers, and TRL cannot
add them to a model's own template, so we ship this marked-up copy.
"""

from __future__ import annotations

from typing import Any

TULU_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}"
    "{{ '<|system|>\\n' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'user' -%}"
    "{{ '<|user|>\\n' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<|assistant|>\\n' }}"
    "{%- generation -%}{{ message['content'] + eos_token }}{%- endgeneration -%}"
    "{%- if not loop.last -%}{{ '\\n' }}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)


def apply_template_choice(tokenizer: Any, choice: str) -> None:
    """`tulu`: install our marked-up Tülu template; `model`: keep the tokenizer's own."""
    if choice == "tulu":
        tokenizer.chat_template = TULU_TEMPLATE
    elif not getattr(tokenizer, "chat_template", None):
        from caravan.errors import CaravanError

        raise CaravanError(
            "the model's tokenizer has no chat template; use sft.chat_template=tulu"
        )
