"""Token counts without a tokenizer download: rough ones for dry runs and tokens/minute
limits, and true upper bounds for spending caps and "at most" figures."""

from __future__ import annotations

from caravan.llm.types import Request

# Per-provider output limit when a request sets no max_tokens: what the backend sends.
BACKEND_DEFAULT_MAX_TOKENS = {"anthropic": 1024, "local": 512, "vllm": 512}
# Chat formatting around each message (role markers, separators) and around a JSON schema
# (tool definitions, instructions): generous, so the bound holds for every tokenizer.
BOUND_PER_MESSAGE = 16
BOUND_SCHEMA_OVERHEAD = 1024

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


def requested_max_tokens(request: Request) -> int | None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = request.params.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_token_bound(request: Request) -> int:
    """At most this many prompt tokens: byte-level tokenizers never use more than one token
    per UTF-8 byte, plus chat and schema overhead."""
    total = sum(len(str(m.get("content", "")).encode()) for m in request.messages)
    total += BOUND_PER_MESSAGE * (len(request.messages) + 1)
    if request.schema is not None:
        total += len(str(request.schema).encode()) + BOUND_SCHEMA_OVERHEAD
    return total


def output_token_bound(request: Request, provider: str, model_max: int | None) -> int | None:
    """At most this many completion tokens: the request's max_tokens, else what the backend
    sends by default, else the model's own limit (None: nothing bounds it)."""
    return requested_max_tokens(request) or BACKEND_DEFAULT_MAX_TOKENS.get(provider) or model_max
