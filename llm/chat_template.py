"""The Tülu chat format as a Jinja template (as open-instruct renders Tülu 3 conversations).

Used where a tokenizer ships no chat template of its own (the local backend falls back to
it) and by the tiny test model. The assistant turn is wrapped in `{% generation %}` markers so
that `apply_chat_template(..., return_assistant_tokens_mask=True)` (what TRL's
`assistant_only_loss` relies on) can find the tokens the model is trained to produce, the
closing EOS included. The markers render nothing, so prompts are unaffected.

Format per turn: `<|system|>\\n{content}\\n`, `<|user|>\\n{content}\\n`,
`<|assistant|>\\n{content}{eos}` plus `\\n` only when more turns follow; the generation prompt
is `<|assistant|>\\n`. A BOS token is emitted first when the tokenizer defines one, because
the prompt is tokenized without special tokens (as chat templates expect).
"""

from __future__ import annotations

TULU_CHAT_TEMPLATE = (
    "{{- bos_token if bos_token is defined and bos_token else '' -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}"
    "{{- '<|system|>\\n' + message['content'] + '\\n' -}}"
    "{%- elif message['role'] == 'user' -%}"
    "{{- '<|user|>\\n' + message['content'] + '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '<|assistant|>\\n' -}}"
    "{%- generation -%}"
    "{{- message['content'] + eos_token -}}"
    "{%- endgeneration -%}"
    "{{- '' if loop.last else '\\n' -}}"
    "{%- else -%}"
    "{{- raise_exception('unknown chat role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|assistant|>\\n' -}}"
    "{%- endif -%}"
)

#: Role markers the template writes; tokenizers built for it add them as single tokens.
TULU_ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
