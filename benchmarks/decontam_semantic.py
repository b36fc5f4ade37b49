"""Exact 8-gram vs semantic decontamination on rephrased eval items planted in T0 prompts.

Rephrasings of shared GSM8K, MATH-500 and HumanEval items (the hand-written ones and
rule-based ones, tests/fixtures/rephrase.py) are planted at random rows of a sample of the
real T0 prompt corpus; the eval side is the full three shared eval files. One run of
`decontam check` without and one with `--semantic` (the anchor and the new mode, side by
side), then:

- recall of each mode on the planted (training row, eval item) pairs (overall, per eval set,
  hand vs rule-based), precision (flagged pairs that are planted pairs: a planted row also
  matched to a second, similar eval item counts against it), and false positives on the unplanted T0 rows (which may genuinely hold a
  close item: the top ones are printed to judge by eye);
- a threshold sweep (recall / false positives) from the same similarities: the calibration
  of the default threshold;
- speed: training rows/s of each mode, eval-side embedding cold (empty cache) and warm.

    PYTHONPATH=. python benchmarks/decontam_semantic.py --corpus-rows 1000 --plant 15
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from caravan.decontam.check import CheckConfig, run_check  # noqa: E402
from caravan.decontam.embed import Embedder, cached_embeddings  # noqa: E402
from caravan.decontam.evalsets import load_eval_sets  # noqa: E402
from caravan.decontam.semantic import DEFAULT_THRESHOLD, SemanticConfig  # noqa: E402

from tests.fixtures.rephrase import EVAL_FIELDS, EVAL_FILES, rephrased_sample  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_MODEL = REPO.parent / "shared" / "models" / "all-MiniLM-L6-v2"
SWEEP = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)


def plant(corpus: list[str], items: list[tuple[str, int, str, str]], seed: int):
    """(texts, truth): truth maps planted row -> (eval set, eval row, how)."""
    rng = random.Random(seed)
    texts = list(corpus)
    truth: dict[int, tuple[str, int, str]] = {}
    for name, row, how, text in items:
        pos = rng.randrange(len(texts) + 1)
        texts.insert(pos, text)
        truth = {(r + 1 if r >= pos else r): v for r, v in truth.items()}
        truth[pos] = (name, row, how)
    return texts, truth


def pairs_of(results: list[dict], flagged_only: bool = True) -> set[tuple[int, str, int]]:
    """(train row, eval set, eval row), 0-based like the planted truth (reports count from 1)."""
    return {
        (m["train_row"] - 1, r["eval"], m["eval_row"] - 1)
        for r in results
        for m in r["matches"]
        if not flagged_only or m.get("flagged", True)
    }


def scores(found: set[tuple[int, str, int]], truth: dict) -> dict[str, float]:
    want = {(r, n, e) for r, (n, e, _) in truth.items()}
    hit = found & want
    rows = {r for r, _, _ in found}
    fp_rows = rows - set(truth)
    return {
        "recall": len(hit) / len(want),
        "precision": len(hit) / len(found) if found else 1.0,
        "fp_rows": len(fp_rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--corpus-rows", type=int, default=1000, help="unplanted T0 rows")
    ap.add_argument("--plant", type=int, default=15, help="rule-based rephrasings per eval set")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-limit", type=int, default=0, help="first N items per set (smoke)")
    args = ap.parse_args()
    if not args.model.is_dir() or not args.data.is_dir():
        sys.exit(f"needs the shared data ({args.data}) and model ({args.model})")
    import torch

    torch.set_num_threads(args.threads)
    eval_specs = [f"{n}={args.data / 'eval' / EVAL_FILES[n]}:{EVAL_FIELDS[n]}" for n in EVAL_FILES]
    evals = load_eval_sets(eval_specs)
    if args.eval_limit:
        for e in evals:
            e.texts, e.rows = e.texts[: args.eval_limit], e.rows[: args.eval_limit]
    reph = rephrased_sample(args.data / "eval", args.plant, args.seed)
    corpus = pq.read_table(args.data / "corpus" / "t0_prompts.parquet", columns=["prompt"])
    rng = random.Random(args.seed + 1)
    sample = rng.sample(corpus.column("prompt").to_pylist(), args.corpus_rows)
    texts, truth = plant(sample, reph, args.seed)
    n_eval = sum(len(e.texts) for e in evals)
    print(
        f"eval items: {n_eval} ({', '.join(f'{e.name} {len(e.texts)}' for e in evals)}); "
        f"training rows: {len(texts)} = {len(sample)} T0 + {len(truth)} planted rephrasings "
        f"({sum(h == 'hand' for _, _, h, _ in reph)} hand-written); torch threads {args.threads}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = root / "train.parquet"
        pq.write_table(pa.table({"prompt": texts}), train)
        cfg = CheckConfig(workers=args.threads, progress=False, cache_dir=root / "cache")
        t0 = time.perf_counter()
        exact = run_check([train], evals, cfg, root / "exact.json")
        t_exact = time.perf_counter() - t0

        emb = Embedder.load(str(args.model))
        t0 = time.perf_counter()
        for e in evals:  # what `check --semantic` caches, per eval set
            cached_embeddings(e.texts, emb, cfg.cache_dir)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        hits = sum(cached_embeddings(e.texts, emb, cfg.cache_dir)[1] for e in evals)
        t_warm = time.perf_counter() - t0
        assert hits == len(evals)

        low = min(SWEEP)
        sem = SemanticConfig(model=str(args.model), threshold=low, top_k=3, progress="lines")
        t0 = time.perf_counter()
        rep = run_check([train], evals, cfg, root / "sem.json", semantic=sem)
        t_sem = time.perf_counter() - t0

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nspeed ({args.threads} cores, load average {load}): exact check {len(texts) / t_exact:,.0f} rows/s "
        f"({t_exact:.1f} s); exact + semantic check {len(texts) / t_sem:,.1f} rows/s "
        f"({t_sem:.1f} s, eval embeddings from cache); eval-side embedding of {n_eval} items: "
        f"cold {t_cold:.1f} s ({n_eval / t_cold:.1f} items/s), warm (cache) {t_warm:.3f} s"
    )
    exact_found = pairs_of(exact["results"], flagged_only=False)
    cand = [
        (m["train_row"] - 1, r["eval"], m["eval_row"] - 1, m["similarity"])
        for r in rep["semantic"]["results"]
        for m in r["matches"]
    ]

    def at(th: float) -> set[tuple[int, str, int]]:
        return {(a, b, c) for a, b, c, s in cand if s >= th}

    unplanted = len(texts) - len(truth)
    print(f"\nrecall / precision on {len(truth)} planted rephrasings; false positives on "
          f"{unplanted} unplanted T0 rows")  # fmt: skip
    print(f"{'mode':<28}{'recall':>8}{'precision':>11}{'FP rows':>9}{'FP rate':>9}")
    rows = [("exact 8-gram (Tülu rule)", exact_found)]
    rows.append((f"semantic >= {DEFAULT_THRESHOLD} (default)", at(DEFAULT_THRESHOLD)))
    for name, found in rows:
        s = scores(found, truth)
        print(
            f"{name:<28}{s['recall']:>8.3f}{s['precision']:>11.3f}{s['fp_rows']:>9}"
            f"{s['fp_rows'] / unplanted:>9.4f}"
        )
    print("\nper eval set and kind (semantic at the default threshold / exact):")
    for name in EVAL_FILES:
        for how in ("hand", "rules"):
            sub = {r: v for r, v in truth.items() if v[0] == name and v[2] == how}
            if sub:
                s = scores(at(DEFAULT_THRESHOLD), sub)["recall"]
                e = scores(exact_found, sub)["recall"]
                print(f"  {name:<10} {how:<6} n={len(sub):<4} semantic {s:.3f}  exact {e:.3f}")
    print("\nthreshold sweep (calibration): threshold, recall, precision, FP rows")
    for th in SWEEP:
        s = scores(at(th), truth)
        print(f"  {th:.2f}  {s['recall']:.3f}  {s['precision']:.3f}  {s['fp_rows']}")
    fps = sorted(((s, a, b, c) for a, b, c, s in cand if a not in truth), reverse=True)[:5]
    print("\nclosest unplanted rows (similarity, eval item, training text):")
    for s, a, b, c in fps:
        print(f"  {s:.3f} {b}#{c}: {texts[a][:110]!r}")


if __name__ == "__main__":
    main()
