import os
import sys

import pytest

from verifiers import code
from verifiers.code import Limits, run_python, run_tests

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sandbox limits need Linux")
FAST = Limits(wall_s=4, cpu_s=2, memory_mb=256)


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


def test_stdin_stdout_tests_ignore_trailing_whitespace():
    tests = [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "2 2", "output": "4   \n\n"},
        {"input": "1 1", "output": "3"},
    ]
    result = run_tests("a, b = map(int, input().split())\nprint(a + b)\n", tests, limits=FAST)
    assert [o.status for o in result.outcomes] == ["passed", "passed", "wrong_answer"]


def test_humaneval_and_apps_layouts(shared_data):
    import json

    row = json.loads((shared_data / "eval" / "humaneval.jsonl").read_text().splitlines()[0])
    truth = {"test": row["test"], "entry_point": row["entry_point"]}
    assert code.score(f"```python\n{row['prompt']}    return False\n```", truth) == 0.0
    solution = row["prompt"] + (
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) "
        "for b in numbers[i + 1:])\n"
    )
    assert code.score(f"Here you go:\n```python\n{solution}```", json.dumps(truth)) == 1.0
    apps = {"inputs": ["3\n", "5\n"], "outputs": ["9\n", "25\n"]}
    assert code.score("n = int(input())\nprint(n * n)", apps) == 1.0


def test_exiting_early_does_not_pass_assert_tests():
    result = run_tests("import os\nos._exit(0)\n", ["assert False"], limits=FAST)
    assert result.outcomes[0].status == "failed"
    result = run_tests("import sys\nsys.exit(0)\n", ["assert False"], limits=FAST)
    assert not result.outcomes[0].passed


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("fork bomb", "import os\nwhile True:\n    os.fork()\n"),
        (
            "multiprocessing bomb",
            "import multiprocessing as m\nfor _ in range(50):\n    m.Process(target=print).start()\n",
        ),
        (
            "subprocess",
            "import subprocess\nsubprocess.run(['sh', '-c', 'echo pwned > /tmp/pwned'])\n",
        ),
        ("memory bomb", "x = bytearray(8 * 1024**3)\n"),
        ("growing memory", "a = []\nwhile True:\n    a.append(' ' * 10**7)\n"),
        ("infinite loop", "while True:\n    pass\n"),
        ("sleep forever", "import time\ntime.sleep(3600)\n"),
        ("socket", "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n"),
        ("ctypes", "import ctypes\nctypes.CDLL(None).fork()\n"),
        ("huge file", "open('big.bin', 'wb').write(b'x' * 64 * 1024**2)\n"),
        ("output flood", "while True:\n    print('x' * 100000)\n"),
    ],
)
def test_escape_attempts_are_contained(name, source):
    limits = (
        Limits(wall_s=2.5, cpu_s=1, memory_mb=256) if "loop" in name or "sleep" in name else FAST
    )
    result = run_tests(source, ["assert True"], limits=limits)
    assert result.pass_fraction == 0.0, name
    assert not os.path.exists("/tmp/pwned")


def test_writing_outside_the_temp_dir_is_blocked(tmp_path):
    target = tmp_path / "escaped.txt"
    for src in (
        f"open({str(target)!r}, 'w').write('x')",
        f"open('a', 'w').close()\nimport os\nos.rename('a', {str(target)!r})",
        "open('../escaped.txt', 'w').write('x')",
        "import shutil\nshutil.rmtree('/tmp/definitely-not-here-xyz')",
    ):
        run = run_python(src, limits=FAST)
        assert run.returncode != 0 and "PermissionError" in run.stderr, src
    assert not target.exists()
    ok = run_python(
        "open('inside.txt', 'w').write('fine')\nprint(open('inside.txt').read())", limits=FAST
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "fine"


def test_secrets_in_the_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-leak-1234567890")
    monkeypatch.setenv("HF_TOKEN", "hf_shouldneverleak1234567890")
    run = run_python(
        "import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read())\n",
        limits=FAST,
    )
    assert run.returncode == 0
    assert "never" not in run.stdout and "OPENAI" not in run.stdout
    parent = run_python(f"print(open('/proc/{os.getpid()}/environ').read())", limits=FAST)
    assert parent.returncode != 0 and "never" not in parent.stdout


def test_network_namespace_when_the_os_allows():
    run = run_python("print('ok')", limits=FAST)
    assert run.network in ("netns", "userns+netns", "none")
    if run.network != "none":  # no interface but loopback (down) inside the namespace
        run = run_python("print(open('/proc/net/dev').read())", limits=FAST)
        lines = [ln.split(":")[0].strip() for ln in run.stdout.splitlines()[2:] if ":" in ln]
        assert lines == ["lo"]


def test_installed_libraries_still_import():
    pytest.importorskip("numpy")
    run = run_python("import numpy as np\nprint(int(np.arange(5).sum()))", limits=Limits(wall_s=20))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "10"
