"""Run one test of untrusted Python in an OS sandbox and collect what it did.

Every run gets its own bubblewrap sandbox (see verifiers.code.isolation for exactly what is
enforced where): namespaces, a read-only minimal file system, size-capped tmpfs, no network,
a seccomp filter, rlimits and a process cap. Inside, the harness (bootstrap.py) forks the
candidate and writes verdicts to a channel the candidate cannot reach. The run is over only
when every process of it is gone: the PID namespace dies with the harness, and a wall-clock
timeout SIGKILLs the sandbox (and, as root, everything left in its pids cgroup).

Where isolation is unavailable, `run_python` raises SandboxUnavailable unless unsafe local
execution was asked for (argument, `set_unsafe_local_exec(True)`, the `--unsafe-local-exec`
CLI flag or CARAVAN_UNSAFE_LOCAL_EXEC=1); then the same harness runs as a plain child process
with rlimits only, and a warning says so.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from caravan.verifiers.code import isolation, seccomp

from caravan.errors import CaravanError

_HERE = Path(__file__).parent
_PROGRAM = (
    (_HERE / "values.py").read_text(encoding="utf-8")
    + "\n"
    + (_HERE / "bootstrap.py").read_text(encoding="utf-8")
)
_VERDICT_CAP = 16 * 1024 * 1024
_UNSAFE_ENV = "CARAVAN_UNSAFE_LOCAL_EXEC"
_unsafe = {"allowed": False, "warned": False}
_counter = itertools.count()


class SandboxUnavailable(CaravanError):
    """No OS isolation here, and unsafe local execution was not asked for."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Defaults suit competitive-programming style tests."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_size_mb: int = 8
    max_procs: int = 8
    disk_mb: int = 16  # each of the sandbox's tmpfs (/tmp, /dev/shm)
    isolate_network: bool = True
    libraries: bool = True  # expose the environment's site-packages read-only


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run did."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    network: str  # "netns" (isolated) or "host" (unsafe local execution / shared network)
    verdicts: list[dict] = field(default_factory=list)  # written by the harness only
    isolated: bool = True

    @property
    def exit(self) -> dict:
        """The candidate process's exit, as the harness saw it ({} when unknown)."""
        for v in self.verdicts:
            if "exit" in v:
                return v["exit"]
        return {}

    @property
    def killed_by(self) -> str | None:
        sig = self.exit.get("signal")
        if sig:
            return sig
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


def set_unsafe_local_exec(allowed: bool) -> None:
    """Allow running untrusted code without OS isolation where none is available."""
    _unsafe["allowed"] = allowed


def _unsafe_allowed(explicit: bool | None) -> bool:
    if explicit is not None:
        return explicit
    return _unsafe["allowed"] or os.environ.get(_UNSAFE_ENV, "") in ("1", "true", "yes")


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0) if hasattr(os, "memfd_create") else _tmpfile_fd()
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _tmpfile_fd() -> int:
    fd, path = tempfile.mkstemp(prefix="caravan-sbx-")
    os.unlink(path)
    return fd


