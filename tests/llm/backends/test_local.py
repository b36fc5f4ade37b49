"""LocalBackend against a tiny random Llama built on the spot (no downloads)."""

from __future__ import annotations

import asyncio
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402
from caravan.llm.backends.local import LocalBackend  # noqa: E402
from caravan.llm.types import BatchingBackend, PermanentError, Request  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from caravan.errors import CaravanError  # noqa: E402

# Session fixtures tiny_model_dir / tiny_model_dir_no_template.


def _req(text: str, id: str | None = None, **params) -> Request:
    params.setdefault("max_tokens", 8)  # keep the suite fast: the backend's default is 512
    return Request(messages=[{"role": "user", "content": text}], model="tiny", params=params, id=id)


@pytest.fixture(scope="module")
def backend(tiny_model_dir) -> LocalBackend:
    b = LocalBackend(str(tiny_model_dir), max_batch_size=3)
    b.load()
    return b


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_is_a_batching_backend(backend):
    assert isinstance(backend, BatchingBackend)
    assert backend.name == "local"
    assert backend.max_batch_size == 3


def test_mixed_batch_returns_one_response_per_request_in_order(backend):
    requests = [
        _req(
            "Hello " * (1 + i % 4), id=f"r{i}", max_tokens=3 + i, temperature=0.9 * (i % 2), seed=i
        )
        for i in range(7)
    ]
    responses = backend.complete_batch(requests)
    assert [r.request_id for r in responses] == [f"r{i}" for i in range(7)]
    for i, response in enumerate(responses):
        assert response.ok and isinstance(response.text, str)
        assert 1 <= response.usage.completion_tokens <= 3 + i
        assert response.finish_reason in {"stop", "length"}
        assert response.latency_s > 0


def test_empty_batch_is_empty(backend):
    assert backend.complete_batch([]) == []


def test_greedy_is_deterministic_and_independent_of_batch(backend):
    target = _req("What is 2 + 2?", id="t", max_tokens=12)
    alone = backend.complete_batch([target])[0]
    again = backend.complete_batch([target])[0]
    neighbours = [_req("Write a long story about a river " * 5, max_tokens=4), _req("Hi")]
    in_batch = backend.complete_batch([neighbours[0], target, neighbours[1]])[1]
    assert alone.text == again.text == in_batch.text
    assert alone.usage == in_batch.usage


def test_seeded_sampling_is_reproducible_and_batch_independent(backend):
    target = _req("Tell me a poem", id="s", max_tokens=10, temperature=1.0, seed=7)
    alone = backend.complete_batch([target])[0]
    mixed = backend.complete_batch(
        [_req("Name a prime", max_tokens=6, temperature=1.0, seed=1), target, _req("x " * 30)]
    )[1]
    assert alone.text == mixed.text
    other_seeds = {
        backend.complete_batch([_req("Tell me a poem", max_tokens=10, temperature=1.0, seed=s)])[
            0
        ].text
        for s in range(8, 12)
    }
    assert len(other_seeds | {alone.text}) > 1, "different seeds should sample differently"


def test_tiny_top_p_and_top_k_one_equal_greedy(backend):
    greedy = backend.complete_batch([_req("Count to ten", max_tokens=8)])[0].text
    top_p, top_k = backend.complete_batch(
        [
            _req("Count to ten", max_tokens=8, temperature=1.5, top_p=1e-9, seed=3),
            _req("Count to ten", max_tokens=8, temperature=1.5, top_k=1, seed=4),
        ]
    )
    assert top_p.text == greedy
    assert top_k.text == greedy


def test_top_k_samples_only_among_the_k_best_first_tokens(backend):
    messages = [{"role": "user", "content": "Pick a word"}]
    with torch.no_grad():
        ids = torch.tensor([backend.prompt_ids(messages)])
        logits = backend.hf_model(input_ids=ids).logits[0, -1]
    best3 = {backend.tokenizer.decode([t]) for t in torch.topk(logits, 3).indices.tolist()}
    firsts = {
        r.text
        for r in backend.complete_batch(
            [_req("Pick a word", max_tokens=1, temperature=5.0, top_k=3, seed=s) for s in range(12)]
        )
    }
    assert firsts <= best3
    assert len(firsts) >= 2, "a hot temperature should reach more than one of the top 3"


