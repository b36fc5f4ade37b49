"""Recall and false positives of exact 8-gram decontamination, beside MinHash LSH.

Eval items from the shared eval files are planted into the real T0 prompt corpus three
ways: verbatim, embedded in the middle of a long unrelated prompt, and perturbed (random
case, whitespace runs, punctuation swapped). The exact mode must find 100% of each. Rows
it reports that were not planted are listed as (possible) false positives, with examples
to judge by eye: the corpus may genuinely contain an eval item.

The same planted corpus then goes through datasketch MinHashLSH (Jaccard, the usual
near-duplicate tool) and our fuzzy MinHashLSHEnsemble (containment) mode, with recall and
time side by side.

    PYTHONPATH=. python benchmarks/decontam_quality.py --corpus-rows 20000 --plant 100
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from caravan.decontam.check import CheckConfig, run_check
from caravan.decontam.evalsets import load_eval_set
from caravan.decontam.fuzzy import FuzzyConfig, Sketcher, fuzzy_matches, shingle_sets

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EVAL_FIELDS = {
    "gsm8k_test.jsonl": "question",
    "math500_test.jsonl": "problem",
    "ifeval_input_data.jsonl": "prompt",
    "humaneval.jsonl": "prompt",
    "bbh.jsonl": "input",
}
MODES = ("verbatim", "embedded", "perturbed")
_PUNCT = ".,;:!?-()[]\"'/"


def perturb(text: str, rng: random.Random) -> str:
    """Random case per word, random whitespace runs, punctuation swapped or added."""
    out = []
    for ch in text:
        if ch.isspace():
            out.append(rng.choice([" ", "  ", "\n", "\t ", " , ", " - "]))
        elif ch in _PUNCT:
            out.append(rng.choice([" ", rng.choice(_PUNCT)]))
        else:
            out.append(ch)
    words = "".join(out).split(" ")
    words = [rng.choice([w.upper(), w.lower(), w.title(), w]) for w in words]
    return " ".join(words)


def plant(corpus: list[str], items: list[tuple[str, int, str]], per_mode: int, seed: int):
    """Return (texts, truth) where truth maps planted row -> (eval set, eval row, mode)."""
    rng = random.Random(seed)
    texts = list(corpus)
    truth: dict[int, tuple[str, int, str]] = {}
    chosen = rng.sample(items, per_mode * len(MODES))
    for k, (name, row, text) in enumerate(chosen):
        mode = MODES[k // per_mode]
        if mode == "verbatim":
            planted = text
        elif mode == "embedded":
            host = rng.choice(corpus)
            cut = len(host) // 2
            planted = host[:cut] + "\n" + text + "\n" + host[cut:]
        else:
            planted = perturb(text, rng)
        pos = rng.randrange(len(texts) + 1)
        texts.insert(pos, planted)
        truth = {(r + 1 if r >= pos else r): v for r, v in truth.items()}
        truth[pos] = (name, row, mode)
    return texts, truth


def recall_by_mode(found: set[tuple[int, str, int]], truth: dict) -> dict[str, float]:
    out = {}
    for mode in MODES:
        rows = [(r, n, e) for r, (n, e, m) in truth.items() if m == mode]
        out[mode] = sum(x in found for x in rows) / len(rows)
    return out


def minhash_lsh(texts: list[str], evals: list[tuple[str, int, str]], truth: dict, threshold: float):
    """datasketch MinHashLSH (Jaccard) over 3-token shingles: index rows, query planted items."""
    from datasketch import MinHashLSH

    cfg = FuzzyConfig()
    sketch = Sketcher(cfg)
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=cfg.num_perm)
    for i, s in enumerate(shingle_sets(texts, cfg.shingle)):
        if s.size:
            lsh.insert(i, sketch(s))
    wanted = {(n, e) for n, e, _ in truth.values()}
    queries = [(n, e, t) for n, e, t in evals if (n, e) in wanted]
    found = set()
    for (n, e, _), s in zip(
        queries, shingle_sets([t for _, _, t in queries], cfg.shingle), strict=True
    ):
        for row in lsh.query(sketch(s)):
            found.add((row, n, e))
    return found, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--corpus-rows", type=int, default=20_000)
    ap.add_argument("--plant", type=int, default=100, help="planted items per mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lsh-threshold", type=float, default=0.5)
    ap.add_argument("--no-fuzzy", action="store_true", help="skip the LSH Ensemble run")
    args = ap.parse_args()
    corpus_path = args.data / "corpus" / "t0_prompts.parquet"
    if not corpus_path.exists():
        sys.exit(f"corpus not found: {corpus_path} (pass --data)")
    sets = [
        load_eval_set(f"{Path(n).stem}={args.data / 'eval' / n}:{f}")
        for n, f in EVAL_FIELDS.items()
        if (args.data / "eval" / n).exists()
    ]
    evals = [(s.name, r, t) for s in sets for r, t in zip(s.rows, s.texts, strict=True)]
    corpus = pq.read_table(corpus_path, columns=["prompt"])["prompt"].to_pylist()[
        : args.corpus_rows
    ]
    texts, truth = plant(corpus, evals, args.plant, args.seed)
    print(
        f"corpus: {len(corpus):,} T0 rows + {len(truth)} planted ({args.plant} per mode: "
        f"{', '.join(MODES)}); eval items: {len(evals):,} from {len(sets)} sets"
    )

    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "planted.parquet"
        pq.write_table(pa.table({"prompt": texts}), train)
        t0 = time.perf_counter()
        cfg = CheckConfig(workers=args.workers, progress=False, cache_dir=None)
        report = run_check([train], sets, cfg, Path(tmp) / "r.json")
        exact_time = time.perf_counter() - t0
    found = {
        (m["train_row"] - 1, r["eval"], m["eval_row"] - 1)  # the report counts from 1
        for r in report["results"]
        for m in r["matches"]
    }
    rec = recall_by_mode(found, truth)
    fp = sorted({x for x in found if x[0] not in truth})
    print(f"\nexact 8-gram (ours): {exact_time:.2f} s end to end")
    print("  recall: " + ", ".join(f"{m} {100 * v:.1f}%" for m, v in rec.items()))
    print(
        f"  reported pairs on unplanted rows: {len(fp)} "
        f"({len({x[0] for x in fp})} rows of {len(corpus):,})"
    )
    by_key = {(n, r): t for n, r, t in evals}
    for row, name, erow in fp[:3]:
        print(f"    row {row} x {name}[{erow}]: eval text {by_key[(name, erow)][:90]!r}")
        print(f"      train text {texts[row][:120]!r}")

    lsh_found, lsh_time = minhash_lsh(texts, evals, truth, args.lsh_threshold)
    lrec = recall_by_mode(lsh_found, truth)
    print(
        f"\ndatasketch MinHashLSH (Jaccard >= {args.lsh_threshold}, 128 perm, 3-token shingles): "
        f"{lsh_time:.2f} s (sketch + index + query of the planted items only)"
    )
    print("  recall: " + ", ".join(f"{m} {100 * v:.1f}%" for m, v in lrec.items()))

    if not args.no_fuzzy:
        fcfg = FuzzyConfig()
        wanted = {(n, e) for n, e, _ in truth.values()}
        queries = [(n, e, t) for n, e, t in evals if (n, e) in wanted]
        t0 = time.perf_counter()
        hits = fuzzy_matches(texts, [t for _, _, t in queries], fcfg)
        f_time = time.perf_counter() - t0
        ffound = {(row, queries[i][0], queries[i][1]) for row, i, _ in hits}
        frec = recall_by_mode(ffound, truth)
        print(
            f"\nfuzzy MinHashLSHEnsemble (containment >= {fcfg.threshold}, ours --fuzzy): "
            f"{f_time:.2f} s (planted items only)"
        )
        print("  recall: " + ", ".join(f"{m} {100 * v:.1f}%" for m, v in frec.items()))
        ffp = {x for x in ffound if x[0] not in truth}
        print(f"  pairs on unplanted rows: {len(ffp)}")


if __name__ == "__main__":
    main()
