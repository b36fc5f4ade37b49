"""Run untrusted Python in a separate, limited process.

What is enforced, and where:

* parent (this module): a fresh interpreter (`python -I`: no PYTHONPATH, no user site) in a new
  session, started in an empty temp dir that is deleted afterwards; an environment with only
  PATH, LANG, HOME=<temp dir> and single-thread BLAS settings (no API keys or tokens); a
  wall-clock timeout after which the whole process group is SIGKILLed (also after every
  normal exit, for stray children); output goes to files, so a flood of prints is capped by
  the file-size limit, not by our memory.
* child, before the program (bootstrap.py): its own network namespace when the OS allows
  (root: unshare(CLONE_NEWNET); otherwise an unprivileged user+network namespace), so even
  raw syscalls see no network; rlimits on CPU seconds, address space, file size, open files,
  core dumps and (non-root) process count.
* child, Python audit hook: socket creation, fork/exec/spawn/subprocess/system, ctypes,
  writes and other mutations outside the temp dir, and reads of other processes' /proc
  entries raise PermissionError. An audit hook is a second layer, not a security boundary on
  its own: native code can get around it, which is what the namespace and rlimits are for.

Not enforced: a read-only view of the rest of the file system (files readable by the user
stay readable), and as root the process-count rlimit (the kernel exempts root).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_BOOTSTRAP = (Path(__file__).with_name("bootstrap.py")).read_text(encoding="utf-8")
_MARKER = "#sandbox network="


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Defaults suit competitive-programming style tests."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_size_mb: int = 8
    max_procs: int = 8
    isolate_network: bool = True


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run did."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    network: str  # "netns", "userns+netns" or "none" (sockets still blocked by the hook)
    token_seen: bool = False

    @property
    def killed_by(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


def _clean_env(home: str) -> dict[str, str]:
    # One BLAS/OpenMP thread: thread pools reserve address space the memory limit counts.
    single = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, **single}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read(path: Path, limit: int) -> str:
    with open(path, "rb") as fh:
        return fh.read(limit).decode("utf-8", errors="replace")


def run_python(
    source: str,
    *,
    stdin: str = "",
    limits: Limits | None = None,
    expect_token: bool = False,
) -> RunResult:
    """Run `source` as a program in the sandbox and collect what it did.

    With `expect_token=True` the bootstrap prints a random token after the program ran to
    completion; `token_seen` then tells a real finish from an early `os._exit(0)`.
    """
    lim = limits or Limits()
    token = secrets.token_hex(16) if expect_token else ""
    work = Path(tempfile.mkdtemp(prefix="caravan-sbx-"))
    io_dir = Path(tempfile.mkdtemp(prefix="caravan-sbx-io-"))
    try:
        (work / "solution.py").write_text(source, encoding="utf-8")
        config = {
            "cpu_s": lim.cpu_s,
            "memory_mb": lim.memory_mb,
            "file_size_mb": lim.file_size_mb,
            "max_procs": lim.max_procs,
            "isolate_network": lim.isolate_network,
            "token": token,
        }
        (io_dir / "stdin").write_text(stdin, encoding="utf-8")
        start = time.monotonic()
        with (
            open(io_dir / "stdin", "rb") as fin,
            open(io_dir / "stdout", "wb") as fout,
            open(io_dir / "stderr", "wb") as ferr,
        ):
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(config)],
                cwd=work,
                env=_clean_env(str(work)),
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                start_new_session=True,
                close_fds=True,
            )
            timed_out = False
            try:
                returncode: int | None = proc.wait(lim.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
                returncode = None
            _kill_group(proc.pid)  # stray children of a finished program
        wall = time.monotonic() - start
        cap = lim.file_size_mb * 1024 * 1024
        stdout = _read(io_dir / "stdout", cap)
        stderr = _read(io_dir / "stderr", cap)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(io_dir, ignore_errors=True)
    network = "none"
    if stderr.startswith(_MARKER):
        first, _, stderr = stderr.partition("\n")
        network = first[len(_MARKER) :]
    token_seen = False
    if token:
        tail = stdout.rstrip("\n").rsplit("\n", 1)
        if tail and tail[-1] == token:
            token_seen = True
            stdout = tail[0] if len(tail) == 2 else ""
    return RunResult(returncode, stdout, stderr, timed_out, wall, network, token_seen)


@cache
def network_isolation() -> str:
    """What network isolation this machine gives sandboxed code ("netns", ... or "none")."""
    return run_python("pass", limits=Limits(wall_s=20)).network
