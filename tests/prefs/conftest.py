"""The loopback API double with a scripted judge, and a pool/prompt file builder.

Generation replies name the model that wrote them ("[model] answer ..."), so the scripted
judge can rate by model: tests know in advance which response should win.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fixtures.llm_env import use_fake_llm_env
from tests.llm import api_double

# Rating each pool model earns on every aspect (the judge script below).
MODEL_RATINGS = {"alpha": "5", "beta": "4", "gamma": "2", "delta": "2", "eps": "1"}
_RESPONSE = re.compile(r'<response id="(\d+)">\n(.*?)\n</response>', re.S)
_ASPECT = re.compile(r"Criterion: (.+)")
TITLE_TO_ASPECT = {
    "helpfulness": "helpfulness",
    "instruction following": "instruction_following",
    "honesty and calibrated confidence": "honesty",
    "truthfulness": "truthfulness",
}


def judge_parts(body: dict) -> tuple[str, list[str], str]:
    """(aspect, shown response texts, user message) of a judge request."""
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    aspect = TITLE_TO_ASPECT[_ASPECT.search(system).group(1).strip()]
    texts = [t for _, t in sorted(_RESPONSE.findall(user), key=lambda x: int(x[0]))]
    return aspect, texts, user


def model_of(text: str) -> str:
    match = re.match(r"\[([^\]]+)\]", text)
    return match.group(1) if match else "?"


class JudgeDouble(api_double.ApiDouble):
    """Pool replies say who wrote them; judge replies follow MODEL_RATINGS, with hooks:
    a prompt containing MALFORMED-<aspect> always gets broken JSON for that aspect,
    FLAKY gets broken JSON on the first attempt only, a prompt with "poem" gets honesty
    N/A, and "ALLTIE" rates everything 3."""

    def reply_text(self, body):
        fmt = body.get("response_format") or {}
        if fmt.get("type") != "json_schema":
            prompt = api_double.last_user_text(body.get("messages", []))
            return f"[{body['model']}] answer to: {prompt[:80]}"
        aspect, texts, user = judge_parts(body)
        key = api_double.request_key(body)
        if f"MALFORMED-{aspect}" in user:
            return "Here are my ratings: response 1 is great"
        if "FLAKY" in user and self.counts[key] <= 1:
            return '{"response_1": {"rating": "9"}}'
        reply = {}
        for i, text in enumerate(texts, start=1):
            model = model_of(text)
            rating = MODEL_RATINGS.get(model.split("/")[-1], "3")
            if model.startswith("policy") or "/" in model:
                rating = "3"
            if "ALLTIE" in user:
                rating = "3"
            if aspect == "honesty" and "poem" in user:
                rating = "N/A"
            item = {"rationale": f"{model} on {aspect}", "rating": rating}
            if aspect == "helpfulness":
                item["qualities"] = ["informative"]
            if aspect == "truthfulness":
                item["hallucinations"] = []
            reply[f"response_{i}"] = item
        return json.dumps(reply)


@pytest.fixture
def double():
    server = JudgeDouble().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fake_keys(monkeypatch, tmp_path):
    use_fake_llm_env(monkeypatch, tmp_path)


def write_pool(path: Path, base_url: str, names=("alpha", "beta", "gamma", "delta")) -> Path:
    lines = ["models:"]
    for n in names:
        lines.append(f"  - {{name: {n}, provider: openai, model: {n}, base_url: '{base_url}/v1'}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_prompts(path: Path, texts: list[str], **extra_cols) -> Path:
    with path.open("w") as fh:
        for i, text in enumerate(texts):
            row = {"id": f"q{i}", "messages": [{"role": "user", "content": text}]}
            for col, values in extra_cols.items():
                row[col] = values[i]
            fh.write(json.dumps(row) + "\n")
    return path