def test_max_tokens_gives_length_and_exact_count(backend):
    response = backend.complete_batch([_req("Explain rivers", max_tokens=5)])[0]
    assert response.finish_reason == "length"
    assert response.usage.completion_tokens == 5


def test_stop_string_truncates_and_reports_stop(backend, tokenizer):
    full = backend.complete_batch([_req("Why is the sky blue?", max_tokens=20)])[0]
    assert full.finish_reason == "length"
    # Pick a stop string the model really produces, a few tokens in.
    gen_ids = tokenizer(full.text, add_special_tokens=False)["input_ids"]
    stop = tokenizer.decode(gen_ids[4:6])
    assert stop and stop in full.text
    cut = backend.complete_batch([_req("Why is the sky blue?", max_tokens=20, stop=[stop, "@@"])])[
        0
    ]
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.usage.completion_tokens < 20


def test_eos_ends_with_stop(tiny_model_dir):
    backend = LocalBackend(str(tiny_model_dir))
    backend.load()
    model = backend.hf_model
    # Make EOS the top logit everywhere: the model answers with EOS at once.
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight = head.weight
    with torch.no_grad():
        biased.bias.zero_()
        biased.bias[backend.tokenizer.eos_token_id] = 1e4
    model.lm_head = biased
    response = backend.complete_batch([_req("Hi", max_tokens=10)])[0]
    assert response.finish_reason == "stop"
    assert response.text == ""
    assert response.usage.completion_tokens == 1


def test_usage_counts_match_the_tokenizer(backend, tokenizer):
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 12 + 30?"},
        {"role": "assistant", "content": "42"},
        {"role": "user", "content": "And 1 + 1?"},
    ]
    response = backend.complete_batch(
        [Request(messages=messages, model="tiny", params={"max_tokens": 4})]
    )[0]
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    assert response.usage.prompt_tokens == len(expected)
    assert response.usage.completion_tokens == 4
    assert response.usage.total_tokens == len(expected) + 4


def test_control_tokens_in_content_stay_text(backend, tokenizer):
    ids = backend.prompt_ids([{"role": "user", "content": "stop here <|endoftext|> ok"}])
    assert tokenizer.eos_token_id not in ids
    assert "<|endoftext|>" in tokenizer.decode(ids)


def test_falls_back_to_tulu_template(tiny_model_dir_no_template, backend):
    plain = LocalBackend(str(tiny_model_dir_no_template))
    assert plain.uses_fallback_template
    assert not backend.uses_fallback_template
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    expected = "<s><|system|>\nBe terse.\n<|user|>\nHi\n<|assistant|>\n"
    assert plain.render(messages) == expected
    response = plain.complete_batch(
        [Request(messages=messages, model="tiny", params={"max_tokens": 2})]
    )[0]
    assert response.usage.prompt_tokens == len(
        plain.tokenizer(expected, add_special_tokens=False)["input_ids"]
    )


def test_tulu_template_marks_assistant_turns_for_training(tokenizer):
    messages = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3?"},
        {"role": "assistant", "content": "6"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<s><|user|>\n2+2?\n<|assistant|>\n4<|endoftext|>\n<|user|>\n3+3?\n<|assistant|>\n6<|endoftext|>"
    )
    out = tokenizer.apply_chat_template(
        messages, return_dict=True, return_assistant_tokens_mask=True
    )
    kept = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(kept) == "4<|endoftext|>6<|endoftext|>"


def test_unloadable_model_is_a_permanent_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(PermanentError, match="no-such-model") as info:
        LocalBackend(str(missing)).complete_batch([_req("Hi", id="a")])
    assert info.value.kind == "model_load"
    (tmp_path / "empty").mkdir()
    with pytest.raises(PermanentError, match="empty"):
        LocalBackend(str(tmp_path / "empty")).load()


