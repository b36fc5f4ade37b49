"""The first code the sandboxed interpreter runs: apply limits and guards, then the program.

Run as `python -I -c <this file's source> <config json>` in an empty temp dir, so nothing
the program can reach (PYTHONPATH, user site, the caller's files) shapes the interpreter. It
must stay stdlib-only and self-contained: it is never imported by the toolkit itself.

Order matters: the network namespace is entered first (it needs ctypes), then resource
limits, then the audit hook (after which ctypes, sockets, process creation and writes outside
the sandbox dir raise PermissionError), and only then the untrusted program is compiled.
"""

import json
import os
import re
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def _enter_network_namespace():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return "netns"
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return "userns+netns"
    except Exception:  # noqa: BLE001 - no namespace support: the audit hook still blocks sockets
        pass
    return "none"


def _own_process_count():
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        count += int(line.split()[1]) == uid
                        break
        except OSError:
            continue
    return count


def _limit(which, soft, hard=None):
    try:  # noqa: SIM105 - keep the bootstrap minimal
        resource.setrlimit(which, (soft, soft if hard is None else hard))
    except (ValueError, OSError):
        pass


def _apply_limits(cfg):
    _limit(resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1)
    _limit(resource.RLIMIT_AS, cfg["memory_mb"] * 1024 * 1024)
    _limit(resource.RLIMIT_FSIZE, cfg["file_size_mb"] * 1024 * 1024)
    _limit(resource.RLIMIT_NOFILE, 64)
    _limit(resource.RLIMIT_CORE, 0)
    # Counted per real uid, ignored for root (root relies on the audit hook and killpg).
    if os.getuid() != 0:
        try:
            running = _own_process_count()
        except OSError:  # no /proc (macOS): a fixed allowance
            running = 256
        _limit(resource.RLIMIT_NPROC, running + cfg["max_procs"])


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_MUTATING = {
    "os.remove": 0, "os.rmdir": 0, "os.rename": 1, "os.mkdir": 0, "os.symlink": 1,
    "os.link": 1, "os.chmod": 0, "os.chown": 0, "os.truncate": 0, "os.utime": 0,
    "shutil.rmtree": 0, "shutil.copyfile": 1, "shutil.move": 1, "os.chdir": 0,
}  # fmt: skip
_BLOCKED_PREFIXES = (
    "socket.", "os.fork", "os.forkpty", "os.exec", "os.spawn", "os.posix_spawn", "os.system",
    "os.kill", "os.killpg", "subprocess.", "ctypes.", "pty.", "os.setuid", "os.setgid",
    "os.setsid", "sys.addaudithook", "winreg.",
)  # fmt: skip
_OTHER_PROC = re.compile(r"^/proc/(\d+|thread-self)(/|$)")


def _install_guard(sandbox):
    sandbox = os.path.realpath(sandbox)
    own_pid = str(os.getpid())
    realpath = os.path.realpath

    def inside(path):
        try:
            p = realpath(os.fsdecode(path) if not isinstance(path, int) else "/")
        except Exception:  # noqa: BLE001
            return False
        return p == sandbox or p.startswith(sandbox + os.sep)

    def hook(event, args):
        if event.startswith(_BLOCKED_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            text = os.fsdecode(path)
            m = _OTHER_PROC.match(realpath(text))
            if m and m.group(1) != own_pid:
                raise PermissionError("sandbox: other processes' /proc entries are hidden")
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                flags is not None and flags & _WRITE_FLAGS
            )
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the sandbox dir: {text}")
        elif event in _MUTATING:
            for arg in args[: _MUTATING[event] + 1]:
                if isinstance(arg, str | bytes | os.PathLike) and not inside(arg):
                    raise PermissionError(f"sandbox: {event} outside the sandbox dir")

    sys.addaudithook(hook)


def main():
    cfg = json.loads(sys.argv[1])
    del sys.argv[1:]
    sys.argv[0] = "solution.py"
    network = _enter_network_namespace() if cfg["isolate_network"] else "none"
    _apply_limits(cfg)
    with open("solution.py", encoding="utf-8") as fh:
        source = fh.read()
    token = cfg.pop("token")
    sys.stderr.write(f"#sandbox network={network}\n")
    sys.stderr.flush()
    _install_guard(os.getcwd())
    code = compile(source, "solution.py", "exec")
    del cfg
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    sys.stdout.flush()
    if token:
        sys.stdout.write("\n" + token + "\n")
        sys.stdout.flush()


main()
