"""The harness inside the sandbox: runs one test of a candidate program, reports the verdict.

Shipped as source (values.py + this file) to `python -I -c`, with three inherited fds named
on the command line: the candidate job (program, mode, limits), the test job and the verdict
channel. Stdlib-only and self-contained: it is never imported by the toolkit.

Two processes. The harness (this process) makes itself non-dumpable, so a process of the same
uid can open neither its /proc/<pid>/mem nor /proc/<pid>/fd, and forks the candidate process,
which closes the test job and the verdict channel before anything else, sets its rlimits
(soft = hard: no capability in the sandbox can raise a hard limit) and only then compiles the
program. The test job is read after the fork, so expected values never exist in the
candidate's memory. The candidate answers requests over a pipe with values made of builtin
types only (values.py); the harness writes verdicts. Nothing the candidate prints, no exit
status and no hook it installs can produce a verdict line.

Modes: "stdio" (the program reads stdin; the host compares stdout), "eval" (evaluate one
expression in the program's namespace and report its value: the host compares it with the
expected value the sandbox never saw) and "script" (run test code here, in the harness, with
the program's functions as proxies that call into the candidate process).
"""

import ast
import builtins
import contextlib
import importlib
import os
import resource
import signal
import sys

_MB = 1024 * 1024


def _limit(name, value):
    which = getattr(resource, name, None)  # some limits are Linux-only
    if which is not None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))


def _candidate_limits(cfg):
    _limit("RLIMIT_CPU", cfg["cpu_s"])
    _limit("RLIMIT_AS", cfg["memory_mb"] * _MB)
    _limit("RLIMIT_FSIZE", cfg["file_size_mb"] * _MB)
    _limit("RLIMIT_NOFILE", 64)
    _limit("RLIMIT_CORE", 0)
    _limit("RLIMIT_NPROC", cfg["nproc"])
    _limit("RLIMIT_MSGQUEUE", 0)
    _limit("RLIMIT_MEMLOCK", 0)