def _read_fd(fd: int, limit: int) -> bytes:
    chunks, offset = [], 0
    while offset < limit:
        chunk = os.pread(fd, min(1 << 20, limit - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _pids_cgroup(root: Path | None, max_tasks: int):
    """A fresh pids cgroup for one run (root only); everything in it is killed on exit."""
    if root is None:
        yield None
        return
    path = root / f"caravan-sbx-{os.getpid()}-{next(_counter)}"
    path.mkdir()
    try:
        (path / "pids.max").write_text(str(max_tasks))
        yield path
    finally:
        for _ in range(200):
            try:
                pids = (path / "cgroup.procs").read_text().split()
            except OSError:
                pids = []
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.005)


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    """Popen.wait(timeout) without its polling sleeps (up to 50 ms late): block on a pidfd."""
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(proc.pid)
            try:
                if not select.select([fd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
            finally:
                os.close(fd)
    return proc.wait(timeout)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _parse_verdicts(raw: bytes) -> list[dict]:
    out = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                out.append(item)
    return out


@cache
def _seccomp_filter(unix_sockets_only: bool) -> bytes:
    return seccomp.build_filter(unix_sockets_only=unix_sockets_only)


def run_python(
    source: str,
    *,
    stdin: str = "",
    limits: Limits | None = None,
    test: dict | None = None,
    unsafe_local_exec: bool | None = None,
) -> RunResult:
    """Run `source` in a fresh sandbox.

    `test` None runs the program on `stdin` (mode "stdio"); {"mode": "eval", "expr": ...} or
    {"mode": "script", "code": ...} runs one test through the harness (see bootstrap.py).
    """
    lim = limits or Limits()
    iso = isolation.probe()
    if not iso.available:
        if not _unsafe_allowed(unsafe_local_exec):
            raise SandboxUnavailable(
                f"refusing to run untrusted code: {iso.reason}. Pass --unsafe-local-exec "
                f"(or unsafe_local_exec=True, or set {_UNSAFE_ENV}=1) to run it without OS "
                "isolation on a machine you can afford to lose"
            )
        if not _unsafe["warned"]:
            _unsafe["warned"] = True
            warnings.warn(
                f"running untrusted code WITHOUT OS isolation ({iso.reason}): only rlimits "
                "and the harness's verdict channel apply",
                RuntimeWarning,
                stacklevel=2,
            )
    mode = (test or {}).get("mode", "stdio")
    view = isolation.sandbox_view(lim.libraries)
    job = {
        "mode": mode,
        "source": source,
        "cpu_s": lim.cpu_s,
        "memory_mb": lim.memory_mb,
        "file_size_mb": lim.file_size_mb,
        # tasks in the sandbox's user namespace: the harness + the candidate's max_procs
        "nproc": lim.max_procs + 1,
        "sys_path": list(view.sys_path) if iso.available else isolation.library_dirs(),
    }
    fds = [
        _memfd("job", json.dumps(job).encode()),
        _memfd("test", json.dumps(test or {}).encode()),
        _memfd("verdict", b""),
    ]
    work = tempfile.mkdtemp(prefix="caravan-sbx-io-")
    try:
        return _run(iso, lim, fds, stdin, work, view.python)
    finally:
        for fd in fds:
            os.close(fd)
        for name in ("stdin", "stdout", "stderr"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(work, name))
        with contextlib.suppress(OSError):
            os.rmdir(work)


def _run(
    iso: isolation.Isolation, lim: Limits, fds: list[int], stdin: str, work: str, python: str
) -> RunResult:
    verdict_fd = fds[2]
    if not iso.available:
        python = isolation.interpreter()
    program = [python, "-I", "-c", _PROGRAM, *(str(fd) for fd in fds)]
    pass_fds = list(fds)
    seccomp_fd = None
    if iso.available:
        seccomp_fd = _memfd("seccomp", _seccomp_filter(lim.isolate_network))
        pass_fds.append(seccomp_fd)
        argv = isolation.bwrap_args(
            iso.bwrap or "bwrap",
            disk_mb=lim.disk_mb,
            seccomp_fd=seccomp_fd,
            share_net=not lim.isolate_network,
            libraries=lim.libraries,
        )
        command = argv + program
        env = {"PATH": "/usr/bin:/bin"}
        cwd = "/"
    else:
        command = program
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work}
        cwd = work
    paths = {n: os.path.join(work, n) for n in ("stdin", "stdout", "stderr")}
    Path(paths["stdin"]).write_text(stdin, encoding="utf-8")
    # bwrap + the harness + the candidate's processes and threads
    max_tasks = lim.max_procs + 2
    start = time.monotonic()
    try:
        with (
            _pids_cgroup(iso.cgroup_root if iso.available else None, max_tasks) as cgroup,
            open(paths["stdin"], "rb") as fin,
            open(paths["stdout"], "wb") as fout,
            open(paths["stderr"], "wb") as ferr,
        ):
            if cgroup is not None:  # join the cgroup before bwrap starts: nothing escapes it
                command = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                           str(cgroup), *command]  # fmt: skip
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                start_new_session=True,
                pass_fds=pass_fds,
            )
            timed_out = False
            try:
                returncode: int | None = _wait(proc, lim.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
                returncode = None
            _kill_group(proc.pid)
    finally:
        if seccomp_fd is not None:
            os.close(seccomp_fd)
    wall = time.monotonic() - start
    cap = lim.file_size_mb * 1024 * 1024
    with open(paths["stdout"], "rb") as fh:
        stdout = fh.read(cap).decode("utf-8", errors="replace")
    with open(paths["stderr"], "rb") as fh:
        stderr = fh.read(cap).decode("utf-8", errors="replace")
    verdicts = _parse_verdicts(_read_fd(verdict_fd, _VERDICT_CAP))
    network = "netns" if iso.available and lim.isolate_network else "host"
    return RunResult(returncode, stdout, stderr, timed_out, wall, network, verdicts, iso.available)


def network_isolation() -> str:
    """What network isolation sandboxed code gets here: "netns" or "none"."""
    return "netns" if isolation.probe().available else "none"
