"""Shared by the llm_* benchmarks: run the API double in its own process."""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOUBLE = REPO / "tests" / "llm" / "api_double.py"


def load_double_module():
    spec = importlib.util.spec_from_file_location("llm_api_double", DOUBLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_api_double"] = module
    spec.loader.exec_module(module)
    return module


class DoubleProcess:
    """`python tests/llm/api_double.py ...` on an ephemeral port; stop() returns its counts."""

    def __init__(self, *args: str, stats_file: Path | None = None) -> None:
        cmd = [sys.executable, str(DOUBLE), "--no-log", *args]
        if stats_file is not None:
            cmd += ["--stats-file", str(stats_file)]
        self.stats_file = stats_file
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError(f"the API double did not start: {line}")
        self.port = int(line[1])
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> dict:
        import json

        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        if self.stats_file is not None and self.stats_file.exists():
            return json.loads(self.stats_file.read_text())
        return {}


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def env_with_repo() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}
