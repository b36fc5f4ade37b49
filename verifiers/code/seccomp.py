"""A seccomp-bpf filter for sandboxed code, assembled here (no libseccomp needed).

bubblewrap loads it (`--seccomp FD`) right before it runs the harness, so every process in
the sandbox is bound by it and cannot remove it. Refused with EPERM: process tracing and
cross-process memory access, mounts and namespace changes, the kernel keyring, `pidfd_*`,
bpf/perf/userfaultfd/io_uring, module loading, reboot/kexec/swap/clock changes, handle-based
opens (`open_by_handle_at`), and `clone` with namespace flags. `clone3` answers ENOSYS so
libc falls back to `clone`, whose flags the filter can see. `socket` is allowed for AF_UNIX
only (the sandbox has no network interface anyway). A foreign syscall ABI (x32, i386 on
x86_64) kills the process.
"""

from __future__ import annotations

import errno
import platform
import struct

_ARCH = {  # machine -> (AUDIT_ARCH_*, syscall numbers by name)
    "x86_64": (0xC000003E, {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165,
        "umount2": 166, "pivot_root": 155, "chroot": 161, "swapon": 167, "swapoff": 168,
        "reboot": 169, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "add_key": 248, "request_key": 249,
        "keyctl": 250, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
        "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "acct": 163, "quotactl": 179,
        "iopl": 172, "ioperm": 173, "fanotify_init": 300, "kcmp": 312, "move_mount": 429,
        "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
        "syslog": 103, "vhangup": 153, "lookup_dcookie": 212,
        "clone": 56, "clone3": 435, "socket": 41,
    }),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "chroot": 51, "swapon": 224, "swapoff": 225,
        "reboot": 142, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "add_key": 217, "request_key": 218,
        "keyctl": 219, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
        "unshare": 97, "setns": 268, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "acct": 89, "quotactl": 60,
        "fanotify_init": 262, "kcmp": 272, "move_mount": 429, "open_tree": 428,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "settimeofday": 170, "clock_settime": 112, "adjtimex": 171, "syslog": 116,
        "vhangup": 58, "lookup_dcookie": 18,
        "clone": 220, "clone3": 435, "socket": 198,
    }),
}  # fmt: skip

_SPECIAL = ("clone", "clone3", "socket")
_CLONE_NS_FLAGS = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)
_AF_UNIX = 1
_X32_BIT = 0x40000000

# classic BPF opcodes and seccomp return values
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_KILL_PROCESS = 0x80000000
_NR, _ARCH_OFF, _ARG0 = 0, 4, 16


class UnsupportedArchitecture(RuntimeError):
    pass


def supported() -> bool:
    return platform.machine() in _ARCH


def denied_syscalls() -> list[str]:
    """Names of the syscalls the filter refuses outright (EPERM)."""
    _, table = _ARCH.get(platform.machine(), _ARCH["x86_64"])
    return denied_syscalls_for(table)


def build_filter(machine: str | None = None, *, unix_sockets_only: bool = True) -> bytes:
    """The filter as an array of `struct sock_filter`, ready for bwrap's `--seccomp FD`.

    `unix_sockets_only=False` (for runs that share the host network) lets `socket` through."""
    machine = machine or platform.machine()
    if machine not in _ARCH:
        raise UnsupportedArchitecture(f"no seccomp syscall table for {machine}")
    audit_arch, table = _ARCH[machine]
    prog: list[tuple[int, object, object, int]] = []  # (code, jt label, jf label, k)

    def op(code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        prog.append((code, jt, jf, k))

    op(_LD_ABS, _ARCH_OFF)
    op(_JEQ, audit_arch, "nr", "kill")
    prog.append(("label", "nr", 0, 0))  # type: ignore[arg-type]
    op(_LD_ABS, _NR)
    if machine == "x86_64":
        op(_JGE, _X32_BIT, "kill", 0)
    for name in denied_syscalls_for(table):
        op(_JEQ, table[name], "deny", 0)
    op(_JEQ, table["clone3"], "nosys", 0)
    if unix_sockets_only:
        op(_JEQ, table["socket"], "socket", 0)
    op(_JEQ, table["clone"], "clone", "allow")
    prog.append(("label", "socket", 0, 0))  # type: ignore[arg-type]
    op(_LD_ABS, _ARG0)
    op(_JEQ, _AF_UNIX, "allow", "noaf")
    prog.append(("label", "clone", 0, 0))  # type: ignore[arg-type]
    op(_LD_ABS, _ARG0)
    op(_JSET, _CLONE_NS_FLAGS, "deny", "allow")
    for label, value in (
        ("allow", _ALLOW),
        ("deny", _ERRNO | errno.EPERM),
        ("nosys", _ERRNO | errno.ENOSYS),
        ("noaf", _ERRNO | errno.EAFNOSUPPORT),
        ("kill", _KILL_PROCESS),
    ):
        prog.append(("label", label, 0, 0))  # type: ignore[arg-type]
        op(_RET, value)
    return _assemble(prog)


def denied_syscalls_for(table: dict[str, int]) -> list[str]:
    return sorted(name for name in table if name not in _SPECIAL)


def _assemble(prog: list[tuple]) -> bytes:
    labels: dict[str, int] = {}
    real: list[tuple] = []
    for item in prog:
        if item[0] == "label":
            labels[item[1]] = len(real)
        else:
            real.append(item)
    out = bytearray()
    for pc, (code, jt, jf, k) in enumerate(real):

        def offset(target: object, pc: int = pc) -> int:
            if isinstance(target, int):
                return target
            delta = labels[str(target)] - pc - 1
            if not 0 <= delta <= 255:
                raise ValueError(f"seccomp jump to {target} out of range")
            return delta

        out += struct.pack("<HBBI", code, offset(jt), offset(jf), k)
    return bytes(out)
