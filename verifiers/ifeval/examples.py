"""Responses built to pass or to fail a given IFEval constraint.

Used by the differential test against the reference evaluator and by the speed
benchmark; also handy for smoke-testing reward wiring end to end. Each builder is
deterministic given its `random.Random`.
"""

from __future__ import annotations

import json
import random
from typing import Any

PROSE = [
    "Coastal towns depend on the sea for food, trade and work. Fishing fleets leave before "
    "dawn and return with the catch by midday. Dr. Alvarez, who studies local markets, says "
    "prices rise when storms keep the boats in harbor.",
    "The new library opened in 2021 after three years of building. It holds about 40,000 "
    "books, a small cafe and rooms for study groups. Visitors praise the reading garden; "
    "many come back every week.",
    "Learning an instrument takes patience. Start with short daily sessions, e.g. fifteen "
    "minutes, and focus on one skill at a time. Progress feels slow at first. Then it "
    "suddenly speeds up!",
    "Why do leaves change color in autumn? As days shorten, trees stop making chlorophyll. "
    "The green fades and yellow and orange pigments show through. Some trees also produce "
    "red pigments in cool, sunny weather.",
    "Our team met on Monday to plan the launch. We agreed on a budget, a timeline and a "
    "short list of risks. The U.S. office will handle press, while the rest of us finish "
    "testing before the end of the month.",
]

FRENCH = (
    "Les villes côtières vivent de la mer. Les bateaux de pêche partent avant l'aube et "
    "reviennent à midi avec leur prise. Les prix montent quand les tempêtes gardent les "
    "bateaux au port."
)
GERMAN = (
    "Die neue Bibliothek wurde nach drei Jahren Bauzeit eröffnet. Sie hat etwa vierzigtausend "
    "Bücher, ein kleines Café und Räume für Lerngruppen."
)
SPANISH = (
    "Aprender a tocar un instrumento requiere paciencia. Empieza con sesiones cortas cada día "
    "y concéntrate en una sola habilidad a la vez."
)
BY_LANGUAGE = {"fr": FRENCH, "de": GERMAN, "es": SPANISH}


def prose(rng: random.Random, n: int = 2) -> str:
    return "\n\n".join(rng.sample(PROSE, n))


def _words(rng: random.Random, count: int) -> str:
    pool = (
        " ".join(PROSE).replace(",", "").replace(".", "").replace("!", "").replace("?", "").split()
    )
    return " ".join(rng.choice(pool) for _ in range(count))


def _sentences(rng: random.Random, count: int) -> str:
    return " ".join(
        f"This is sentence number {i + 1} about the {rng.choice(['sea', 'city', 'garden'])}."
        for i in range(count)
    )


def _rel_count(rel: str, n: int, passing: bool) -> int:
    """A count that satisfies (or violates) `rel n`."""
    if rel == "less than":
        return max(0, n - 1) if passing else n
    return n if passing else max(0, n - 1)


