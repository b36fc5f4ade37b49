"""Resolve `pip install .` (no extras) and fail if it would pull torch or the trainer stack."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

FORBIDDEN = ("torch", "transformers", "trl", "accelerate", "vllm", "triton")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            str(root),
        ]
        subprocess.run(cmd, check=True)
        names = sorted(
            i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]
        )
    bad = [n for n in names if n in FORBIDDEN or n.startswith("nvidia-")]
    print(f"core install resolves to {len(names)} packages")
    if bad:
        print(f"core install would pull heavy packages: {', '.join(bad)}", file=sys.stderr)
        return 1
    print("no torch, CUDA or trainer packages in the core install")
    return 0


if __name__ == "__main__":
    sys.exit(main())
