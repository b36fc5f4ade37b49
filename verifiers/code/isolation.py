"""Which OS isolation this machine gives sandboxed code, and the bubblewrap command for it.

Linux with bubblewrap (`bwrap`, Debian package `bubblewrap`) and user namespaces:
  * new user, mount, PID, IPC, UTS, cgroup and network namespaces; no capabilities; nested user
    namespaces disabled; a new session (no terminal to inject into); killed with its parent;
  * a read-only root that holds only /usr (and the /bin, /lib symlinks), the interpreter's
    prefix and the environment's site-packages, a private /proc (the sandbox's own processes
    only), a minimal /dev, and two size-capped tmpfs: /tmp (the working dir) and /dev/shm;
    never the home dir, the project, /etc/shadow, /sys or /run; no environment variables but
    PATH, LANG, HOME and single-thread BLAS settings;
  * the seccomp filter of verifiers.code.seccomp;
  * a process cap: RLIMIT_NPROC counted inside the fresh user namespace (kernel >= 5.14) for
    a normal user; as root, whom the kernel exempts from RLIMIT_NPROC, a pids cgroup per run
    (cgroup v1 `pids` or a delegated v2 tree) -- without a writable one isolation counts as
    unavailable for root.
Elsewhere (macOS, no bwrap, user namespaces disabled) isolation is unavailable and untrusted
code is refused unless the caller opts into unsafe local execution.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from caravan.verifiers.code import seccomp


@dataclass(frozen=True)
class Isolation:
    available: bool
    reason: str  # what is enforced, or why isolation is unavailable
    bwrap: str | None = None
    cgroup_root: Path | None = None  # parent dir for per-run pids cgroups (root only)


def interpreter() -> str:
    """The real interpreter binary (a venv's `python` is a symlink to it)."""
    return os.path.realpath(sys.executable)


def library_dirs() -> list[str]:
    """site-packages dirs on this interpreter's path outside its prefix and /usr (venvs)."""
    base = os.path.realpath(sys.base_prefix)
    out = []
    for entry in sys.path:
        path = os.path.realpath(entry or ".")
        if (
            os.path.basename(path) in ("site-packages", "dist-packages")
            and os.path.isdir(path)
            and not path.startswith((base + os.sep, "/usr/"))
            and path not in out
        ):
            out.append(path)
    return out


@dataclass(frozen=True)
class View:
    """Where the interpreter and libraries appear inside the sandbox (neutral paths, so
    neither the home dir nor the project shows up, not even as an empty path)."""

    binds: tuple[tuple[str, str], ...]  # (host path, sandbox path), read-only
    python: str
    sys_path: tuple[str, ...]


def sandbox_view(libraries: bool = True) -> View:
    binds: list[tuple[str, str]] = []
    exe = interpreter()
    prefix = os.path.realpath(sys.base_prefix)
    python = exe
    if not prefix.startswith("/usr/") and prefix != "/usr":
        binds.append((prefix, "/opt/python"))
        if exe.startswith(prefix + os.sep):
            python = "/opt/python" + exe[len(prefix) :]
    if python == exe and not exe.startswith("/usr/"):
        binds.append((os.path.dirname(exe), "/opt/python-bin"))
        python = "/opt/python-bin/" + os.path.basename(exe)
    libs = [(lib, f"/opt/lib/{i}") for i, lib in enumerate(library_dirs())] if libraries else []
    return View(tuple(binds + libs), python, tuple(inside for _, inside in libs))


def _remove_stale_cgroups(root: Path) -> None:
    """Empty per-run cgroups left by a Caravan process that was killed mid-run."""
    for path in root.glob("caravan-sbx-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


def _pids_cgroup_root() -> Path | None:
    """A directory where this (root) process may create pids cgroups, or None."""
    candidates = [Path("/sys/fs/cgroup/pids")]
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        own = []
    for line in own:
        hier, _, path = line.split(":", 2)
        if hier == "0":  # cgroup v2: only a tree with pids delegated to children
            v2 = Path("/sys/fs/cgroup") / path.lstrip("/")
            try:
                if "pids" in (v2 / "cgroup.subtree_control").read_text().split():
                    candidates.append(v2)
            except OSError:
                pass
    for root in candidates:
        if not ((root / "cgroup.procs").exists() and os.access(root, os.W_OK)):
            continue
        probe = root / f"caravan-probe-{os.getpid()}"
        for attempt in range(3):  # a busy host can refuse a cgroup for a moment
            try:
                probe.mkdir(exist_ok=True)
                (probe / "pids.max").write_text("8")
                probe.rmdir()
                _remove_stale_cgroups(root)
                return root
            except OSError:
                with contextlib.suppress(OSError):
                    probe.rmdir()
                time.sleep(0.2 * (attempt + 1))
    return None


def _ro_binds(libraries: bool) -> list[str]:
    args: list[str] = []
    for top in ("/usr",):
        args += ["--ro-bind", top, top]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += ["--ro-bind-try", "/etc/localtime", "/etc/localtime"]
    for host, inside in sandbox_view(libraries).binds:
        args += ["--ro-bind", host, inside]
    return args


def bwrap_args(
    bwrap: str,
    *,
    disk_mb: int,
    seccomp_fd: int,
    share_net: bool = False,
    libraries: bool = True,
) -> list[str]:
    """The bubblewrap command line up to (not including) the program to run."""
    size = str(disk_mb * 1024 * 1024)
    ns = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if not share_net:
        ns.append("--unshare-net")
    return [
        bwrap,
        *ns,
        "--disable-userns",
        "--die-with-parent",
        "--as-pid-1",  # the harness is init: nothing else in the sandbox to read or subvert
        "--new-session",
        "--cap-drop", "ALL",
        "--uid", "1000",
        "--gid", "1000",
        "--hostname", "sandbox",
        *_ro_binds(libraries),
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", size, "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",
        "--size", size, "--tmpfs", "/tmp",
        "--remount-ro", "/",
        "--chdir", "/tmp",
        "--clearenv",
        "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "HOME", "/tmp",
        "--setenv", "OMP_NUM_THREADS", "1",
        "--setenv", "OPENBLAS_NUM_THREADS", "1",
        "--setenv", "MKL_NUM_THREADS", "1",
        "--seccomp", str(seccomp_fd),
        "--",
    ]  # fmt: skip


@cache
def probe() -> Isolation:
    """Check once per process that a bubblewrap sandbox starts here, as the current user."""
    if sys.platform != "linux":
        return Isolation(False, f"no OS sandbox on {sys.platform} (needs Linux + bubblewrap)")
    if not seccomp.supported():
        return Isolation(False, "no seccomp syscall table for this CPU architecture")
    bwrap = shutil.which("bwrap") or (
        "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None
    )
    if bwrap is None:
        return Isolation(False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    cgroup_root = None
    if os.geteuid() == 0:
        cgroup_root = _pids_cgroup_root()
        if cgroup_root is None:
            return Isolation(
                False,
                "running as root without a writable pids cgroup: the kernel exempts root "
                "from RLIMIT_NPROC, so no process cap would hold",
            )
    rfd, wfd = os.pipe()
    os.write(wfd, seccomp.build_filter())
    os.close(wfd)
    try:
        args = bwrap_args(bwrap, disk_mb=1, seccomp_fd=rfd)
        proc = subprocess.run(
            [*args, sandbox_view().python, "-I", "-c", "print('ok')"],
            capture_output=True,
            text=True,
            timeout=30,
            pass_fds=(rfd,),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Isolation(False, f"bubblewrap failed to start: {exc}")
    finally:
        os.close(rfd)
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Isolation(False, f"bubblewrap cannot build a sandbox here: {err}")
    cap = f"pids cgroup under {cgroup_root}" if cgroup_root else "RLIMIT_NPROC in a user namespace"
    return Isolation(
        True, f"bubblewrap namespaces + seccomp; process cap: {cap}", bwrap, cgroup_root
    )
