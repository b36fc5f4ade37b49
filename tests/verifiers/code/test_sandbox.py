import json
import os
import warnings
from pathlib import Path

import pytest
from caravan.verifiers import code
from caravan.verifiers.code import (
    Limits,
    SandboxUnavailable,
    isolation,
    run_python,
    run_tests,
    sandbox,
)

from tests.verifiers.code.sandbox_marks import needs_sandbox

pytestmark = needs_sandbox
FAST = Limits(wall_s=4, cpu_s=2, memory_mb=256)
ROOT = Path(__file__).resolve().parents[3]


def _facts(source: str, limits: Limits = FAST) -> dict:
    """Run a program that prints one JSON object; return it."""
    run = run_python(source, limits=limits)
    assert run.exit == {"code": 0}, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_assert_tests_give_pass_fraction_and_outcomes():
    result = run_tests(
        "def add(a, b):\n    return a + b\n",
        [
            "assert add(1, 2) == 3",
            "assert add(2, 2) == 5",
            "assert add(0, 0) == 0",
            "raise ValueError('x')",
        ],
        limits=FAST,
    )
    assert result.pass_fraction == 0.5
    assert [o.status for o in result.outcomes] == ["passed", "failed", "passed", "error"]
    assert result.outcomes[1].detail == "got 4"


def test_stdin_stdout_tests_ignore_trailing_whitespace():
    tests = [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "2 2", "output": "4   \n\n"},
        {"input": "1 1", "output": "3"},
    ]
    result = run_tests("a, b = map(int, input().split())\nprint(a + b)\n", tests, limits=FAST)
    assert [o.status for o in result.outcomes] == ["passed", "passed", "wrong_answer"]


def test_humaneval_and_apps_layouts(shared_data):
    rows = [json.loads(line) for line in (shared_data / "eval" / "humaneval.jsonl").open()]
    truth = {"test": rows[0]["test"], "entry_point": rows[0]["entry_point"]}
    assert code.score(f"```python\n{rows[0]['prompt']}    return False\n```", truth) == 0.0
    solution = rows[0]["prompt"] + (
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) "
        "for b in numbers[i + 1:])\n"
    )
    assert code.score(f"Here you go:\n```python\n{solution}```", json.dumps(truth)) == 1.0
    apps = {"inputs": ["3\n", "5\n"], "outputs": ["9\n", "25\n"]}
    assert code.score("n = int(input())\nprint(n * n)", apps) == 1.0
    apps_fn = {"fn_name": "sq", "inputs": [[3], [4]], "outputs": [9, 16]}
    assert code.score("def sq(n):\n    return n * n\n", apps_fn) == 1.0


def test_humaneval_tests_that_use_prompt_helpers_and_modules(shared_data):
    """HumanEval/32's check calls `poly` from the prompt and imports math in the test."""
    rows = [json.loads(line) for line in (shared_data / "eval" / "humaneval.jsonl").open()]
    for row in (rows[32], rows[38], rows[50]):
        truth = {"test": row["test"], "entry_point": row["entry_point"]}
        assert code.score(row["prompt"] + row["canonical_solution"], truth) == 1.0, row["task_id"]
        wrong = row["prompt"] + "    return None\n"
        assert code.score(wrong, truth) == 0.0, row["task_id"]


def test_decomposed_asserts_compare_outside_with_python_semantics():
    src = "def f(x):\n    return x\n"
    cases = {
        "assert f(1) == 1.0": True,
        "assert f((1, 2)) == (1, 2)": True,
        "assert f([1, 2]) == (1, 2)": False,
        "assert f({'a': {1, 2}}) == {'a': {2, 1}}": True,
        "assert 3 == f(3)": True,
        "assert f(2) < 3": True,
        "assert 3 < f(2)": False,
        "assert f(2) in [1, 2]": True,
        "assert f(None) is None": True,
        "assert not f(0)": True,
        "assert f('')": False,
        "assert f(float('nan')) != 1": True,
        "assert f(10**30) == 10**30": True,
        "assert f(b'x') == b'x'": True,
    }
    result = run_tests(src, list(cases), limits=FAST)
    assert [o.passed for o in result.outcomes] == list(cases.values())


