"""The data CLIs on the runner, side by side with an anchor revision, cold and warm.

`synth complete` (real T0 prompts from ../shared/data/corpus) and `prefs build` (the same
prompts, a pool of API models and a judge) run against the API double in its own process
with a per-request latency, once from an anchor revision (exported and installed into a
temporary folder) and once from this tree, with the same command lines. Each runs cold
(empty cache) and then warm (every answer cached: what a resumed run costs). Order is
interleaved (anchor cold, tree cold, anchor warm, tree warm) so load drifts hit both.

    python benchmarks/cli_runner.py [--anchor 5199459] [--prompts 2000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import REPO  # noqa: E402
from prefs_pipeline import ScriptedDouble  # noqa: E402

DATA = REPO / ".." / "shared" / "data"


def install_anchor(rev: str, dest: Path) -> Path:
    """`git archive REV` unpacked and pip-installed (no deps) into dest/site."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             capture_output=True).stdout  # fmt: skip
    (dest / "anchor.tar").write_bytes(archive)
    with tarfile.open(dest / "anchor.tar") as fh:
        fh.extractall(dest / "tree", filter="data")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(dest / "site"), str(dest / "tree")],
                   check=True, capture_output=True)  # fmt: skip
    return dest / "site"


def run_cli(site: Path | None, group: str, args: list[str], env: dict[str, str]) -> float:
    """Seconds for `GROUP ARGS` (the anchor's code when `site` is given)."""
    module = {"synth": "caravan.synth.cli", "prefs": "caravan.prefs.cli"}[group]
    code = f"import sys; sys.argv = [{group!r}, *{args!r}]; from {module} import cli; cli()"
    run_env = dict(env)
    if site is not None:
        # the anchor's package data lookups used flat names (fixed since): the source tree
        # after the install keeps them working without shadowing `caravan`
        run_env["PYTHONPATH"] = f"{site}{os.pathsep}{site.parent / 'tree'}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True,
                          text=True, cwd=str(site or REPO))  # fmt: skip
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{group} {args[0]} failed ({'anchor' if site else 'tree'}):\n"
                         f"{proc.stderr[-3000:]}")  # fmt: skip
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--anchor", default="5199459", help="git revision to compare with")
    parser.add_argument("--prompts", type=int, default=2000, help="T0 prompts for complete")
    parser.add_argument("--prefs-prompts", type=int, default=300, help="prompts for prefs")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()
    corpus = DATA / "corpus" / "t0_prompts.parquet"
    if not corpus.exists():
        sys.exit(f"needs the shared data at {DATA}")
    import pyarrow.parquet as pq

    texts = pq.read_table(corpus, columns=["prompt"]).column("prompt").to_pylist()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"installing anchor {args.anchor} ...", flush=True)
        site = install_anchor(args.anchor, tmp)
        prompts = tmp / "prompts.jsonl"
        with prompts.open("w") as fh:
            for i, text in enumerate(texts[: args.prompts]):
                fh.write(json.dumps({"id": f"t0-{i}", "prompt": text}) + "\n")
        double = ScriptedDouble(args.latency, 0.0, tmp / "double.json")
        url = f"{double.base_url}/v1"
        pool = tmp / "pool.yaml"
        pool.write_text("".join(f"- {{name: m{j}, model: m{j}, base_url: '{url}'}}\n"
                                for j in range(4)))  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": "sk-benchmark-not-a-real-key",
               "CARAVAN_CACHE_DIR": str(tmp / "cache-root")}  # fmt: skip
        results: dict[tuple[str, str, str], float] = {}
        try:
            for phase in ("cold", "warm"):
                for side, where in (("anchor", site), ("tree", None)):
                    cache = tmp / f"{side}.sqlite"
                    out = tmp / side / phase
                    complete = ["complete", "--input", str(prompts), "--output",
                                str(out / "answers.parquet"), "--model", "m0", "--base-url", url,
                                "--text-field", "prompt", "--cache", str(cache),
                                "--concurrency", "64", "--no-progress"]  # fmt: skip
                    results[("synth complete", side, phase)] = run_cli(where, "synth", complete,
                                                                       env)  # fmt: skip
                    build = ["build", "--prompts", str(prompts), "--pool", str(pool),
                             "--output", str(out / "prefs.parquet"), "--k", "2",
                             "--judge", "judge", "--judge-base-url", url, "--cache", str(cache),
                             "--limit", str(args.prefs_prompts), "--no-progress"]  # fmt: skip
                    results[("prefs build", side, phase)] = run_cli(where, "prefs", build, env)
        finally:
            counts = double.stop()
    served = counts.get("served", {})
    print(f"{args.prompts} T0 prompts for synth complete, {args.prefs_prompts} for prefs build "
          f"(k=2 of 4 pool models + 4 judge calls each); latency {args.latency}s per request")  # fmt: skip
    print(f"| command | run | anchor {args.anchor} (s) | this tree (s) | tree / anchor |")
    print("|---|---|---|---|---|")
    for command in ("synth complete", "prefs build"):
        for phase in ("cold", "warm"):
            a, t = results[(command, "anchor", phase)], results[(command, "tree", phase)]
            print(f"| {command} | {phase} | {a:.2f} | {t:.2f} | {t / a:.2f}x |")
    print(f"requests answered by the double: {sum(served.values())}")


if __name__ == "__main__":
    main()
