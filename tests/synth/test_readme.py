"""The README's synth example (generate -> solve -> relax), run as written against the double."""

from __future__ import annotations

import shlex
from pathlib import Path

from caravan.records import read_records

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> list[list[str]]:
    """The commands of the first code block of the README's persona synthesis section (Ray's
    line aside: tests/synth/test_ray.py runs solve on Ray)."""
    section = README.read_text().split("### Persona synthesis", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.startswith("synth ") and "\\" not in ln]
    return [shlex.split(ln)[1:] for ln in lines if "--executor ray" not in ln]


def test_readme_synth_example_runs(synth, api, double, if_ids, tmp_path):
    commands = _example()
    assert [c[0] for c in commands] == ["generate", "generate", "generate", "solve", "relax"]
    for args in commands:
        # the double answers only these constraints as asked (see conftest.if_answer)
        extra = ["--constraint-ids", if_ids] if args[0] == "generate" else []
        res = synth(*args, *extra, *api)
        assert res.exit_code == 0, (args, res.output, res.stderr)
        if "--dry-run" in args:
            assert "requests: 20" in res.output
    prompts = read_records(tmp_path / "prompts.parquet", "rlvr").to_pylist()
    sft = read_records(tmp_path / "sft.parquet", "sft").to_pylist()
    pairs = read_records(tmp_path / "pairs.parquet", "preference").to_pylist()
    assert len(prompts) == 19 and len(sft) == 19 and all(r["verified"] for r in sft)
    assert pairs and {p["id"] for p in pairs} <= {"relax-" + r["id"] for r in sft}
