import json

import jsonschema
import pytest
from caravan.llm.types import Response
from caravan.prefs.judge import (
    ASPECTS,
    check_aspects,
    judge_request,
    judgement_schema,
    read_judgement,
    shown_order,
)

PROMPT = [{"role": "user", "content": "Write a haiku."}]


def _reply(aspect, labels):
    out = {}
    for i, label in enumerate(labels, start=1):
        item = {"rationale": f"r{i}", "rating": label}
        if aspect == "helpfulness":
            item["qualities"] = ["concise", "concise"]
        if aspect == "truthfulness":
            item["hallucinations"] = ["factual_error"]
        out[f"response_{i}"] = item
    return out


@pytest.mark.parametrize("aspect", ASPECTS)
def test_schema_demands_exactly_one_valid_rating_per_shown_response(aspect):
    schema = judgement_schema(aspect, 3)
    assert "$ref" not in json.dumps(schema) and schema["additionalProperties"] is False
    good = _reply(aspect, ["1", "5", "3"])
    jsonschema.validate(good, schema)
    for bad in (
        _reply(aspect, ["1", "5"]),  # one response missing
        _reply(aspect, ["1", "5", "3", "2"]),  # one too many
        _reply(aspect, ["0", "5", "3"]),  # out of range
        _reply(aspect, [5, "5", "3"]),  # not a label
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    na = _reply(aspect, ["N/A", "5", "3"])
    if aspect == "honesty":
        jsonschema.validate(na, schema)
    else:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(na, schema)


def test_shown_order_is_a_seeded_permutation_per_prompt_and_aspect():
    a = shown_order(0, "p1", "honesty", 5)
    assert sorted(a) == list(range(5)) and a == shown_order(0, "p1", "honesty", 5)
    orders = {tuple(shown_order(s, "p1", "honesty", 5)) for s in range(30)}
    assert len(orders) > 10


def test_ratings_map_back_to_candidates_through_the_shuffle():
    texts = ["zero", "one", "two", "three"]
    seed = next(s for s in range(100) if shown_order(s, "p", "honesty", 4) != [0, 1, 2, 3])
    task = judge_request("p", "honesty", PROMPT, texts, "judge", {"temperature": 0.1}, seed)
    user = task.request.messages[1]["content"]
    shown = [texts[i] for i in task.order]
    assert [user.index(f"\n{t}\n") for t in shown] == sorted(user.index(f"\n{t}\n") for t in shown)
    # the judge gives shown position p the rating p (position 4 says N/A)
    parsed = _reply("honesty", ["1", "2", "3", "N/A"])
    result = read_judgement(task, Response("p:honesty", text=json.dumps(parsed), parsed=parsed))
    assert result.ok
    for pos, cand in enumerate(task.order):
        r = result.ratings[cand]
        assert r.position == pos + 1
        assert r.rating == (None if pos == 3 else float(pos + 1))
        assert r.label == ("N/A" if pos == 3 else str(pos + 1))


def test_failed_reply_gives_no_ratings_and_keeps_raw_text():
    task = judge_request("p", "truthfulness", PROMPT, ["a", "b"], "judge", {}, 0)
    failed = Response("p", text="{oops", error="reply is not JSON", error_kind="parse_failure")
    result = read_judgement(task, failed)
    assert not result.ok and result.raw == "{oops" and result.error_kind == "parse_failure"
    assert all(r.rating is None and r.label is None for r in result.ratings)


def test_types_are_kept_deduplicated():
    task = judge_request("p", "helpfulness", PROMPT, ["a", "b"], "judge", {}, 0)
    parsed = _reply("helpfulness", ["4", "2"])
    result = read_judgement(task, Response("p", text=json.dumps(parsed), parsed=parsed))
    assert result.ratings[0].types == ["concise"]


def test_unknown_aspect_is_refused():
    from caravan.errors import CaravanError

    with pytest.raises(CaravanError, match="unknown judge aspect"):
        check_aspects(("helpfulness", "style"))
