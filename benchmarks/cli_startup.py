"""Start-up time of every console script's `--help`, this tree side by side with an anchor.

The anchor is a git revision (default: the commit before lazy imports) exported to a
temporary folder; both run with the same interpreter, each command `--runs` times after
one unmeasured warm-up (so the OS file cache is warm for both). Prints the median seconds.

    python benchmarks/cli_startup.py [--anchor bb58aa6] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> (module in the anchor, module in this tree): the anchor predates the caravan.*
# namespace, when the parts were flat top-level packages.
COMMANDS = {
    "caravan": ("caravan.cli", "caravan.cli"),
    "synth": ("synth.cli", "caravan.synth.cli"),
    "prefs": ("prefs.cli", "caravan.prefs.cli"),
    "decontam": ("decontam.cli", "caravan.decontam.cli"),
    "verify": ("verifiers.cli", "caravan.verifiers.cli"),
    "train": ("train_adapters.cli", "caravan.train_adapters.cli"),
}


def export(rev: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout  # fmt: skip
    tar = dest / "anchor.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as fh:
        fh.extractall(dest / "tree", filter="data")
    return dest / "tree"


def timed(tree: Path, module: str, name: str, runs: int) -> float:
    code = f"import sys; sys.argv = [{name!r}, '--help']; from {module} import cli; cli()"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", code]
    subprocess.run(cmd, env=env, cwd=tree, capture_output=True, check=False)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0 or "Usage:" not in proc.stdout:
            raise SystemExit(f"{name} --help failed in {tree}:\n{proc.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchor", default="bb58aa6", help="git revision to compare against")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        anchor = export(args.anchor, Path(tmp))
        print(f"{'command':<10} {'anchor ' + args.anchor:>16} {'this tree':>10} {'ratio':>6}")
        for name, (old, new) in COMMANDS.items():
            before = timed(anchor, old, name, args.runs)
            after = timed(ROOT, new, name, args.runs)
            print(f"{name:<10} {before:>15.2f}s {after:>9.2f}s {after / before:>6.2f}")


if __name__ == "__main__":
    main()
