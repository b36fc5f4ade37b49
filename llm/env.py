"""API keys come from the environment or a .env file, nowhere else.

The .env parser is deliberately small: `KEY=value` lines, optional `export `, quotes, and
`#` comments. Values already in the environment win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from caravan.errors import CaravanError

KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def parse_dotenv(text: str) -> dict[str, str]:
    """`KEY=value` pairs from .env text; later lines win."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_dotenv(path: str | Path = ".env", override: bool = False) -> dict[str, str]:
    """Put a .env file's values into os.environ (missing file: no-op). Returns what it read."""
    path = Path(path)
    if not path.is_file():
        return {}
    values = parse_dotenv(path.read_text(encoding="utf-8"))
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return values


def api_key(provider: str, env_var: str | None = None, required: bool = True) -> str | None:
    """The key for `provider` from the environment (after loading ./.env)."""
    var = env_var or KEY_VARS.get(provider)
    if var is None:
        return None
    load_dotenv()
    value = os.environ.get(var)
    if not value and required:
        raise CaravanError(
            f"{provider}: set {var} in the environment or in a .env file in the working folder"
        )
    return value
