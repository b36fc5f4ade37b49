import math

import pytest
from caravan.train_adapters.cli import cli

from .conftest import DPO_OVERRIDES as CPU_OVERRIDES


def _train(tmp_path, tiny_model_dir, pref_file, cache, out):
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "dpo",
                "--recipe",
                "tulu3-8b-dpo",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(pref_file),
                "--output-dir",
                str(tmp_path / out),
                f"dpo.cache_dir={cache}",
                *CPU_OVERRIDES,
            ]
        )
    assert done.value.code == 0


def test_dpo_runs_and_reference_log_probs_are_cached_once(
    tmp_path, monkeypatch, tiny_model_dir, pref_file
):
    import json

    from trl import DPOTrainer

    cache = tmp_path / "ref-cache"
    calls = {"n": 0}
    real = DPOTrainer.compute_ref_log_probs

    def counting(self, model, inputs):
        calls["n"] += 1
        return real(self, model, inputs)

    monkeypatch.setattr(DPOTrainer, "compute_ref_log_probs", counting)
    _train(tmp_path, tiny_model_dir, pref_file, cache, "run1")
    files = list(cache.glob("*.parquet"))
    assert len(files) == 1 and calls["n"] > 0
    first_calls, stamp = calls["n"], files[0].stat().st_mtime_ns

    _train(tmp_path, tiny_model_dir, pref_file, cache, "run2")
    assert calls["n"] == first_calls  # the reference model never ran again
    assert [f.stat().st_mtime_ns for f in cache.glob("*.parquet")] == [stamp]

    state = json.loads((tmp_path / "run2" / "checkpoint-2" / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def test_dpo_recipe_uses_length_normalised_loss(tmp_path):
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve

    kw = resolve(load_recipe("tulu3-8b-dpo")).trl_kwargs
    assert kw["loss_type"] == ["sigmoid_norm"] and kw["beta"] == 5.0
    assert kw["precompute_ref_log_probs"] is True


def test_reference_cache_key_covers_every_loss_setting(tmp_path):
    from caravan.train_adapters.dpo import reference_cache_key
    from datasets import Dataset
    from trl import DPOConfig

    data = Dataset.from_dict({"prompt_ids": [[1, 2], [3]], "chosen_ids": [[4], [5, 6]]})

    def key(**kw):
        args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, **kw)
        return reference_cache_key("weights", data, args)

    base = key()
    assert key() == base
    variants = [
        key(ld_alpha=0.0),
        key(ld_alpha=0.5),
        key(loss_type=["sigmoid_norm"]),
        key(max_length=64),
        key(truncation_mode="keep_end"),
        key(beta=5.0),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    other = Dataset.from_dict({"prompt_ids": [[1, 2], [3]], "chosen_ids": [[4], [5, 7]]})
    args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
    assert reference_cache_key("weights", other, args) != base
    assert reference_cache_key("other-weights", data, args) != base


def test_reference_log_probs_default_to_caravan_cache_root(
    tmp_path, monkeypatch, tiny_model_dir, pref_file
):
    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(tmp_path / "cache-root"))
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "dpo",
                "--recipe",
                "tulu3-8b-dpo",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(pref_file),
                "--output-dir",
                str(tmp_path / "run"),
                *CPU_OVERRIDES,
            ]
        )
    assert done.value.code == 0
    assert len(list((tmp_path / "cache-root" / "dpo-ref-logps").glob("*.parquet"))) == 1


@pytest.fixture(scope="module")
def plain_marker_model(tmp_path_factory):
    """A checkpoint whose tokenizer has neither role tokens nor a chat template."""
    from tests.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("no-role-tokens"), role_tokens=False, chat_template=False
    )


@pytest.mark.parametrize("add_role_tokens", [False, True])
def test_train_dpo_leaves_the_vocabulary_alone_unless_asked(
    tmp_path, capsys, plain_marker_model, pref_file, add_role_tokens
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    before = AutoTokenizer.from_pretrained(plain_marker_model)
    assert "<|user|>" not in before.get_vocab()
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "dpo",
                "--recipe",
                "tulu3-8b-dpo",
                "--model",
                str(plain_marker_model),
                "--data",
                str(pref_file),
                "--output-dir",
                str(out),
                f"dpo.cache_dir={tmp_path / 'cache'}",
                f"dpo.add_role_tokens={str(add_role_tokens).lower()}",
                *CPU_OVERRIDES,
            ]
        )
    assert done.value.code == 0
    err = capsys.readouterr().err
    after = AutoTokenizer.from_pretrained(out / "final")
    rows = AutoModelForCausalLM.from_pretrained(out / "final").get_input_embeddings().num_embeddings
    if add_role_tokens:
        assert len(after) == len(before) + 3 and rows == len(after)
        assert "as new special tokens; the embeddings are resized" in err
    else:
        assert after.get_vocab() == before.get_vocab() and rows == len(before)
        assert "stay plain text and the vocabulary is unchanged" in err
        text = after.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
        assert "<|user|>\nhi\n" in text  # the Tülu markers, as plain text
