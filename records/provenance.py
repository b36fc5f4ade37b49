"""Provenance stored in each file's schema metadata: who made it, from what, how. No secrets."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caravan import __version__
from caravan.secrets import redact, redact_argv

METADATA_KEY = b"caravan"


@dataclass
class Provenance:
    """How a dataset was produced. Serialized redacted, so secrets never reach the file."""

    command: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, str]] = field(default_factory=list)
    tool_version: str = __version__
    created_at: str = ""
    kind: str | None = None
    rows: int | None = None

    @classmethod
    def capture(
        cls,
        config: dict[str, Any] | None = None,
        inputs: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> Provenance:
        """Provenance for the running command; `inputs` maps source -> fingerprint."""
        argv = command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]
        return cls(
            command=list(argv),
            config=dict(config or {}),
            inputs=[{"source": s, "fingerprint": f} for s, f in (inputs or {}).items()],
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["command"] = redact_argv(self.command)
        data["created_at"] = self.created_at or datetime.now(UTC).isoformat(timespec="seconds")
        return json.dumps(redact(data), sort_keys=True, default=str)

    @classmethod
    def from_metadata(cls, metadata: dict[bytes, bytes] | None) -> Provenance | None:
        if not metadata or METADATA_KEY not in metadata:
            return None
        data = json.loads(metadata[METADATA_KEY])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
