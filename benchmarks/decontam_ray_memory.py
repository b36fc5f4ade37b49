"""Memory per worker and throughput of `decontam check`, local processes vs a local Ray.

The T0 prompt corpus (55,185 real rows, 9.18M words in `prompt`) from the shared data folder
is replicated to --rows and written to a temporary Parquet file (not timed); then
`decontam check` runs as a fresh process against the five shared eval sets, once with
`--workers N` (the local runner's worker processes) and once with `--executor ray
--ray-workers N` (a local Ray the command starts). While it runs, every process of its
tree is sampled every 0.2 s for its peak RSS (Linux VmHWM, the kernel's high-water mark, so
only a peak reached after the last sample can be missed) and sorted into: the driver (the
command), its scanning workers (forked worker processes, or Ray's `StageWorker` actors),
and the rest (Ray's raylet, GCS and idle workers). Prints wall time, rows/s and words/s,
and the peak RSS of the driver and of each worker.

    PYTHONPATH=. python benchmarks/decontam_ray_memory.py --rows 300000 --workers 2

What bounds a worker: it holds the eval index plus the batches it is handed (the Ray
executor sends a few blocks per worker, each a slice of one bounded shard; local workers
get two 2,048-row batches at a time), never the training set. The driver holds one shard
(32 batches locally, 256 on Ray, where each shard pays an actor pool start): on Ray three
copies of it (the table, its batches as Arrow IPC, the object store's blocks). Forked local
workers' RSS includes the pages they share with the driver.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decontam_throughput import DEFAULT_DATA, EVAL_FIELDS, replicate  # noqa: E402


def _peak_rss(pid: int) -> int:
    """VmHWM of a live process, in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _kind(proc, driver: int, mode: str) -> str:
    import psutil

    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if proc.pid == driver:
        return "driver"
    if mode == "ray":
        return "worker" if "StageWorker" in cmd else "other"
    return "worker" if cmd.startswith(sys.executable) or "python" in cmd else "other"


def run(mode: str, train: Path, data: Path, workers: int, workdir: Path) -> dict:
    import psutil

    evals = []
    for name, field in EVAL_FIELDS.items():
        path = data / "eval" / name
        if path.exists():
            evals += ["--eval", f"{path.stem}={path}:{field}"]
    report = workdir / f"report-{mode}.json"
    cmd = [sys.executable, "-c", "from caravan.decontam.cli import cli; cli()", "check",
           "--train", str(train), *evals, "--report", str(report), "--quiet",
           "--cache-dir", str(workdir / "cache")]  # fmt: skip
    cmd += ["--executor", "ray", "--ray-workers", str(workers)] if mode == "ray" else [
        "--workers", str(workers)]  # fmt: skip
    env = dict(os.environ, RAY_ADDRESS="")  # a local Ray of this command's own
    peaks: dict[int, tuple[str, str, int]] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip

    def sample() -> None:
        while proc.poll() is None:
            try:
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
            except psutil.Error:
                tree = []
            for p in tree:
                kind = _kind(p, proc.pid, mode)  # an idle Ray worker may become an actor
                if peaks.get(p.pid, ("",))[0] == "worker":
                    kind = "worker"
                try:
                    name = p.name()
                except psutil.Error:
                    name = "?"
                peak = max(_peak_rss(p.pid), peaks.get(p.pid, ("", "", 0))[2])
                peaks[p.pid] = (kind, name, peak)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"decontam check ({mode}) failed ({proc.returncode}):\n{out}\n{err}")
    import json

    return {"wall": wall, "peaks": peaks, "report": json.loads(report.read_text())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=300_000)
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
        words = replicate(corpus, args.rows, train)
        size = train.stat().st_size / 1e6
        print(f"corpus: {args.rows:,} rows, {words:,} words, {size:.0f} MB Parquet "
              f"(not timed); cpus: {len(os.sched_getaffinity(0))}, load average "
              f"{os.getloadavg()[0]:.1f}, workers: {args.workers}")  # fmt: skip
        results = {mode: run(mode, train, args.data, args.workers, workdir)
                   for mode in ("local", "ray")}  # fmt: skip
    reports = [r["report"] for r in results.values()]
    same = all(reports[0][k] == reports[1][k] for k in ("results", "train", "match_count"))
    mib = 2**20
    for mode, res in results.items():
        wall = res["wall"]
        print(f"{mode}: {wall:.1f} s end to end, {args.rows / wall:,.0f} rows/s, "
              f"{words / wall / 1e6:.2f} M words/s")  # fmt: skip
        by_kind: dict[str, list[int]] = {}
        for kind, _name, peak in res["peaks"].values():
            by_kind.setdefault(kind, []).append(peak)
        driver = max(by_kind.get("driver", [0]))
        scan = sorted(by_kind.get("worker", []), reverse=True)
        print(f"  driver peak RSS {driver / mib:,.0f} MiB")
        print(f"  worker peak RSS ({len(scan)}): "
              + ", ".join(f"{p / mib:,.0f}" for p in scan) + " MiB")  # fmt: skip
        others = by_kind.get("other", [])
        if others:
            print(f"  other processes ({len(others)}, Ray's own when on Ray): largest "
                  f"{max(others) / mib:,.0f} MiB, sum of peaks {sum(others) / mib:,.0f} MiB")
    print(f"reports identical (results, train, match_count): {same}")


if __name__ == "__main__":
    main()
