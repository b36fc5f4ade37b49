import math

import pytest
from caravan.records import write_records
from caravan.train_adapters.cli import cli
from click.testing import CliRunner

from .conftest import SFT_OVERRIDES as CPU_OVERRIDES
from .conftest import _m


def _run(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_train_sft_runs_two_steps_and_saves_a_loadable_model(
    tmp_path, tiny_model_dir, sft_file, reduction
):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "sft",
                "--recipe",
                "tulu3-8b-sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(sft_file),
                "--output-dir",
                str(out),
                f"sft.loss_reduction={reduction}",
                *CPU_OVERRIDES,
            ]
        )
    assert done.value.code == 0
    import json

    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(out / "final")
    assert AutoTokenizer.from_pretrained(out / "final").chat_template


def _trainer(tmp_path, tiny_model_dir, sft_file, reduction):
    from caravan.train_adapters.mixer import build_mixture
    from caravan.train_adapters.model_loading import adapt_to_machine, load_model_and_tokenizer
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve
    from caravan.train_adapters.run import build_trainer, stage_dataset, trl_args

    recipe = load_recipe(
        "tulu3-8b-sft",
        [*CPU_OVERRIDES, f"model={tiny_model_dir}", f"sft.loss_reduction={reduction}"],
    )
    recipe.data = {str(sft_file): 1.0}
    resolved = resolve(recipe, str(tmp_path / reduction))
    adapt_to_machine(resolved.trl_kwargs)
    table, _ = build_mixture(recipe.data, "sft")
    model, tok, _ = load_model_and_tokenizer(recipe.model, "tulu", False)
    dataset, _ = stage_dataset(recipe, table, tok)
    return build_trainer(
        resolved, model, tok, dataset, trl_args(resolved, resolved.trl_kwargs)
    ), tok


def test_loss_falls_on_assistant_tokens_only(tmp_path, tiny_model_dir, sft_file):
    trainer, tok = _trainer(tmp_path, tiny_model_dir, sft_file, "mean")
    assert len(trainer.train_dataset) == 8
    for i, example in enumerate(trainer.train_dataset):
        ids = example["input_ids"]
        # TRL stores the assistant mask as labels (-100 = no loss) in its dataset.
        mask = [label != -100 for label in example["labels"]]
        assert len(ids) == len(mask)
        trained = [t for t, m in zip(ids, mask, strict=True) if m]
        assert tok.decode(trained) == f"It is {2 * i}.<|endoftext|>"
        prompt = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
        assert prompt.endswith(f"<|user|>\nWhat is {i} plus {i}?\n<|assistant|>\n")


def test_sum_reduction_is_the_token_sum_of_the_mean_loss(tmp_path, tiny_model_dir, sft_file):
    import torch

    sum_trainer, _ = _trainer(tmp_path, tiny_model_dir, sft_file, "sum")
    mean_trainer, _ = _trainer(tmp_path, tiny_model_dir, sft_file, "mean")
    batch = next(iter(sum_trainer.get_train_dataloader()))
    n_tokens = int((batch["labels"][:, 1:] != -100).sum())
    sum_trainer.model.eval()
    mean_trainer.model.eval()
    with torch.no_grad():
        total = sum_trainer.compute_loss(sum_trainer.model, dict(batch))
        mean = mean_trainer.compute_loss(mean_trainer.model, dict(batch))
    assert n_tokens > 4
    assert float(total) == pytest.approx(float(mean) * n_tokens, rel=1e-4)


def test_missing_columns_fail_before_any_model_loads(tmp_path, monkeypatch, capsys, tiny_model_dir):
    import json

    import caravan.train_adapters.run as run_mod

    bad = tmp_path / "raw.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": "hi", "completion": "hello"}) + "\n")

    def no_model(*a, **k):
        raise AssertionError("model must not load when the data is bad")

    monkeypatch.setattr(run_mod, "load_model_and_tokenizer", no_model)
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "sft",
                "--recipe",
                "tulu3-8b-sft",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(bad),
                "--output-dir",
                str(tmp_path / "o"),
                *CPU_OVERRIDES,
            ]
        )
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 1 invalid sft row(s)") and "row 0: missing `messages`" in err
    assert "Traceback" not in err


def test_a_rerun_resumes_only_into_the_same_run(
    tmp_path, monkeypatch, capsys, tiny_model_dir, sft_file
):
    import json

    from transformers import Trainer

    out = tmp_path / "run"
    args = [
        "sft",
        "--recipe",
        "tulu3-8b-sft",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(sft_file),
        "--output-dir",
        str(out),
        *CPU_OVERRIDES,
    ]
    with pytest.raises(SystemExit):
        cli.main(args)
    assert (out / "checkpoint-2").is_dir()
    seen = []
    real_train = Trainer.train

    def spy(self, resume_from_checkpoint=None, **kw):
        seen.append(resume_from_checkpoint)
        return real_train(self, resume_from_checkpoint=resume_from_checkpoint, **kw)

    monkeypatch.setattr(Trainer, "train", spy)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:  # same config, same data: resume
        cli.main(args)
    assert done.value.code == 0
    assert seen == [str(out / "checkpoint-2")]
    assert "resuming from checkpoint-2" in capsys.readouterr().err

    with pytest.raises(SystemExit) as done:  # a changed hyperparameter: refuse
        cli.main([*args, "trl.max_steps=3"])
    err = capsys.readouterr().err
    assert done.value.code == 1 and "different config (changed: recipe.trl.max_steps" in err
    assert "--resume force" in err and len(seen) == 1

    other = write_records(
        [
            {"id": f"o{i}", "source": "u", "messages": [_m("user", "hi"), _m("assistant", "yo")]}
            for i in range(8)
        ],
        tmp_path / "other" / "sft.parquet",
        "sft",
    )
    changed_data = [a if a != str(sft_file) else str(other) for a in args]
    with pytest.raises(SystemExit) as done:  # other data under the same config: refuse
        cli.main(changed_data)
    err = capsys.readouterr().err
    assert done.value.code == 1
    assert "of a run on different data" in err or "different config" in err

    with pytest.raises(SystemExit) as done:  # unless forced
        cli.main([*args, "trl.max_steps=3", "--resume", "force"])
    assert done.value.code == 0 and seen[-1] == str(out / "checkpoint-2")
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_resume_refuses_changed_data_with_the_same_config(tmp_path, tiny_model_dir, sft_file):
    """The data path stays, its contents change: only the data digest can tell."""
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve
    from caravan.train_adapters.resume import check_data, write_run_record

    from caravan.errors import CaravanError

    recipe = load_recipe("tulu3-8b-sft", [*CPU_OVERRIDES, f"model={tiny_model_dir}"])
    recipe.data = {str(sft_file): 1.0}
    resolved = resolve(recipe, str(tmp_path / "r"))
    write_run_record(resolved, "a" * 64, 8)
    (tmp_path / "r" / "checkpoint-4").mkdir()
    assert check_data(resolved, "a" * 64, 8, "auto").endswith("checkpoint-4")
    with pytest.raises(CaravanError, match="different data \\(8 rows then, 7 now"):
        check_data(resolved, "b" * 64, 7, "auto")
    assert check_data(resolved, "b" * 64, 7, "force").endswith("checkpoint-4")
