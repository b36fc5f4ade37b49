"""The README's Python example, as a plain script and inside a running event loop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
from caravan.records.provenance import Provenance

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = """
import caravan as cv
from caravan import synth
gpt4o = cv.LLM("gpt-4o", base_url=BASE_URL)
personas = cv.read("example")
prompts = synth.Generate(task="if", llm=gpt4o, n=6, seed=0, constraint_ids=IF_IDS)(personas)
print("prompts", prompts.table.num_rows, prompts.rejected.num_rows, prompts.stats)
sft = cv.synth.Solve(llm=gpt4o, verify=True)(prompts)
sft.write("data/sft.parquet", kind="sft")
print("sft", sft.table.num_rows, sft.rejected.num_rows)
"""


def _script(double, if_ids, in_loop: bool) -> str:
    head = f"BASE_URL = {double.base_url + '/v1'!r}\nIF_IDS = {if_ids!r}\n"
    if not in_loop:
        return head + EXAMPLE
    body = textwrap.indent(EXAMPLE, "    ")
    return head + "import asyncio\n\nasync def main():\n" + body + "\nasyncio.run(main())\n"


def _run(tmp_path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _check(tmp_path, proc) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("prompts "))
    assert line.split()[1:3] == ["6", "0"]  # the double states every sampled constraint
    sft_rows = int(next(ln for ln in proc.stdout.splitlines() if ln.startswith("sft ")).split()[1])
    assert sft_rows >= 1
    out = tmp_path / "data" / "sft.parquet"
    table = pq.read_table(out)
    assert table.num_rows == sft_rows
    assert all(r["verified"] for r in table.to_pylist())
    prov = Provenance.from_metadata(table.schema.metadata)
    stages = [s["stage"] for s in prov.config["steps"]]
    assert stages == ["synth.generate", "synth.solve"]  # the whole chain
    assert prov.config["steps"][0]["settings"]["llm"]["model"] == "gpt-4o"
    assert any("example_personas" in i["source"] for i in prov.inputs)
    assert "sft.parquet" in (tmp_path / "data" / "README.md").read_text()  # the dataset card
    side = (tmp_path / "data" / "sft.rejected.jsonl").read_text().splitlines()
    assert len(side) == 6 - sft_rows  # every answer that failed its constraints, with why


def test_readme_example_runs_as_a_plain_script(double, llm_env, if_ids, tmp_path):
    _check(tmp_path, _run(tmp_path, _script(double, if_ids, in_loop=False)))


def test_readme_example_runs_inside_a_running_event_loop(double, llm_env, if_ids, tmp_path):
    _check(tmp_path, _run(tmp_path, _script(double, if_ids, in_loop=True)))