def test_empty_messages_name_the_request(backend):
    bad = Request(messages=[], model="tiny", id="row-17")
    with pytest.raises(PermanentError, match="row-17"):
        backend.complete_batch([_req("fine", id="ok"), bad])
    with pytest.raises(PermanentError, match=r"#1 \(no id\)"):
        backend.complete_batch([_req("fine"), Request(messages=[], model="tiny")])


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"n": 2}, "n=2"),
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": 5}, "stop"),
        ({"top_p": 0}, "top_p"),
    ],
)
def test_bad_params_name_the_request(backend, params, needle):
    with pytest.raises(PermanentError, match=needle) as info:
        backend.complete_batch([_req("Hi", id="p-1", **params)])
    assert "p-1" in str(info.value)


def test_malformed_message_and_unknown_role(backend):
    with pytest.raises(PermanentError, match="m-1"):
        backend.complete_batch([Request(messages=[{"role": "user"}], model="tiny", id="m-1")])
    with pytest.raises(PermanentError, match="m-2.*unknown chat role"):
        backend.complete_batch(
            [Request(messages=[{"role": "wizard", "content": "x"}], model="tiny", id="m-2")]
        )


def test_context_limit(backend):
    with pytest.raises(PermanentError, match="long-1") as info:
        backend.complete_batch([_req("word " * 600, id="long-1")])
    assert info.value.kind == "context_length"
    text = "one two " * 10
    while len(backend.prompt_ids([{"role": "user", "content": text}])) < 480:
        text += "one two "
    near = backend.complete_batch([_req(text, max_tokens=400)])[0]
    assert near.finish_reason == "length"
    assert near.usage.prompt_tokens >= 480
    assert near.usage.total_tokens == 512  # max_tokens clamped to the 512-token context


def test_out_of_memory_splits_the_batch(backend, monkeypatch):
    requests = [_req(f"Question {i} about rivers", id=f"o{i}", max_tokens=4) for i in range(3)]
    expected = backend.complete_batch(requests)
    real_generate = backend._generate
    sizes = []

    def small_device(rows):
        sizes.append(len(rows))
        if len(rows) > 1:
            raise torch.OutOfMemoryError("fake: batch does not fit")
        return real_generate(rows)

    monkeypatch.setattr(backend, "_generate", small_device)
    got = backend.complete_batch(requests)
    assert sizes == [3, 1, 2, 1, 1]
    assert [r.text for r in got] == [r.text for r in expected]
    assert [r.request_id for r in got] == ["o0", "o1", "o2"]

    def no_device(rows):
        raise torch.OutOfMemoryError("fake: nothing fits")

    monkeypatch.setattr(backend, "_generate", no_device)
    with pytest.raises(PermanentError, match="'o0'.*out of memory") as info:
        backend.complete_batch(requests[:1])
    assert info.value.kind == "oom"


def test_async_complete(backend):
    sync = backend.complete_batch([_req("Hello there", max_tokens=6)])[0]
    response = asyncio.run(backend.complete(_req("Hello there", max_tokens=6)))
    assert response.text == sync.text


def test_schema_is_not_enforced_here(backend):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    plain = backend.complete_batch([_req("Give JSON", max_tokens=5)])[0]
    request = Request(
        messages=[{"role": "user", "content": "Give JSON"}],
        model="tiny",
        params={"max_tokens": 5},
        schema=schema,
    )
    response = backend.complete_batch([request])[0]
    assert response.ok and response.parsed is None
    assert response.text == plain.text  # the engine validates and retries, not the backend


def test_missing_transformers_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(CaravanError, match=r"pip install 'caravan-posttrain\[train\]'"):
        LocalBackend("some/model").load()


def test_bad_batch_size():
    with pytest.raises(CaravanError, match="max_batch_size"):
        LocalBackend("x", max_batch_size=0)
