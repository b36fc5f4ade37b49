import pytest
from caravan.verifiers.thinking import (
    ThinkingConfig,
    format_score,
    strip_thinking,
    thinking_problem,
)


def test_lenient_strips_the_trace_and_keeps_the_answer():
    assert strip_thinking("<think>maybe 12?</think> The answer is 7.") == "The answer is 7."
    assert strip_thinking("no tags at all") == "no tags at all"


def test_lenient_drops_an_unclosed_trace_instead_of_scoring_it():
    assert strip_thinking("Answer 3 <think>wait, 5") == "Answer 3"


def test_lenient_handles_a_block_opened_in_the_prompt():
    assert strip_thinking("reasoning 41 ... </think> final 42") == "final 42"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<think>a</think> x", None),
        ("  \n<think>a</think>x", None),
        ("<think>never closed 5", "unclosed"),
        ("<think>a <think>b</think> c</think> x", "nested"),
        ("Sure! <think>a</think> x", "text before"),
        ("<think>a</think> x <think>b</think> y", "thinking blocks"),
        ("a</think> x", "without"),
        ("</think> x <think> y", "before"),
    ],
)
def test_strict_mode_defines_malformed(text, problem):
    found = thinking_problem(text)
    if problem is None:
        assert found is None
        assert strip_thinking(text, strict=True) == "x"
    else:
        assert problem in found
        assert strip_thinking(text, strict=True) is None


def test_strict_required_and_prompt_opened_configs():
    required = ThinkingConfig(required=True)
    assert strip_thinking("plain answer", strict=True) == "plain answer"
    assert strip_thinking("plain answer", strict=True, config=required) is None
    opened = ThinkingConfig(opened_in_prompt=True)
    assert strip_thinking("steps</think> 9", strict=True, config=opened) == "9"
    assert strip_thinking("<think>steps</think> 9", strict=True, config=opened) is None
    assert strip_thinking("steps without end", strict=True, config=opened) is None


def test_custom_tags():
    cfg = ThinkingConfig(open_tag="<reasoning>", close_tag="</reasoning>")
    assert strip_thinking("<reasoning>r</reasoning>ok", strict=True, config=cfg) == "ok"


def test_format_score():
    assert format_score("<think>plan</think> 42") == 1.0
    assert format_score("42") == 0.0
    assert format_score("<think></think> 42") == 0.0
    assert format_score("<think>plan</think>") == 0.0
    assert format_score("<think>p</think><answer>42</answer>", answer_tags=True) == 1.0
    assert format_score("<think>p</think>42", answer_tags=True) == 0.0
