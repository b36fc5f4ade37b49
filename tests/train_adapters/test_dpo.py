import math

import pytest

from train_adapters.cli import cli

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
    from train_adapters.recipe import load_recipe
    from train_adapters.resolve import resolve

    kw = resolve(load_recipe("tulu3-8b-dpo")).trl_kwargs
    assert kw["loss_type"] == ["sigmoid_norm"] and kw["beta"] == 5.0
    assert kw["precompute_ref_log_probs"] is True
