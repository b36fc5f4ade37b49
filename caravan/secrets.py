"""Keep secrets out of logs, caches and dataset metadata.

Three nets, applied together by :func:`redact`: values under secret-looking keys, values of
secret-looking environment variables wherever they appear, and well-known key formats.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

MASK = "***"

# A key names a secret when its last word is one of these ("hf_token", "OPENAI_API_KEY",
# "authorization"), but not when it merely counts tokens ("max_tokens").
_SECRET_KEY = re.compile(
    r"(?i)(^|[_\-.])(api[_\-]?key|apikey|token|secret|secret[_\-]?key|password|passwd|"
    r"authorization|access[_\-]?key|private[_\-]?key|credentials?|bearer)$"
)
# Recognisable key formats (OpenAI, Anthropic, Hugging Face, bearer headers).
_KEY_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"hf_[A-Za-z0-9]{16,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]{12,}"),
]
_MIN_ENV_SECRET_LEN = 6
# Credentials inside URLs: scheme://user:password@host and ?api_key=... query values.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_URL_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:api[_\-]?key|apikey|key|token|access[_\-]?token|secret|password|sig)=)[^&#\s]+"
)


def is_secret_key(key: str) -> bool:
    """True if a config key or environment variable name denotes a secret."""
    return bool(_SECRET_KEY.search(key.strip().lstrip("-")))


def _env_secret_values() -> list[str]:
    values = [
        v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= _MIN_ENV_SECRET_LEN
    ]
    return sorted(set(values), key=len, reverse=True)


def redact_text(text: str, env_values: Sequence[str] | None = None) -> str:
    """Mask secret environment values and known key formats inside free text."""
    for value in env_values if env_values is not None else _env_secret_values():
        text = text.replace(value, MASK)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(MASK, text)
    text = _URL_USERINFO.sub(rf"\1{MASK}@", text)
    return _URL_SECRET_PARAM.sub(rf"\1{MASK}", text)


def public_url(url: str | None) -> str | None:
    """A URL without user:password@, query string or fragment, fit for display and metadata."""
    if url is None:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Mask `--api-key VALUE`, `--api-key=VALUE` and `api_key=VALUE` style arguments."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if arg.startswith("-") and "=" not in arg and is_secret_key(arg):
            out.append(arg)
            mask_next = True
            continue
        if "=" in arg:
            key, _, _value = arg.partition("=")
            if is_secret_key(key):
                out.append(f"{key}={MASK}")
                continue
        out.append(arg)
    env_values = _env_secret_values()
    return [redact_text(a, env_values) for a in out]


def redact(obj: Any) -> Any:
    """Return a copy of a JSON-like object with every secret masked."""
    env_values = _env_secret_values()

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: (MASK if isinstance(k, str) and is_secret_key(k) and v else walk(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return redact_text(value, env_values)
        return value

    return walk(obj)


def public_argv(argv: list[str] | None = None) -> list[str]:
    """The command line with any --base-url reduced to its public part."""
    import sys
    from pathlib import Path

    args = list(sys.argv if argv is None else argv)
    out = [Path(args[0]).name] if args else []
    rest = args[1:]
    for i, arg in enumerate(rest):
        if arg.startswith("--base-url="):
            arg = "--base-url=" + (public_url(arg.split("=", 1)[1]) or "")
        elif i > 0 and rest[i - 1] == "--base-url":
            arg = public_url(arg) or arg
        out.append(arg)
    return out
