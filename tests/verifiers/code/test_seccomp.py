import struct

import pytest
from caravan.verifiers.code import run_python, seccomp

from tests.verifiers.code.sandbox_marks import needs_sandbox


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_filter_checks_the_architecture_first_and_fits_bpf_limits(machine):
    prog = seccomp.build_filter(machine)
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
    code, _, _, k = struct.unpack("<HBBI", prog[:8])
    assert (code, k) == (0x20, 4)  # load seccomp_data.arch
    _, _, jf, arch = struct.unpack("<HBBI", prog[8:16])
    assert arch == {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]
    assert jf > 0  # a foreign ABI jumps to the kill return


def test_unknown_architecture_is_refused():
    with pytest.raises(seccomp.UnsupportedArchitecture):
        seccomp.build_filter("sparc")


@needs_sandbox
def test_denied_syscalls_fail_with_eperm_inside_the_sandbox():
    assert {"ptrace", "mount", "keyctl", "pidfd_open", "unshare", "bpf"} <= set(
        seccomp.denied_syscalls()
    )
    run = run_python(
        "import ctypes, errno, json, os, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def err(*args):\n"
        "    libc.syscall(*args)\n"
        "    return errno.errorcode.get(ctypes.get_errno())\n"
        "out = {'keyctl': err(250 if os.uname().machine == 'x86_64' else 219, 1, 0, 0),\n"
        "       'pidfd_open': err(434, 1, 0)}\n"
        "try:\n"
        "    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "except OSError as e:\n"
        "    out['inet'] = errno.errorcode[e.errno]\n"
        "a, b = socket.socketpair()\n"
        "a.sendall(b'ok')\n"
        "out['unix'] = b.recv(2).decode()\n"
        "print(json.dumps(out))\n"
    )
    assert run.exit == {"code": 0}, run.stderr
    assert run.stdout.strip() == (
        '{"keyctl": "EPERM", "pidfd_open": "EPERM", "inet": "EAFNOSUPPORT", "unix": "ok"}'
    )
