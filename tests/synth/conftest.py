"""Fixtures: the loopback API double with replies that make sense per synth task."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tests.fixtures.llm_env import use_fake_llm_env
from tests.llm import api_double

# Constraint ids whose answers the double can write to order (see `if_answer`).
IF_IDS = (
    "keywords:existence,punctuation:no_comma,change_case:english_lowercase,detectable_format:title"
)


def if_answer(prompt: str) -> str:
    """An answer that follows exactly the constraints the prompt states (of IF_IDS) and
    breaks the others: the double's stand-in for a careful model."""
    title = "<<" in prompt
    lower = "lowercase" in prompt
    comma = "comma" in prompt
    words = re.findall(r'Work the words "(\w+)" and "(\w+)"', prompt)
    body = "this is my answer to your request"
    if words:
        body += " and it mentions " + " and ".join(words[0])
    if not lower:
        body = "This Is My Answer. " + body
    if not comma:
        body += ", truly"
    return ("<<my note>>\n" if title else "") + body + "."


class SynthDouble(api_double.ApiDouble):
    """Scripted replies keyed on what synth sends (our templates' wording)."""

    def reply_text(self, body):
        text = api_double.last_user_text(body.get("messages", []))
        fmt = body.get("response_format") or {}
        seed = body.get("seed") or 0
        if fmt.get("type") == "json_schema":  # code solutions with tests
            ok = "mechanic" not in text
            return json.dumps(
                {
                    "solution": "Here it is.\n```python\ndef add(a, b):\n    return a + b\n```",
                    "tests": ["assert add(1, 2) == 3", f"assert add(2, 2) == {4 if ok else 5}"],
                }
            )
        if text.startswith("Picture this person:"):
            persona = text.splitlines()[0].removeprefix("Picture this person:").strip()
            if "requirements for the answer" in text:  # IF
                if "beekeeper" in persona:
                    return "Please help me label my honey jars."  # states nothing
                rules = [ln[2:] for ln in text.splitlines() if ln.startswith("- ")]
                return f"I am {persona.lower()} Please write me a short note. " + " ".join(rules)
            if "nurse" in persona or "ranger" in persona:
                return "How many hours are there in 3 days?"  # the same prompt twice
            return f"Thinking as {persona.lower()} what is the total of 40 and 2?"
        if text.startswith("Here is a request someone wrote"):  # relax rewrite
            request = text.split("<request>\n", 1)[1].split("\n</request>", 1)[0]
            dropped = text.split("no longer asks for this one requirement:\n- ", 1)[1]
            dropped = dropped.split("\n", 1)[0]
            return request.replace(" " + dropped, "")
        if "inside \\boxed{}" in text:
            answer = seed % 7 if "olympiad" in text else 42
            return f"Adding gives the result. \\boxed{{{answer}}}"
        if '"#### <number>"' in text:
            return "40 plus 2.\n#### 42"
        return if_answer(text)


@pytest.fixture
def double():
    server = SynthDouble().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def synth_env(monkeypatch, tmp_path):
    use_fake_llm_env(monkeypatch, tmp_path)


@pytest.fixture
def synth():
    """Run `synth ARGS...`; returns the click result (stdout, stderr, exit_code)."""
    from caravan.synth.cli import cli

    def run(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args])

    return run


@pytest.fixture
def api(double):
    """The flags that point synth at the double."""
    return ["--base-url", double.base_url + "/v1", "--model", "gpt-4o", "--no-progress"]


@pytest.fixture
def if_ids() -> str:
    return IF_IDS


@pytest.fixture
def scripted_if_answer():
    return if_answer
