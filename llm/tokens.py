"""Rough token counts for dry runs and tokens/minute limits, without a tokenizer download."""

from __future__ import annotations

from llm.types import Request

CHARS_PER_TOKEN = 4  # English BPE averages about four characters a token
PER_MESSAGE_OVERHEAD = 4
DEFAULT_OUTPUT_TOKENS = 256


def estimate_prompt_tokens(request: Request) -> int:
    chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    if request.schema is not None:
        chars += len(str(request.schema))
    return chars // CHARS_PER_TOKEN + PER_MESSAGE_OVERHEAD * len(request.messages) + 1


def expected_output_tokens(request: Request, default: int = DEFAULT_OUTPUT_TOKENS) -> int:
    """The request's max_tokens if set (an upper bound), else `default`."""
    for key in ("max_tokens", "max_completion_tokens"):
        value = request.params.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return default
