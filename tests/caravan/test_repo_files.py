"""README, pyproject and Makefile keep the promises a new user relies on."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACKED_TEXT = ("README.md", "pyproject.toml", "Makefile")


def _code_blocks(text: str) -> str:
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.S))


@pytest.mark.parametrize("name", TRACKED_TEXT)
def test_no_citation_of_files_outside_the_repository(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    assert "REFERENCE.md" not in text


def test_source_docstrings_cite_nothing_outside_the_repository():
    cited = [
        str(p.relative_to(ROOT))
        for pkg in ("caravan", "records", "synth", "prefs", "decontam", "verifiers", "llm")
        for p in (ROOT / pkg).rglob("*.py")
        if "REFERENCE.md" in p.read_text(encoding="utf-8")
    ]
    assert cited == []


def test_readme_rlvr_example_builds_from_training_sources_only():
    code = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    build = [ln for ln in re.split(r"(?<!\\)\n", code) if "verify build-rlvr" in ln]
    assert build, "the README shows how to build an RLVR dataset"
    for cmd in build:
        assert "/eval/" not in cmd and "ifeval_input_data" not in cmd and "test" not in cmd


def test_readme_relax_chain_generates_prompts_relax_can_use():
    code = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    chain = [ln for ln in code.splitlines() if "synth generate" in ln and "--task if" in ln
             and "prompts.parquet" in ln and "out/" not in ln]  # fmt: skip
    assert chain and all("--min-constraints 2" in ln for ln in chain)


def test_readme_says_how_to_get_the_cpu_torch():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text


def _make_n(*args: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"  # a fresh venv path: make plans the install steps
    proc = subprocess.run(
        ["make", "-n", f"VENV={venv}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout


def test_make_honours_torch_index_url(tmp_path):
    url = "https://download.pytorch.org/whl/cpu"
    plan = _make_n("dev", f"TORCH_INDEX_URL={url}", tmp_path=tmp_path)
    torch_line = next(ln for ln in plan.splitlines() if "torch==" in ln)
    assert f"--index-url {url}" in torch_line
    plain = _make_n("dev", tmp_path=tmp_path)
    assert "--index-url" not in plain


def test_make_demo_installs_only_what_the_demo_needs(tmp_path):
    plan = _make_n("demo", tmp_path=tmp_path)
    installs = [ln for ln in plan.splitlines() if "pip install" in ln]
    assert any(".[local]" in ln for ln in installs)
    assert not any("dev" in ln or "train" in ln for ln in installs)
    assert "synth generate --persona example" in plan


def test_make_test_type_checks_the_installed_layout_before_pytest(tmp_path):
    plan = _make_n("test", tmp_path=tmp_path)
    lines = plan.splitlines()
    install = next(i for i, ln in enumerate(lines) if "--target build/typecheck ." in ln)
    mypy = next(i for i, ln in enumerate(lines) if " -m mypy " in ln)
    tests = next(i for i, ln in enumerate(lines) if ln.rstrip().endswith("/bin/pytest -q"))
    assert install < mypy < tests  # CI (`.ci/run` -> `make test`) fails on a type error first
    assert "cd build/typecheck" in lines[mypy] and "-p caravan" in plan
    assert "rm -rf build/typecheck build/lib" in plan  # no stale module from an older build
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("mypy>=") for req in dev["dev"])