def build(
    instruction_id: str, kwargs: dict[str, Any], prompt: str, rng: random.Random, passing: bool
) -> str:
    """A response meant to pass (`passing=True`) or fail the constraint.

    The intent is best effort (some kwargs cannot be violated, e.g. "less than 0" is
    never met); the differential test only needs both implementations to agree.
    """
    k = {a: b for a, b in kwargs.items() if b is not None}
    base = prose(rng)
    iid = instruction_id
    if iid == "keywords:existence":
        words = k["keywords"] if passing else k["keywords"][:-1]
        return base + " " + " ".join(f"We talk about {w}." for w in words)
    if iid in ("keywords:frequency",):
        n = _rel_count(k["relation"], k["frequency"], passing)
        return base + " " + " ".join([k["keyword"]] * n)
    if iid == "keywords:forbidden_words":
        return base + ("" if passing else f" The {rng.choice(k['forbidden_words'])} matters.")
    if iid == "keywords:letter_frequency":
        letter = k["letter"]
        n = _rel_count(k["let_relation"], k["let_frequency"], passing)
        filler = "".join(c for c in "xyz qj vk" if c != letter)
        return (filler + " ") * 3 + " ".join(
            [letter.upper() if i % 2 else letter for i in range(n)]
        )
    if iid == "language:response_language":
        lang = k["language"]
        if passing:
            return BY_LANGUAGE.get(lang, base if lang == "en" else FRENCH)
        return base if lang != "en" else FRENCH
    if iid == "length_constraints:number_sentences":
        return _sentences(rng, _rel_count(k["relation"], k["num_sentences"], passing))
    if iid == "length_constraints:number_words":
        return _words(rng, _rel_count(k["relation"], k["num_words"], passing))
    if iid == "length_constraints:number_paragraphs":
        n = k["num_paragraphs"] + (0 if passing else 1)
        return "\n***\n".join(rng.choice(PROSE) for _ in range(n))
    if iid == "length_constraints:nth_paragraph_first_word":
        paras = [rng.choice(PROSE) for _ in range(k["num_paragraphs"])]
        nth = k["nth_paragraph"] - 1
        first = k["first_word"].capitalize() if passing else "Meanwhile"
        paras[nth] = f"{first}, " + paras[nth]
        return "\n\n".join(paras)
    if iid == "detectable_content:number_placeholders":
        n = k["num_placeholders"] - (0 if passing else 1)
        return base + " " + " ".join(f"[field {i}]" for i in range(n))
    if iid == "detectable_content:postscript":
        return base + (
            "\n\n" + k["postscript_marker"] + " See you soon." if passing else "\n\nPS see you soon"
        )
    if iid == "detectable_format:number_bullet_lists":
        n = k["num_bullets"] + (0 if passing else 1)
        return "Here is the list:\n" + "\n".join(f"* point {i + 1}" for i in range(n))
    if iid == "detectable_format:constrained_response":
        return (
            rng.choice(["My answer is yes.", "My answer is maybe."])
            if passing
            else "Yes, I think so."
        )
    if iid == "detectable_format:number_highlighted_sections":
        n = k["num_highlights"] - (0 if passing else 1)
        return base + "\n" + "\n".join(f"*highlight {i}*" for i in range(n))
    if iid == "detectable_format:multiple_sections":
        n = k["num_sections"] - (0 if passing else 1)
        return "\n".join(f"{k['section_spliter']} {i + 1}\n{rng.choice(PROSE)}" for i in range(n))
    if iid == "detectable_format:json_format":
        body = json.dumps({"summary": rng.choice(PROSE)[:80]})
        return f"```json\n{body}\n```" if passing else "Here is JSON: " + body
    if iid == "detectable_format:title":
        return ("<<A Short Title>>\n" if passing else "<<>>\n") + base
    if iid == "combination:two_responses":
        a, b = rng.sample(PROSE, 2)
        return f"{a}\n******\n{b}" if passing else f"{a}\n******\n{a}"
    if iid == "combination:repeat_prompt":
        text = k.get("prompt_to_repeat") or prompt
        return (text + "\n" + base) if passing else ("Sure! " + text)
    if iid == "startend:end_checker":
        return base + " " + k["end_phrase"] + ("" if passing else " Bye.")
    if iid == "change_case:capital_word_frequency":
        n = _rel_count(k["capital_relation"], k["capital_frequency"], passing)
        return "the plan is simple. " + " ".join(["IMPORTANT"] * n) + " and we go."
    if iid == "change_case:english_capital":
        return base.upper() if passing else base
    if iid == "change_case:english_lowercase":
        return base.lower() if passing else base
    if iid == "punctuation:no_comma":
        return base.replace(",", "") if passing else base + " Yes, really."
    if iid == "startend:quotation":
        return f'"{base}"' if passing else base
    raise KeyError(iid)