def test_decompose_assert_only_splits_what_it_can_compare():
    check = code.decompose_assert("assert f(1, [2]) == {'a': (1,)}")
    assert check is not None and check.expr == "f(1, [2])"
    assert check.judge({"a": (1,)}) and not check.judge({"a": [1]})
    assert code.decompose_assert("assert [1] == f(1)").expr == "f(1)"
    assert code.decompose_assert("assert Solution().go([1]) == 1").expr == "Solution().go([1])"
    for text in ("x = f(1)\nassert x == 2", "assert f(1) == g(1)", "assert abs(f(1) - 2) < 1e-9",
                 "assert f(1) is x", "print(1)", "assert len(f(1)) == 2", "assert f(1)[0] == 2",
                 "assert f(1) - 2 == 0", "assert not sorted(f(1))"):  # fmt: skip
        assert code.decompose_assert(text) is None, text


def test_custom_classes_cannot_pass():
    src = (
        "class A:\n    def __eq__(self, o):\n        return True\n"
        "class S(str):\n    def __eq__(self, o):\n        return True\n"
        "def f(x):\n    return A()\n"
        "def g(x):\n    return S('no')\n"
        "def h(x):\n    return [A()]\n"
    )
    tests = [
        "assert f(1) == 2",
        "assert g(1) == 'yes'",
        "assert h(1) == [2]",
        "r = f(1)\nassert r == 2",
        {"test": "def check(c):\n    assert c(1) == 2\n", "entry_point": "f"},
    ]
    for test in tests:
        truth = [test] if isinstance(test, str) else test
        result = run_tests(src, truth, limits=FAST)
        assert result.pass_fraction == 0.0, test
        assert "cannot leave the sandbox" in result.outcomes[0].detail, result.outcomes


def test_exiting_early_does_not_pass_assert_tests():
    for src in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n",
                "def f():\n    raise SystemExit(0)\n"):  # fmt: skip
        for test in ("assert f() == 1", "x = f()\nassert x == 1"):
            result = run_tests(src, [test], limits=FAST)
            assert not result.outcomes[0].passed, (src, test)


