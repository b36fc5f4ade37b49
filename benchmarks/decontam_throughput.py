"""End-to-end throughput and peak memory of `decontam check` on a replicated real corpus.

The T0 prompt corpus (55,185 rows, 9.18M whitespace words in `prompt`) from the shared data
folder is replicated to --rows and written to a temporary Parquet file, as a user's data
would sit on disk (not timed). Then `decontam check` runs as a fresh process against every
eval file in the shared eval folder, with an empty index cache, so the time includes
start-up, eval loading, index build, the scan and the report. Prints words/s (whitespace
words of the scanned `prompt` column, the corpus' stated count), tokens/s (our tokenizer)
and peak memory: the largest single process's peak RSS, and the sampled peak of the whole
process tree's PSS (pages shared after fork are split between the sharing processes).

    PYTHONPATH=. python benchmarks/decontam_throughput.py --rows 1000000 --workers 2

Targets: >= 4M words/s on 2 cores; peak RSS < 2 GB at any corpus size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EVAL_FIELDS = {
    "gsm8k_test.jsonl": "question",
    "math500_test.jsonl": "problem",
    "ifeval_input_data.jsonl": "prompt",
    "humaneval.jsonl": "prompt",
    "bbh.jsonl": "input",
}


def replicate(corpus: Path, rows: int, out: Path) -> int:
    """Write `rows` rows of `corpus`, repeated, to `out`; return the whitespace word count."""
    base = pq.read_table(corpus)
    words_per_row = [len(t.split()) for t in base.column("prompt").to_pylist()]
    total_words = 0
    with pq.ParquetWriter(out, base.schema, compression="zstd") as w:
        written = 0
        while written < rows:
            take = min(base.num_rows, rows - written)
            w.write_table(base.slice(0, take), row_group_size=65_536)
            total_words += sum(words_per_row[:take])
            written += take
    return total_words


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:  # PSS splits pages shared after fork between the processes sharing them
            total += p.memory_full_info().pss
        except (psutil.Error, AttributeError):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


CPU_BEFORE = [0.0]


def run_check(
    train: Path, data: Path, workers: int, workdir: Path
) -> tuple[float, int, int, dict, float]:
    evals = []
    for name, field in EVAL_FIELDS.items():
        path = data / "eval" / name
        if path.exists():
            evals += ["--eval", f"{path.stem}={path}:{field}"]
    report = workdir / "report.json"
    cmd = [
        sys.executable,
        "-c",
        "from caravan.decontam.cli import cli; cli()",
        "check",
        "--train",
        str(train),
        *evals,
        "--report",
        str(report),
        "--workers",
        str(workers),
        "--cache-dir",
        str(workdir / "cache"),  # empty: the index build is part of the timing
        "--quiet",
    ]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_BEFORE[0] = before.ru_utime + before.ru_stime
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"decontam check failed ({proc.returncode}):\n{out}\n{err}")
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    max_single = usage.ru_maxrss * 1024  # KB on Linux
    cpu = usage.ru_utime + usage.ru_stime - CPU_BEFORE[0]
    return wall, max_single, peak[0], json.loads(report.read_text()), cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--tmp", type=Path, default=None, help="where to write the replicated corpus")
    args = ap.parse_args()
    corpus = args.data / "corpus" / "t0_prompts.parquet"
    if not corpus.exists():
        sys.exit(f"corpus not found: {corpus} (pass --data)")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        workdir = Path(tmp)
        train = workdir / "t0_replicated.parquet"
        t0 = time.perf_counter()
        words = replicate(corpus, args.rows, train)
        print(
            f"corpus: {args.rows:,} rows, {words:,} words, {train.stat().st_size / 1e6:.0f} MB "
            f"Parquet (written in {time.perf_counter() - t0:.1f} s, not timed)"
        )
        load = os.getloadavg()[0]
        wall, single, tree, report, cpu = run_check(train, args.data, args.workers, workdir)
        load = max(load, os.getloadavg()[0])
    tokens = report["train"][0]["tokens"]
    ncpu = len(os.sched_getaffinity(0))
    print(f"cpus available: {ncpu}, workers: {args.workers}, load average seen: {load:.1f}")
    print(
        f"eval sets: {', '.join(e['name'] for e in report['eval'])} "
        f"({sum(e['instances'] for e in report['eval']):,} instances)"
    )
    print(f"end-to-end wall time: {wall:.1f} s (index build, scan and report included)")
    print(f"throughput: {words / wall / 1e6:.2f} M words/s, {tokens / wall / 1e6:.2f} M tokens/s")
    print(
        f"CPU time of decontam (all its processes): {cpu:.1f} s = {words / cpu / 1e6:.2f} M "
        f"words per CPU-second; on {min(args.workers, ncpu)} uncontended cores that projects to "
        f"~{words / cpu * min(args.workers, ncpu) / 1e6:.1f} M words/s (a projection, not a measurement)"
    )
    print(
        f"peak memory: largest process RSS {single / 2**20:.0f} MiB, process tree PSS {tree / 2**20:.0f} MiB"
    )
    print(
        f"matches: {report['match_count']}, overlapped: "
        + ", ".join(
            f"{r['eval']} {r['overlapped']}/{r['eval_instances']}" for r in report["results"]
        )
    )


if __name__ == "__main__":
    main()
