"""Seeded drawing of compatible constraints with concrete kwargs and our own wording.

Synthesis appends the descriptions to a prompt and stores `to_ground_truth(...)` as the
row's label, so every sampled constraint is checkable by `check_instructions`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from caravan.verifiers.ifeval.checking import prepare
from caravan.verifiers.ifeval.conflicts import conflict_table
from caravan.verifiers.ifeval.language import LANGUAGE_NAMES
from caravan.verifiers.ifeval.registry import ALL_IDS, SPECS

from caravan.errors import CaravanError

# Everyday words for keyword-style constraints (our own list).
WORDS = [
    "river",
    "garden",
    "window",
    "signal",
    "market",
    "winter",
    "bridge",
    "candle",
    "harbor",
    "meadow",
    "engine",
    "pocket",
    "lantern",
    "orbit",
    "canvas",
    "ticket",
    "forest",
    "thunder",
    "mirror",
    "compass",
    "island",
    "ladder",
    "velvet",
    "puzzle",
    "anchor",
    "basket",
    "cactus",
    "dolphin",
    "feather",
    "glacier",
    "hammer",
    "jungle",
    "kettle",
    "lemon",
    "magnet",
    "needle",
    "oyster",
    "pepper",
    "quartz",
    "ribbon",
    "saddle",
    "tunnel",
    "umbrella",
    "violin",
    "walnut",
    "yogurt",
    "zipper",
    "budget",
    "climate",
    "network",
    "balance",
    "journey",
    "pattern",
    "quality",
    "history",
    "science",
    "friend",
    "morning",
]
PHRASES = (
    "A stitch in time saves nine",
    "Slow and steady wins the race",
    "Every journey begins with one step",
    "Fortune favors the bold and brave",
    "Practice makes a person truly skilled",
    "The best view comes after the climb",
)
END_PHRASES = (
    "Is there anything else I can help with?",
    "Any other questions?",
    "That is all for now.",
    "Thanks for reading.",
)
LANGUAGES = (
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "ru",
    "ja",
    "ko",
    "hi",
    "ar",
    "fi",
    "pl",
    "vi",
    "sw",
    "bg",
)


@dataclass(frozen=True)
class SampledConstraint:
    instruction_id: str
    kwargs: dict[str, Any]
    description: str = field(compare=False)


def _rel(rng: random.Random) -> str:
    return rng.choice(("less than", "at least"))


def _rel_words(relation: str) -> str:
    return "fewer than" if relation == "less than" else "at least"


Gen = Callable[[random.Random, str | None], dict[str, Any]]
Describe = Callable[[dict[str, Any]], str]


def _copy_span(r: random.Random, p: str | None) -> dict[str, Any]:
    assert p is not None  # needs_prompt: only drawn when a prompt is given
    start = r.randint(0, max(0, len(p) - 2))
    return {"prompt_to_repeat": p, "n_start": start, "n_end": r.randint(start + 1, len(p))}


_PLAN: dict[str, tuple[Gen, Describe]] = {
    "keywords:existence": (
        lambda r, p: {"keywords": r.sample(WORDS, 2)},
        lambda k: (
            "Work the words " + " and ".join(f'"{w}"' for w in k["keywords"]) + " into your answer."
        ),
    ),
    "keywords:frequency": (
        lambda r, p: {
            "keyword": r.choice(WORDS),
            "frequency": r.randint(2, 4),
            "relation": _rel(r),
        },
        lambda k: (
            f'Use the word "{k["keyword"]}" {_rel_words(k["relation"])} {k["frequency"]} times.'
        ),
    ),
    "keywords:forbidden_words": (
        lambda r, p: {"forbidden_words": r.sample(WORDS, 2)},
        lambda k: (
            "Never use the words " + " or ".join(f'"{w}"' for w in k["forbidden_words"]) + "."
        ),
    ),
    "keywords:letter_frequency": (
        lambda r, p: {
            "letter": r.choice("abcdefghilmnoprstuwy"),
            "let_frequency": r.randint(3, 12),
            "let_relation": _rel(r),
        },
        lambda k: (
            f'The letter "{k["letter"]}" must occur {_rel_words(k["let_relation"])} {k["let_frequency"]} times (any case).'
        ),
    ),
    "language:response_language": (
        lambda r, p: {"language": r.choice(LANGUAGES)},
        lambda k: (
            f"Write the whole reply in {LANGUAGE_NAMES[k['language']]} and in no other language."
        ),
    ),
    "length_constraints:number_sentences": (
        lambda r, p: {"num_sentences": r.randint(2, 12), "relation": _rel(r)},
        lambda k: f"Keep to {_rel_words(k['relation'])} {k['num_sentences']} sentences.",
    ),
    "length_constraints:number_paragraphs": (
        lambda r, p: {"num_paragraphs": r.randint(2, 5)},
        lambda k: (
            f"Write exactly {k['num_paragraphs']} paragraphs, with a line holding only *** between neighbouring paragraphs."
        ),
    ),
    "length_constraints:number_words": (
        lambda r, p: {
            "num_words": r.choice((50, 80, 100, 150, 200, 300, 400)),
            "relation": _rel(r),
        },
        lambda k: f"Your reply should run to {_rel_words(k['relation'])} {k['num_words']} words.",
    ),
    "length_constraints:nth_paragraph_first_word": (
        lambda r, p: (
            lambda n: {
                "num_paragraphs": n,
                "nth_paragraph": r.randint(1, n),
                "first_word": r.choice(WORDS),
            }
        )(r.randint(2, 5)),
        lambda k: (
            f'Write {k["num_paragraphs"]} paragraphs separated by a blank line (two newlines); paragraph number {k["nth_paragraph"]} has to begin with the word "{k["first_word"]}".'
        ),
    ),
    "detectable_content:number_placeholders": (
        lambda r, p: {"num_placeholders": r.randint(1, 4)},
        lambda k: (
            f"Leave at least {k['num_placeholders']} fill-in placeholders in square brackets, like [name]."
        ),
    ),
    "detectable_content:postscript": (
        lambda r, p: {"postscript_marker": r.choice(("P.S.", "P.P.S"))},
        lambda k: f"Finish with a postscript that begins with {k['postscript_marker']}",
    ),
    "detectable_format:number_bullet_lists": (
        lambda r, p: {"num_bullets": r.randint(2, 6)},
        lambda k: (
            f"Give exactly {k['num_bullets']} markdown bullet points (lines starting with * ), and no other lines that start with * or -."
        ),
    ),
    "detectable_format:constrained_response": (
        lambda r, p: {},
        lambda k: (
            'Reply with exactly one of these: "My answer is yes.", "My answer is no.", "My answer is maybe."'
        ),
    ),
    "detectable_format:number_highlighted_sections": (
        lambda r, p: {"num_highlights": r.randint(1, 4)},
        lambda k: (
            f"Mark at least {k['num_highlights']} passages as highlighted using markdown italics, like *this passage*."
        ),
    ),
    "detectable_format:multiple_sections": (
        lambda r, p: {
            "section_spliter": r.choice(("Section", "SECTION", "Part", "PART")),
            "num_sections": r.randint(2, 5),
        },
        lambda k: (
            f'Split your reply into {k["num_sections"]} sections, each opened by a heading of the form "{k["section_spliter"]} N" (N = 1, 2, ...).'
        ),
    ),
    "detectable_format:json_format": (
        lambda r, p: {},
        lambda k: "Return valid JSON only; wrapping it in a ``` code fence is fine.",
    ),
    "detectable_format:title": (
        lambda r, p: {},
        lambda k: "Give your reply a title inside double angle brackets, e.g. <<a fitting title>>.",
    ),
    "combination:two_responses": (
        lambda r, p: {},
        lambda k: (
            "Offer two different answers, separated by a line of six asterisks (******) and nothing else."
        ),
    ),
    "combination:repeat_prompt": (
        lambda r, p: {"prompt_to_repeat": p},
        lambda k: (
            "Start by restating the request above word for word (leave out this sentence), then answer it."
        ),
    ),
    "startend:end_checker": (
        lambda r, p: {"end_phrase": r.choice(END_PHRASES)},
        lambda k: (
            f'The very last words of your reply must be "{k["end_phrase"]}" with nothing after them.'
        ),
    ),
    "change_case:capital_word_frequency": (
        lambda r, p: {"capital_frequency": r.randint(2, 10), "capital_relation": _rel(r)},
        lambda k: (
            f"Use {_rel_words(k['capital_relation'])} {k['capital_frequency']} words written entirely in CAPITAL letters."
        ),
    ),
    "change_case:english_capital": (
        lambda r, p: {},
        lambda k: "Answer in English, using only CAPITAL LETTERS throughout.",
    ),
    "change_case:english_lowercase": (
        lambda r, p: {},
        lambda k: "Answer in English using lowercase letters only; no capitals anywhere.",
    ),
    "punctuation:no_comma": (lambda r, p: {}, lambda k: "Do not use a single comma."),
    "startend:quotation": (
        lambda r, p: {},
        lambda k: "Put the entire reply inside one pair of double quotation marks.",
    ),
    # --- training extras ---
    "copy:repeat_phrase": (
        lambda r, p: {"phrase": r.choice(PHRASES), "small_n": r.randint(2, 3)},
        lambda k: (
            f'Write the phrase "{k["phrase"]}" {k["small_n"]} times; in each copy swap exactly one word in the middle for another word.'
        ),
    ),
    "copy:copy": (
        lambda r, p: {"prompt_to_repeat": p},
        lambda k: (
            "Do not carry out the request above: only copy it out exactly (without this sentence)."
        ),
    ),
    "new:copy_span_idx": (
        _copy_span,
        lambda k: (
            f"Do not answer; reply only with the text of the request above from character {k['n_start']} up to (but not including) character {k['n_end']}, counting from 0."
        ),
    ),
    "detectable_format:sentence_hyphens": (
        lambda r, p: {},
        lambda k: "Join all your sentences with hyphens (-) and no spaces around them.",
    ),
    "keywords:no_adjacent_consecutive": (
        lambda r, p: {},
        lambda k: (
            "No two neighbouring words may start with letters that follow each other in the alphabet (like 'a' then 'b')."
        ),
    ),
    "detectable_format:square_brackets": (
        lambda r, p: {},
        lambda k: (
            "Put every single word of your reply in its own square brackets, like [this] [way]."
        ),
    ),
    "keywords:word_once": (
        lambda r, p: {"keyword": r.choice(WORDS)},
        lambda k: f'Include the word "{k["keyword"]}" exactly once.',
    ),
    "keywords:word_count_different_numbers": (
        lambda r, p: {
            "keyword": r.choice(WORDS),
            "frequency": r.randint(2, 4),
            "relation": _rel(r),
        },
        lambda k: (
            f'Let "{k["keyword"]}" appear {_rel_words(k["relation"])} {k["frequency"]} times.'
        ),
    ),
    "keywords:exclude_word_harder": (
        lambda r, p: {"keyword": r.choice(WORDS)},
        lambda k: f'Avoid the word "{k["keyword"]}" entirely.',
    ),
    "paragraphs:paragraphs": (
        lambda r, p: {},
        lambda k: "Write two paragraphs with a line of *** between them.",
    ),
    "paragraphs:paragraphs2": (
        lambda r, p: {},
        lambda k: "Write two paragraphs separated by one blank line, and use no other blank lines.",
    ),
    "first_word:first_word_sent": (
        lambda r, p: {"first_word": r.choice(WORDS)},
        lambda k: f'Begin every sentence with the word "{k["first_word"]}".',
    ),
    "first_word:first_word_answer": (
        lambda r, p: {"first_word": r.choice(WORDS)},
        lambda k: f'The first word of your reply must be "{k["first_word"]}".',
    ),
    "last_word:last_word_sent": (
        lambda r, p: {"last_word": r.choice(WORDS)},
        lambda k: (
            f'End every sentence with the word "{k["last_word"]}" (punctuation after it is fine).'
        ),
    ),
    "last_word:last_word_answer": (
        lambda r, p: {"last_word": r.choice(WORDS)},
        lambda k: f'Make "{k["last_word"]}" the final word of your reply.',
    ),
    "detectable_format:bigram_wrapping": (
        lambda r, p: {},
        lambda k: (
            "Group your words in pairs and wrap each pair in double angle brackets, like <<for example>> <<like this>>."
        ),
    ),
    "copy:copying_simple": (
        lambda r, p: {"prompt_to_repeat": p},
        lambda k: (
            "Do not answer the request above; just repeat it unchanged (leave out this sentence) and say nothing else."
        ),
    ),
    "copy:copying_multiple": (
        lambda r, p: {"prompt_to_repeat": p, "N": r.randint(2, 3)},
        lambda k: (
            f"Do not answer; repeat the request above unchanged {k['N']} times (leave out this sentence), with ****** between the copies."
        ),
    ),
    "punctuation:punctuation_dot": (
        lambda r, p: {},
        lambda k: "Do not use the character '.' anywhere, not even as a full stop.",
    ),
    "punctuation:punctuation_exclamation": (
        lambda r, p: {},
        lambda k: "Do not use any exclamation marks.",
    ),
    "count:lowercase_counting": (
        lambda r, p: {"N": r.randint(2, 6)},
        lambda k: f"Use no more than {k['N']} words written entirely in lowercase.",
    ),
    "letters:letter_counting": (
        lambda r, p: {"N": r.choice((20, 50, 100, 200)), "relation": _rel(r)},
        lambda k: (
            f"Your reply should contain {_rel_words(k['relation'])} {k['N']} letters (a-z, A-Z) in total."
        ),
    ),
    "letters:letter_counting2": (
        lambda r, p: {
            "letter": r.choice("abcdefghilmnoprstuwy"),
            "let_frequency": r.randint(3, 12),
            "let_relation": _rel(r),
        },
        lambda k: (
            f'Use the letter "{k["letter"]}" {_rel_words(k["let_relation"])} {k["let_frequency"]} times, counting upper and lower case.'
        ),
    ),
    "count:counting_composition": (
        lambda r, p: {"n_sent": r.randint(2, 3), "n_words": r.randint(3, 6)},
        lambda k: (
            f"Write 3 paragraphs separated by ***; each has exactly {k['n_sent']} sentences and each sentence exactly {k['n_words']} tokens (punctuation marks count as tokens)."
        ),
    ),
    "count:count_unique": (
        lambda r, p: {},
        lambda k: "Never repeat a word or punctuation mark: every token may appear only once.",
    ),
    "count:count_increment_word": (
        lambda r, p: dict(zip(("keyword1", "keyword2"), r.sample(WORDS, 2), strict=True)),
        lambda k: f'Use "{k["keyword1"]}" exactly once and "{k["keyword2"]}" exactly twice.',
    ),
    "keywords:palindrome": (
        lambda r, p: {},
        lambda k: "Include a word that reads the same backwards, such as 'level'.",
    ),
    "keywords:keyword_specific_position": (
        lambda r, p: {"keyword": r.choice(WORDS), "n": r.randint(1, 4), "m": r.randint(1, 8)},
        lambda k: f'In sentence number {k["n"]}, word number {k["m"]} must be "{k["keyword"]}".',
    ),
    "keywords:start_end": (
        lambda r, p: {},
        lambda k: (
            "Begin and end your reply with the same word, with nothing (not even punctuation) after the last word."
        ),
    ),
}

assert set(_PLAN) == set(ALL_IDS), "every instruction id needs a sampling plan"


def describe(instruction_id: str, kwargs: dict[str, Any]) -> str:
    """Our natural-language wording of a constraint with concrete kwargs."""
    if instruction_id not in _PLAN:
        raise CaravanError(f"unknown instruction id {instruction_id!r}")
    return _PLAN[instruction_id][1](kwargs)


def sample_constraints(
    rng_or_seed: random.Random | int,
    k_min: int = 1,
    k_max: int = 3,
    ids: Sequence[str] | None = None,
    *,
    prompt: str | None = None,
) -> list[SampledConstraint]:
    """Draw between k_min and k_max mutually compatible constraints.

    The same seed gives the same draw. Ids that copy the prompt are only eligible when
    `prompt` is given. Fewer than k_min compatible ids available raises CaravanError.
    """
    rng = rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)
    if not 1 <= k_min <= k_max:
        raise CaravanError(f"need 1 <= k_min <= k_max, got {k_min}, {k_max}")
    pool = list(ids) if ids is not None else list(ALL_IDS)
    for iid in pool:
        if iid not in SPECS:
            raise CaravanError(f"unknown instruction id {iid!r}")
    if not prompt:
        pool = [i for i in pool if not SPECS[i].needs_prompt]
    table = conflict_table()
    want = rng.randint(k_min, k_max)
    for _attempt in range(50):
        chosen: list[str] = []
        candidates = sorted(set(pool))
        while candidates and len(chosen) < want:
            pick = rng.choice(candidates)
            chosen.append(pick)
            candidates = [c for c in candidates if c not in table[pick]]
        if len(chosen) >= k_min:
            break
    else:
        raise CaravanError(f"cannot draw {k_min} compatible constraints from {sorted(set(pool))}")
    out = []
    for iid in chosen:
        kwargs = _PLAN[iid][0](rng, prompt)
        prepare(iid, kwargs, prompt)  # every sampled label must be checkable
        out.append(SampledConstraint(iid, kwargs, describe(iid, kwargs)))
    return out


def to_ground_truth(constraints: Sequence[SampledConstraint]) -> str:
    """The IFEval-style label string (`score_ground_truth` reads it back)."""
    if not constraints:
        raise CaravanError("no constraints to turn into a ground truth")
    return json.dumps(
        [
            {
                "instruction_id": [c.instruction_id for c in constraints],
                "kwargs": [c.kwargs for c in constraints],
            }
        ],
        ensure_ascii=False,
    )


def render_instructions(constraints: Sequence[SampledConstraint]) -> str:
    """The descriptions as one block to append to a prompt."""
    return " ".join(c.description for c in constraints)
