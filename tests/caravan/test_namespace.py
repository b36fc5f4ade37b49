"""One import name: the source folders install as caravan.* and nothing else is importable."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLD = ("llm", "records", "verifiers", "synth", "prefs", "decontam", "train_adapters")
OLD_IMPORT = re.compile(rf"^\s*(from|import) ({'|'.join(OLD)})(\.|\s|$)", re.M)
# Code strings that tests and benchmarks run with `python -c` import the same way.
OLD_IN_STRING = re.compile(rf"([\"']|; )from ({'|'.join(OLD)})(\.\w+)* import ")
# Package data found by package name (templates, recipes, example personas).
OLD_RESOURCE = re.compile(rf"resources\.files\([\"']({'|'.join(OLD)})[\"']\)")


def test_no_source_file_imports_a_flat_top_level_name():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "build", ".git") or "site-packages" in rel.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for rx in (OLD_IMPORT, OLD_IN_STRING, OLD_RESOURCE):
            for m in rx.finditer(text):
                line = text[: m.start()].count("\n") + 1
                offenders.append(f"{rel}:{line}: {m.group(0).strip()}")
    assert not offenders, "\n".join(offenders)


def test_installed_package_exposes_only_caravan(tmp_path):
    code = (
        "import importlib.util as u, caravan, caravan.synth, caravan.llm, caravan.verifiers\n"
        f"print([n for n in {OLD!r} if u.find_spec(n) is not None])\n"
        "print(caravan.synth.Generate.__module__)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    flat, module = out.stdout.split("\n")[:2]
    assert flat == "[]"  # `llm`, `records`, `verifiers`, ... stay free for other packages
    assert module == "caravan.synth.stages"


def test_bundled_files_load_outside_the_source_tree(tmp_path):
    """Templates, example personas, recipes and accelerate configs ship in the installed
    package and are found from any folder (tests run from the repository root, where flat
    folder names would resolve and the source folders stand in for the package)."""
    code = (
        "from caravan.prefs.judge import _template\n"
        "from caravan.synth.personas import example_personas_path\n"
        "from caravan.synth.templates import bundled_template\n"
        "from caravan.train_adapters.recipe import shipped_recipes\n"
        "from caravan.train_adapters.resolve import accelerate_config_path\n"
        "from importlib import resources\n"
        "names = [p.name for p in (resources.files('caravan.prefs') / 'templates').iterdir()]\n"
        "assert names and all(_template(n) for n in names), names\n"
        "assert example_personas_path().is_file()\n"
        "assert bundled_template('generate_if')\n"
        "assert 'tulu3-8b-dpo' in shipped_recipes(), shipped_recipes()\n"
        "print(accelerate_config_path('fsdp2-8gpu').is_file())\n"
    )
    # as a user gets it: a regular (not editable) install, run from another folder
    # built from the repository's files alone (a stale egg-info would list files for it)
    import shutil

    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    src = tmp_path / "src"
    for rel in filter(None, listed):
        if (ROOT / rel).is_file() and not rel.startswith(("tests/", "benchmarks/", "notebooks/")):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / rel, src / rel)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)], check=True, capture_output=True,
    )  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
