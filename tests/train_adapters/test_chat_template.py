import pytest
from caravan.llm.chat_template import TULU_CHAT_TEMPLATE
from caravan.train_adapters.chat_template import apply_template_choice

from caravan.errors import CaravanError
from tests.fixtures.tiny_model import build_tokenizer

# A released-style Tülu template: same text, no {% generation %} markers, no BOS.
PLAIN_TULU = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if not loop.last %}{{ '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ '<|assistant|>\\n' + message['content'] + eos_token }}{% endif %}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
    "{% endfor %}"
)
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)


def test_auto_keeps_the_checkpoints_own_template():
    tok = build_tokenizer(chat_template=False)
    tok.chat_template = CHATML
    notes = apply_template_choice(tok, "auto")
    assert tok.chat_template == CHATML and notes == ["chat template: the checkpoint's own"]


def test_auto_uses_our_marked_up_copy_of_a_plain_tulu_template_when_masks_are_needed():
    tok = build_tokenizer(chat_template=False)
    tok.chat_template = PLAIN_TULU
    notes = apply_template_choice(tok, "auto", needs_generation_markers=True)
    assert tok.chat_template == TULU_CHAT_TEMPLATE and "using our copy" in notes[0]


def test_auto_refuses_a_foreign_template_without_generation_markers():
    tok = build_tokenizer(chat_template=False)
    tok.chat_template = CHATML
    with pytest.raises(CaravanError, match="needs \\{% generation %\\} markers"):
        apply_template_choice(tok, "auto", needs_generation_markers=True)


def test_tulu_template_on_a_tokenizer_without_role_tokens_leaves_the_vocabulary():
    tok = build_tokenizer(chat_template=False, role_tokens=False)
    vocab = dict(tok.get_vocab())
    notes = apply_template_choice(tok, "auto")
    assert tok.chat_template == TULU_CHAT_TEMPLATE and tok.get_vocab() == vocab
    assert "stay plain text" in notes[-1]
    apply_template_choice(tok, "tulu", add_role_tokens=True)
    assert len(tok.get_vocab()) == len(vocab) + 3
