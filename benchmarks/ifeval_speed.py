"""IFEval instruction checks per second on one core, strict and loose.

Uses the 540 IFEval prompts (../shared/data/eval/ifeval_input_data.jsonl, or
CARAVAN_SHARED_DATA) with their real instruction mix, and model-like responses of
~150-400 words built to pass or fail each instruction. Caches keyed by whole texts or
sentences are cleared before every response (the example responses reuse paragraphs,
real ones would not); only word-level memos carry over, as they would in real use.

    PYTHONPATH=. python benchmarks/ifeval_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import defaultdict
from pathlib import Path

from caravan.verifiers.ifeval import check_instructions, sample_constraints
from caravan.verifiers.ifeval import text as tx
from caravan.verifiers.ifeval.examples import PROSE, build
from caravan.verifiers.ifeval.language import detect_language

TARGET = 2000


def _rows() -> list[dict]:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = Path(os.environ.get("CARAVAN_SHARED_DATA", default)) / "eval" / "ifeval_input_data.jsonl"
    if path.exists():
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(f"{path} absent: using 540 sampled IFEval-only constraint sets instead")
    from caravan.verifiers.ifeval import IFEVAL_IDS

    out = []
    for i in range(540):
        prompt = f"Write about topic {i}."
        cs = sample_constraints(i, 1, 3, ids=list(IFEVAL_IDS), prompt=prompt)
        out.append(
            {
                "prompt": prompt,
                "instruction_id_list": [c.instruction_id for c in cs],
                "kwargs": [c.kwargs for c in cs],
            }
        )
    return out


def _workload(rows: list[dict], rounds: int) -> list[tuple[str, list[str], list[dict], str]]:
    rng = random.Random(0)
    work = []
    serial = 0
    for _ in range(rounds):
        for row in rows:
            ids, kws = row["instruction_id_list"], row["kwargs"]
            passing = rng.random() < 0.6
            parts = [
                build(i, k, row["prompt"], rng, passing=passing)
                for i, k in zip(ids, kws, strict=True)
            ]
            while sum(len(p.split()) for p in parts) < rng.randint(150, 400):
                parts.append(rng.choice(PROSE))
            serial += 1
            parts.append(f"Reference number {serial}.")  # unique text: no cache hits across rows
            work.append(("\n\n".join(parts), ids, kws, row["prompt"]))
    return work


def _clear_caches() -> None:
    for fn in (tx.punkt_sentences, tx.word_tokens, tx._sentence_tokens, detect_language):
        fn.cache_clear()


def _run(work, loose: bool) -> tuple[int, float, dict[str, list[float]]]:
    _clear_caches()
    per_id: dict[str, list[float]] = defaultdict(list)
    checks = 0
    start = time.perf_counter()
    for response, ids, kws, prompt in work:
        _clear_caches()  # the clearing is timed too: it only makes the figure smaller
        for iid, kw in zip(ids, kws, strict=True):
            t0 = time.perf_counter()
            check_instructions(response, [iid], [kw], prompt=prompt, loose=loose)
            per_id[iid].append(time.perf_counter() - t0)
            checks += 1
    return checks, time.perf_counter() - start, per_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 540 prompts")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    start = time.perf_counter()
    sum(range(10_000_000))
    print(
        f"calibration: sum(range(1e7)) took {time.perf_counter() - start:.2f} s on this core (a quiet modern core: ~0.1-0.15 s)"
    )
    rows = _rows()
    work = _workload(rows, args.rounds)
    words = sum(len(w[0].split()) for w in work) / len(work)
    check_instructions("warm up.", ["punctuation:no_comma"], [{}])
    detect_language("warm up the language profiles")
    print(
        f"{len(work)} responses (mean {words:.0f} words), {sum(len(w[1]) for w in work)} instruction checks per mode"
    )
    for loose in (False, True):
        checks, seconds, per_id = _run(work, loose)
        rate = checks / seconds
        mode = "loose" if loose else "strict"
        flag = "meets" if rate >= TARGET else "BELOW"
        print(
            f"{mode:6s}: {rate:8.0f} checks/s on one core ({checks} checks in {seconds:.2f} s; {flag} target {TARGET}/s)"
        )
        slow = sorted(per_id.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))[:5]
        print(
            "        slowest ids (mean us/check): "
            + ", ".join(f"{k.split(':')[1]} {1e6 * sum(v) / len(v):.0f}" for k, v in slow)
        )
    degenerate()


def degenerate() -> None:
    """Worst cases for backtracking patterns: 50k newlines, 50k '[' and '<<' runs."""
    from caravan.verifiers.ifeval import IFEVAL_IDS

    row_kwargs = {iid: _DEFAULT_KWARGS.get(iid, {}) for iid in IFEVAL_IDS}
    for name, text in (
        ("50k newlines", "\n" * 50_000 + "- x"),
        ("50k '['", "[" * 50_000),
        ("20k '<<'", "<<" * 20_000),
    ):
        start = time.perf_counter()
        for iid, kw in row_kwargs.items():
            check_instructions(text, [iid], [kw], prompt="Say hi.", loose=True)
        print(f"degenerate {name:12s}: all 25 ids, loose, in {time.perf_counter() - start:.2f} s")


_DEFAULT_KWARGS = {
    "keywords:existence": {"keywords": ["sea"]},
    "keywords:frequency": {"keyword": "sea", "frequency": 2, "relation": "at least"},
    "keywords:forbidden_words": {"forbidden_words": ["sea"]},
    "keywords:letter_frequency": {"letter": "a", "let_frequency": 2, "let_relation": "at least"},
    "language:response_language": {"language": "en"},
    "length_constraints:number_sentences": {"num_sentences": 2, "relation": "at least"},
    "length_constraints:number_paragraphs": {"num_paragraphs": 2},
    "length_constraints:number_words": {"num_words": 100, "relation": "less than"},
    "length_constraints:nth_paragraph_first_word": {
        "num_paragraphs": 2,
        "nth_paragraph": 1,
        "first_word": "x",
    },
    "detectable_content:number_placeholders": {"num_placeholders": 1},
    "detectable_content:postscript": {"postscript_marker": "P.S."},
    "detectable_format:number_bullet_lists": {"num_bullets": 1},
    "detectable_format:number_highlighted_sections": {"num_highlights": 1},
    "detectable_format:multiple_sections": {"section_spliter": "Section", "num_sections": 2},
    "combination:repeat_prompt": {"prompt_to_repeat": "Say hi."},
    "startend:end_checker": {"end_phrase": "Bye."},
    "change_case:capital_word_frequency": {"capital_frequency": 2, "capital_relation": "at least"},
}


if __name__ == "__main__":
    main()