def _send(fd, obj):
    data = (__import__("json").dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


class _Lines:
    """Newline-delimited JSON from a pipe."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def read(self):
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return __import__("json").loads(line)


def _error_text(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _describe(namespace, name):
    if name not in namespace:
        return {"kind": "missing"}
    obj = namespace[name]
    if type(obj) is type(sys):
        return {"kind": "module", "name": getattr(obj, "__name__", "")}
    if callable(obj):
        return {"kind": "callable"}
    try:
        return {"kind": "value", "value": encode_value(obj)}  # noqa: F821 - from values.py
    except Exception:  # noqa: BLE001 - anything else stays in the candidate process
        return {"kind": "missing"}


def _serve(namespace, requests, reply_fd):
    """Candidate side: answer the harness until it closes the pipe."""
    while True:
        req = requests.read()
        if req is None:
            os._exit(0)
        try:
            if req["op"] == "eval":
                value = eval(req["expr"], namespace)  # noqa: S307 - test input, sandboxed
            elif req["op"] == "call":
                args = decode_value(req["args"])  # noqa: F821
                kwargs = decode_value(req["kwargs"])  # noqa: F821
                value = namespace[req["name"]](*args, **kwargs)
            else:
                _send(reply_fd, {"describe": {n: _describe(namespace, n) for n in req["names"]}})
                continue
            reply = {"value": encode_value(value)}  # noqa: F821
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            if isinstance(exc, SystemExit | KeyboardInterrupt):
                os._exit(1)
            reply = {"raise": type(exc).__name__, "message": _error_text(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        _send(reply_fd, reply)


def _candidate(cfg, req_fd, reply_fd):
    _candidate_limits(cfg)
    for path in cfg["sys_path"]:
        if path not in sys.path:
            sys.path.append(path)
    sys.argv[:] = ["solution.py"]
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    code = compile(cfg["source"], "solution.py", "exec")
    del cfg
    if req_fd is None:
        exec(code, namespace)
        sys.stdout.flush()
        return
    exec(code, namespace)
    sys.stdout.flush()
    _send(reply_fd, {"ready": True})
    _serve(namespace, _Lines(req_fd), reply_fd)


class _CandidateGone(Exception):
    pass


class _Link:
    """Harness side of the pipe pair to the candidate process."""

    def __init__(self, req_fd, reply_fd):
        self.req_fd, self.replies = req_fd, _Lines(reply_fd)

    def ask(self, request):
        try:
            _send(self.req_fd, request)
        except OSError as exc:
            raise _CandidateGone("the candidate process exited") from exc
        reply = self.replies.read()
        if reply is None:
            raise _CandidateGone("the candidate process exited")
        return reply

    def ready(self):
        reply = self.replies.read()
        if reply is None or not reply.get("ready"):
            raise _CandidateGone("the program exited before the tests ran")


def _raise_from(reply):
    exc_type = getattr(builtins, reply["raise"], None)
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        exc_type = RuntimeError
    raise exc_type(f"in candidate: {reply['message']}")


def _proxy(link, name):
    def call(*args, **kwargs):
        reply = link.ask(
            {
                "op": "call",
                "name": name,
                "args": encode_value(list(args)),  # noqa: F821
                "kwargs": encode_value(kwargs),  # noqa: F821
            }
        )
        if "raise" in reply:
            _raise_from(reply)
        return decode_value(reply["value"])  # noqa: F821

    call.__name__ = call.__qualname__ = name
    return call


def _free_names(tree):
    bound, loaded = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return sorted(loaded - bound)


def _run_script(link, code):
    tree = ast.parse(code, "tests.py")
    namespace = {"__name__": "__tests__", "__builtins__": builtins}
    names = _free_names(tree)
    if names:
        described = link.ask({"op": "describe", "names": names})["describe"]
        for name, info in described.items():
            if info["kind"] == "callable":
                namespace[name] = _proxy(link, name)
            elif info["kind"] == "value":
                namespace[name] = decode_value(info["value"])  # noqa: F821
            elif info["kind"] == "module" and info["name"] in sys.stdlib_module_names:
                namespace[name] = importlib.import_module(info["name"])
    exec(compile(tree, "tests.py", "exec"), namespace)


def _run_tests(job, link, verdict_fd):
    try:
        link.ready()
        if job["mode"] == "eval":
            reply = link.ask({"op": "eval", "expr": job["expr"]})
            if "raise" in reply:
                kind = "failed" if reply["raise"] == "AssertionError" else "error"
                _send(verdict_fd, {kind: reply["message"]})
            else:
                _send(verdict_fd, {"value": reply["value"]})
            return
        _run_script(link, job["code"])
    except _CandidateGone as exc:
        _send(verdict_fd, {"gone": str(exc)})
    except AssertionError as exc:
        _send(verdict_fd, {"failed": _error_text(exc)})
    except Exception as exc:  # noqa: BLE001 - any other test failure is an error verdict
        _send(verdict_fd, {"error": _error_text(exc)})
    else:
        _send(verdict_fd, {"passed": True})


def _status(wait_status):
    if os.WIFSIGNALED(wait_status):
        return {"signal": signal.Signals(os.WTERMSIG(wait_status)).name}
    return {"code": os.waitstatus_to_exitcode(wait_status)}


def _non_dumpable():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:  # noqa: BLE001 - no prctl (not Linux): unsafe mode only
        pass


def main():
    job_fd, test_fd, verdict_fd = (int(a) for a in sys.argv[1:4])
    del sys.argv[1:]
    with os.fdopen(job_fd, "rb") as fh:
        cfg = __import__("json").loads(fh.read())
    _non_dumpable()
    stdio = cfg["mode"] == "stdio"
    if not stdio:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(test_fd)
            os.close(verdict_fd)
            if stdio:
                _candidate(cfg, None, None)
            else:
                os.close(req_w)
                os.close(rep_r)
                _candidate(cfg, req_r, rep_w)
        except SystemExit as exc:
            code = exc.code
            sys.stdout.flush()
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))
        except BaseException:  # noqa: BLE001 - the program's own error: traceback to stderr
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    # the harness itself: bounded too, in case the candidate's values are large
    _limit("RLIMIT_AS", (cfg["memory_mb"] * 2 + 256) * _MB)
    _limit("RLIMIT_CORE", 0)
    del cfg
    with os.fdopen(test_fd, "rb") as fh:
        job = __import__("json").loads(fh.read())
    if not stdio:
        os.close(req_r)
        os.close(rep_w)
        _run_tests(job, _Link(req_w, rep_r), verdict_fd)
        os.close(req_w)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    _send(verdict_fd, {"exit": _status(status)})


main()
