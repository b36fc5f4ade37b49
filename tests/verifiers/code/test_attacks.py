"""The attack suite (attacks.py) against the sandbox, as root and as an unprivileged user."""

import json
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.verifiers.code import attacks
from tests.verifiers.code.sandbox_marks import needs_sandbox

ROOT = Path(__file__).resolve().parents[3]
pytestmark = needs_sandbox


def test_attacks_are_contained_as_the_current_user():
    report = attacks.run_suite()
    assert report["uid"] == os.getuid()
    assert attacks.problems(report) == []
    assert len(report["attacks"]) == len(attacks.ATTACKS) >= 30


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a throwaway user needs root")
def test_attacks_are_contained_as_an_unprivileged_user():
    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK) or not shutil.which("useradd"):
        pytest.skip("needs a system python3 (readable by any user) and useradd")
    user = f"cvn{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
        check=True,
    )
    try:
        proc = subprocess.run(
            [python, "-I", str(ROOT / "tests/verifiers/code/attacks.py")],
            capture_output=True, text=True, timeout=600, cwd="/",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            user=pwd.getpwnam(user).pw_uid, group=pwd.getpwnam(user).pw_gid, extra_groups=[],
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout)
    finally:
        deleted = subprocess.run(["userdel", user], capture_output=True, text=True)
    assert deleted.returncode == 0, deleted.stderr  # fails while a process of the user lives
    assert report["uid"] != 0
    assert attacks.problems(report) == []
    assert len(report["attacks"]) == len(attacks.ATTACKS)


def test_verify_score_gives_zero_to_every_attack(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = []
    with attacks.host_targets() as host:
        for attack, source, truths in attacks.attack_cases(host):
            for i, truth in enumerate(truths):
                rows.append({"id": f"{attack.name}/{i}", "response": f"```python\n{source}```",
                             "ground_truth": json.dumps(truth), "dataset": "code"})  # fmt: skip
        for name, source, tests, _ in attacks.HONEST:
            rows.append({"id": f"honest {name}", "response": source,
                         "ground_truth": json.dumps(tests), "dataset": "code"})  # fmt: skip
        src, out = tmp_path / "rows.parquet", tmp_path / "scored.parquet"
        pq.write_table(pa.Table.from_pylist(rows), src)
        env = {k: v for k, v in os.environ.items() if k != "CARAVAN_DEBUG"}
        env["PYTHONPATH"] = str(ROOT)
        code = "import sys; from caravan.verifiers.cli import cli; sys.argv[0] = 'verify'; cli()"
        proc = subprocess.run(
            [sys.executable, "-c", code, "score", "--input", str(src), "--output", str(out)],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = {r["id"]: r for r in pq.read_table(out).to_pylist()}
    want_honest = {f"honest {name}": 10.0 * want for name, _, _, want in attacks.HONEST}
    for row_id, row in scored.items():
        want = want_honest.get(row_id, 0.0)
        assert row["score"] == want, (row_id, row["score"], row["errors"])
    assert host.report["victim_alive"] and host.report["host_dir_unchanged"]
    assert host.report["listener_hits"] == 0 and host.report["survivors"] == []