def test_the_sandbox_sees_a_minimal_read_only_world(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-leak-1234567890")
    facts = _facts(
        "import json, os, sys\n"
        "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines()"
        " if ':\\t' in l)\n"
        "def writable(p):\n"
        "    try:\n"
        "        open(p, 'w').close()\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        f"paths = ['/root', '/home', '/etc/shadow', '/etc/passwd', '/sys/kernel', '/run', "
        f"{str(ROOT)!r}, {str(ROOT / 'pyproject.toml')!r}]\n"
        "print(json.dumps({'uid': os.getuid(), 'cap': status['CapEff'].strip(),\n"
        "    'seccomp': status['Seccomp'].strip(), 'nnp': status['NoNewPrivs'].strip(),\n"
        "    'env': sorted(os.environ), 'pids': sorted(p for p in os.listdir('/proc') if p.isdigit()),\n"
        "    'exists': [p for p in paths if os.path.exists(p)],\n"
        "    'net': [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]],\n"
        "    'cwd': os.getcwd(), 'writable': [p for p in ('/tmp/x', '/dev/shm/x', '/x', '/usr/x',\n"
        "        '/dev/x', sys.prefix + '/x') if writable(p)]}))\n"
    )
    assert facts["uid"] != 0 and facts["cap"] == "0000000000000000"
    assert facts["seccomp"] == "2" and facts["nnp"] == "1"
    assert facts["env"] == sorted(
        [
            "PATH",
            "PWD",
            "LANG",
            "HOME",
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
        ]
    )
    assert facts["pids"] == ["1", "2"]  # the harness and the candidate, nothing of the host
    assert facts["exists"] == [], facts["exists"]
    assert facts["net"] == ["lo"]
    assert facts["cwd"] == "/tmp" and facts["writable"] == ["/tmp/x", "/dev/shm/x"]


def test_temp_dir_quota_file_size_and_output_flood():
    small = Limits(wall_s=4, cpu_s=2, memory_mb=256, disk_mb=4, file_size_mb=2)
    facts = _facts(
        "import json\ntotal = 0\n"
        "try:\n"
        "    for i in range(64):\n"
        "        with open(f'/tmp/f{i}', 'wb') as fh:\n"
        "            fh.write(b'x' * (1 << 20))\n"
        "        total += 1 << 20\n"
        "except OSError as e:\n"
        "    err = e.errno\n"
        "print(json.dumps({'total': total, 'errno': err}))\n",
        small,
    )
    assert facts["total"] <= 4 << 20 and facts["errno"] == 28  # ENOSPC
    flood = run_python("while True:\n    print('x' * 100000)\n", limits=small)
    assert flood.exit == {"code": 1} and "File too large" in flood.stderr
    assert len(flood.stdout) <= 2 << 20


def test_process_cap_holds():
    facts = _facts(
        "import json, os, time\nn = 1\n"
        "for _ in range(40):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print(json.dumps({'n': n}))\n",
        Limits(wall_s=4, cpu_s=2, memory_mb=256, max_procs=5),
    )
    assert 2 <= facts["n"] <= 5


def test_libraries_are_visible_read_only_unless_turned_off():
    src = "import rich\nprint(rich.__name__)\n"  # installed in the environment's site-packages
    run = run_python(src, limits=Limits(wall_s=20))
    assert run.exit == {"code": 0}, run.stderr
    hidden = run_python(src, limits=Limits(wall_s=20, libraries=False))
    assert "ModuleNotFoundError" in hidden.stderr


def test_without_isolation_untrusted_code_is_refused_unless_asked_for(monkeypatch):
    monkeypatch.setattr(
        isolation, "probe", lambda: isolation.Isolation(False, "no bwrap on this test machine")
    )
    monkeypatch.delenv("CARAVAN_UNSAFE_LOCAL_EXEC", raising=False)
    monkeypatch.setitem(sandbox._unsafe, "warned", False)
    with pytest.raises(SandboxUnavailable, match="no bwrap on this test machine.*--unsafe"):
        run_tests("def f():\n    return 1\n", ["assert f() == 1"], limits=FAST)
    with pytest.warns(RuntimeWarning, match="WITHOUT OS isolation"):
        result = run_tests(
            "def f():\n    return 1\n", ["assert f() == 1", "assert f() == 2"], limits=FAST,
            unsafe_local_exec=True,
        )  # fmt: skip
    assert [o.passed for o in result.outcomes] == [True, False]
    monkeypatch.setenv("CARAVAN_UNSAFE_LOCAL_EXEC", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_python("import os\nprint(os.getpid() > 2)", limits=FAST)
    assert run.stdout.strip() == "True" and not run.isolated


def test_network_isolation_reports_the_namespace():
    assert code.network_isolation() == "netns"
    shared = run_python("import socket\nsocket.socket()\n", limits=Limits(isolate_network=False))
    assert shared.exit == {"code": 0} and shared.network == "host"


def test_verify_score_refuses_code_rows_without_a_sandbox_unless_unsafe(monkeypatch, tmp_path):
    from caravan.records import read_records
    from caravan.verifiers.cli import cli
    from click.testing import CliRunner

    monkeypatch.setattr(
        isolation, "probe", lambda: isolation.Isolation(False, "no bwrap on this test machine")
    )
    monkeypatch.delenv("CARAVAN_UNSAFE_LOCAL_EXEC", raising=False)
    monkeypatch.setitem(sandbox._unsafe, "allowed", False)
    src = tmp_path / "rows.jsonl"
    row = {"response": "def f():\n    return 1\n", "ground_truth": '["assert f() == 1"]',
           "dataset": "code"}  # fmt: skip
    src.write_text(json.dumps(row) + "\n")
    refused = CliRunner().invoke(cli, ["score", "--input", str(src), "--output",
                                       str(tmp_path / "a.parquet")])  # fmt: skip
    assert refused.exit_code == 0, refused.output
    scored = read_records(tmp_path / "a.parquet").to_pylist()[0]
    assert scored["score"] is None and "refusing to run untrusted code" in scored["errors"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        allowed = CliRunner().invoke(cli, ["score", "--input", str(src), "--output",
                                           str(tmp_path / "b.parquet"), "--unsafe-local-exec"])  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    assert read_records(tmp_path / "b.parquet").to_pylist()[0]["score"] == 10.0


def test_stale_per_run_cgroups_of_dead_processes_are_removed(tmp_path):
    dead, alive = tmp_path / "caravan-sbx-999999999-0", tmp_path / f"caravan-sbx-{os.getpid()}-3"
    dead.mkdir()
    alive.mkdir()
    isolation._remove_stale_cgroups(tmp_path)
    assert not dead.exists() and alive.exists()


def test_probe_says_why_isolation_is_unavailable(monkeypatch):
    probe = isolation.probe.__wrapped__
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    monkeypatch.setattr(isolation.os, "access", lambda path, mode: False)
    assert "bubblewrap (bwrap) is not installed" in probe().reason
    monkeypatch.undo()
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "_pids_cgroup_root", lambda: None)
    iso = probe()
    assert not iso.available and "exempts root from RLIMIT_NPROC" in iso.reason
    monkeypatch.setattr(isolation.sys, "platform", "darwin")
    assert "no OS sandbox on darwin" in probe().reason
