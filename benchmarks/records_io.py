"""Throughput of records I/O: validate+write Parquet, read+validate, and `datasets` load.

Uses the real T0 prompt corpus from ../shared/data (skips when absent), turned into SFT rows
and replicated to --rows. Prints rows/s for each step and the file size.

    python benchmarks/records_io.py --rows 200000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from caravan.records import read_records, write_records

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "t0_prompts.parquet"


def sft_rows(n: int) -> list[dict]:
    src = pq.read_table(CORPUS, columns=["prompt", "completion", "template"]).to_pylist()
    rows = []
    for i in range(n):
        r = src[i % len(src)]
        rows.append(
            {
                "id": f"t0-{i}",
                "messages": [
                    {"role": "user", "content": r["prompt"]},
                    {"role": "assistant", "content": r["completion"]},
                ],
                "source": r["template"] or "t0",
            }
        )
    return rows


def timed(label: str, n: int, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:<34} {n:>9,} rows  {dt:7.2f} s  {n / dt:>10,.0f} rows/s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    if not CORPUS.exists():
        print(f"skipped: corpus not found at {CORPUS}")
        return 0
    rows = sft_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sft.parquet"
        timed(
            "validate + atomic write (parquet)", len(rows), lambda: write_records(rows, path, "sft")
        )
        print(f"{'file size':<34} {path.stat().st_size / 2**20:9.1f} MiB")
        timed("read + validate (parquet)", len(rows), lambda: read_records(path, "sft"))
        import datasets

        datasets.disable_progress_bars()
        timed(
            "datasets.load_dataset(parquet)",
            len(rows),
            lambda: datasets.load_dataset(
                "parquet", data_files=str(path), split="train", cache_dir=str(Path(tmp) / "cache")
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
