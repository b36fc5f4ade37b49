"""The one place every model call goes through."""

from llm.api import acomplete, build_requests, complete
from llm.cache import ResponseCache
from llm.engine import Engine, EngineConfig
from llm.pricing import PriceTable
from llm.types import (
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
    "TransientError",
    "Usage",
    "acomplete",
    "build_requests",
    "complete",
]
