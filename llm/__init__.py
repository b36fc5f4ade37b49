"""The one place every model call goes through.

    from caravan.llm import complete
    out = complete(["Name a prime.", [{"role": "user", "content": "Hi"}]], "gpt-4o-mini")
    out[0].text, out[0].usage, out[0].cost_usd, out[0].error   # one Response per input, in order

Backends (OpenAI and compatible servers, Anthropic, local transformers, vLLM offline) only make
calls; the Engine adds caching/resume (SQLite WAL), bounded concurrency, rate limits, retries,
schema validation and accounting; llm.batch drives the providers' Batch APIs.
"""

from caravan.llm.api import acomplete, build_requests, complete
from caravan.llm.cache import ResponseCache
from caravan.llm.engine import Engine, EngineConfig
from caravan.llm.guard import RunGuard, RunStopped
from caravan.llm.pricing import PriceTable
from caravan.llm.types import (
    Backend,
    BatchingBackend,
    LLMError,
    PermanentError,
    Request,
    Response,
    TransientError,
    Usage,
)

__all__ = [
    "Backend",
    "BatchingBackend",
    "Engine",
    "EngineConfig",
    "LLMError",
    "PermanentError",
    "PriceTable",
    "Request",
    "Response",
    "ResponseCache",
    "RunGuard",
    "RunStopped",
    "TransientError",
    "Usage",
    "acomplete",
    "build_requests",
    "complete",
]
