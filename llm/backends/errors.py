"""Turn SDK exceptions into the engine's two kinds: worth retrying, or not."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

from caravan.llm.types import PermanentError, TransientError

from caravan.secrets import redact_text


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` headers (number or HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def classify_status(status: int, message: str, headers: Any = None) -> Exception:
    """The engine error for an HTTP status."""
    message = redact_text(message)
    if status == 429:
        return TransientError(message, "rate_limit", retry_after_seconds(headers))
    if status in (408, 409) or status >= 500:
        kind = "overloaded" if status == 529 else "server"
        return TransientError(message, kind, retry_after_seconds(headers))
    if status in (401, 403):
        return PermanentError(message, "auth")
    if status == 404:
        return PermanentError(message, "not_found")
    return PermanentError(message, "request")


def never_connected(exc: BaseException) -> bool:
    """True when no connection was made at all (refused, unknown host), as opposed to one
    that dropped mid-call: the first may mean nothing is listening at the base URL."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or type(current).__name__ in (
            "ConnectError",
            "gaierror",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def classify_sdk_error(exc: BaseException, sdk: Any, where: str) -> Exception:
    """Map an `openai` / `anthropic` exception (same class names in both SDKs)."""
    name = f"{where}: {exc.__class__.__name__}: {exc}"
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError(redact_text(name), "timeout")
    if isinstance(exc, sdk.APIConnectionError):
        kind = "connect" if never_connected(exc) else "connection"
        return TransientError(redact_text(name), kind)
    if isinstance(exc, sdk.APIStatusError):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return classify_status(exc.status_code, name, headers)
    if isinstance(exc, json.JSONDecodeError | sdk.APIResponseValidationError):
        return TransientError(redact_text(name), "malformed")
    return PermanentError(redact_text(name), "client")
