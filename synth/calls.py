"""What synth's decision functions need of a model session: building requests, and
cleaning the prompts a model writes. Calls themselves go through `caravan.session.LLM`
(its cache makes every step resumable: a rerun rebuilds the same requests, since prompts
and seeds derive from the persona and the run seed, and gets finished ones from the cache).
"""

from __future__ import annotations

from typing import Any, Protocol


class RequestMaker(Protocol):
    """Builds one request: an `LLM` session."""

    def request(self, rid: str, messages: list[dict[str, str]], params: dict[str, Any], /) -> Any:
        ...


def clean_text(text: str | None) -> str:
    """A generated prompt without a wrapping code fence, quotes or a 'Request:' label."""
    body = (text or "").strip()
    if body.startswith("```") and body.endswith("```") and len(body) > 6:
        body = body[3:-3].split("\n", 1)[-1].strip() if "\n" in body else body[3:-3].strip()
    for label in ("Request:", "Prompt:", "Problem:", "Exercise:", "Message:"):
        if body.startswith(label):
            body = body[len(label) :].strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'" and body.count(body[0]) == 2:
        body = body[1:-1].strip()
    return body
