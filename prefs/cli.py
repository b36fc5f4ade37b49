"""`prefs` command group."""

from __future__ import annotations

import json
from pathlib import Path

import click

from caravan.cli_run import call_options, executor_options
from caravan.cli_support import group


@group(name="prefs")
def cli() -> None:
    """Build on-policy preference data: pool responses rated by an LLM judge.

    Several pool models and the policy answer each prompt; a judge rates every response
    on helpfulness, instruction following, honesty and truthfulness; ratings become
    chosen/rejected pairs for DPO (`build`). `stats` reports on a built file."""


def _params(text: str | None, what: str) -> dict:
    if not text:
        return {}
    from caravan.errors import CaravanError

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CaravanError(f"{what}: not a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise CaravanError(f"{what}: must be a JSON object, e.g. '{{\"temperature\": 0.1}}'")
    return value


P = click.Path(path_type=Path)


@cli.command()
@click.option(
    "--prompts",
    "prompts",
    required=True,
    multiple=True,
    type=P,
    help="Prompt file(s): SFT/synth datasets (last user turn) or prompt files "
    "(.jsonl/.json/.parquet/.arrow). Repeatable.",
)
@click.option(
    "--pool",
    "pool_path",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="YAML list of pool models with their backends.",
)
@click.option("--output", required=True, type=P, help="Pairs file (.parquet or .arrow).")
@click.option(
    "--k",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Distinct pool models per prompt.",
)
@click.option(
    "--on-policy",
    default=None,
    help="Also answer with the policy: a local model path, or a served model name "
    "with --on-policy-base-url.",
)
@click.option(
    "--on-policy-provider",
    type=click.Choice(["local", "vllm", "openai"]),
    default=None,
    help="local (transformers), vllm (offline, GPU) or openai "
    "(a server URL) [default: openai with a URL, else local].",
)
@click.option("--on-policy-base-url", default=None, help="Policy server, e.g. http://gpu:8000/v1.")
@click.option("--on-policy-device", default=None, help="local: torch device (cpu, cuda).")
@click.option("--judge", "judge_model", default="gpt-4o-2024-08-06", show_default=True)
@click.option(
    "--judge-provider",
    type=click.Choice(["openai", "anthropic"]),
    default="openai",
    show_default=True,
)
@click.option("--judge-base-url", default=None, help="OpenAI-compatible judge server.")
@click.option(
    "--judge-params",
    default=None,
    help="JSON sampling params for the judge, merged over the defaults "
    '{"temperature": 0.1, "max_tokens": 4096}.',
)
@click.option(
    "--aspects",
    default="helpfulness,instruction_following,honesty,truthfulness",
    show_default=True,
    help="Comma-separated judge aspects.",
)
@click.option(
    "--judge-retries",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Extra rounds for judge calls that failed or never validated.",
)
@click.option(
    "--strategy",
    type=click.Choice(["random-lower", "lowest", "margin"]),
    default="random-lower",
    show_default=True,
    help="How the rejected response is picked among strictly lower scores.",
)
@click.option(
    "--margin",
    default=1.0,
    show_default=True,
    type=float,
    help="With --strategy margin: minimum score gap chosen - rejected.",
)
@click.option(
    "--max-tokens",
    default=2048,
    show_default=True,
    type=click.IntRange(min=1),
    help="Generation length where a pool entry sets none.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seeds model sampling, shown order, and pair choice.",
)
@click.option(
    "--merge-if",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Persona-IF preference pairs from `synth relax` to merge in. Repeatable.",
)
@click.option(
    "--verify-if",
    is_flag=True,
    help="Drop pairs whose chosen answer fails its IF constraints (rows with a "
    "ground-truth column).",
)
@click.option(
    "--ground-truth-field",
    default="ground_truth",
    show_default=True,
    help="Column holding IF ground truth in prompt and --merge-if files.",
)
@click.option("--prompt-field", default=None, help="Text column to use as the prompt.")
@click.option("--source", default=None, help="Source tag for rows without `source`.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Use the first N prompts.")
@click.option(
    "--side-table",
    default=None,
    type=P,
    help="Where every response and rating goes [default: OUTPUT.responses.parquet].",
)
@call_options
@executor_options
def build(**o) -> None:
    """Answer prompts with k pool models (and the policy), rate every response with the
    judge on each aspect, and write chosen/rejected pairs, a side table of all responses
    and ratings, and OUTPUT.rejected.jsonl (why each unpaired prompt has no pair). Paid
    responses are cached and finished batches journaled: rerun the same command to resume.
    --batch sends the judge's calls through the provider's Batch API."""
    from caravan.prefs.build import BuildConfig, dry_run, run_build
    from caravan.prefs.judge import ASPECTS, DEFAULT_JUDGE_PARAMS
    from caravan.prefs.pool import load_pool, on_policy_model

    from caravan.cli_run import pop_calls, pop_executor

    calls, executor = pop_calls(o), pop_executor(o)
    policy = None
    if o["on_policy"]:
        options = {"device": o["on_policy_device"]} if o["on_policy_device"] else {}
        policy = on_policy_model(
            o["on_policy"], o["on_policy_provider"], o["on_policy_base_url"], options=options
        )
    cfg = BuildConfig(
        prompts=list(o["prompts"]),
        output=o["output"],
        pool=load_pool(o["pool_path"]),
        k=o["k"],
        on_policy=policy,
        judge_model=o["judge_model"],
        judge_provider=o["judge_provider"],
        judge_base_url=o["judge_base_url"],
        judge_params={**DEFAULT_JUDGE_PARAMS, **_params(o["judge_params"], "--judge-params")},
        aspects=tuple(a.strip() for a in o["aspects"].split(",") if a.strip()) or ASPECTS,
        judge_retries=o["judge_retries"],
        seed=o["seed"],
        strategy=o["strategy"],
        margin=o["margin"],
        max_tokens=o["max_tokens"],
        prompt_field=o["prompt_field"],
        source=o["source"],
        ground_truth_field=o["ground_truth_field"],
        limit=o["limit"],
        merge_if=list(o["merge_if"]),
        verify_if=o["verify_if"],
        side_table=o["side_table"],
    )
    if calls.dry_run:
        for line in dry_run(cfg, calls):
            click.echo(line)
        return
    report, result = calls.guard.run(run_build, cfg, calls, executor)
    for line in report.lines():
        click.echo(line)
    calls.check(result)


@cli.command()
@click.argument("pairs", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--side-table",
    default=None,
    type=click.Path(path_type=Path),
    help="Responses table [default: PAIRS.responses.parquet beside PAIRS].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw the distributions, length bias, win rates, position bias (95% CI) and "
    "parse failures into this PNG (needs the `inspect` extra).",
)
def stats(pairs: Path, side_table: Path | None, as_json: bool, plot_path: Path | None) -> None:
    """Counts, score and margin distributions, model win rates and the judge's position
    bias (mean rating by shown position) for a `prefs build` output."""
    from caravan.prefs.stats import compute_stats, render

    figures = compute_stats(pairs, side_table)
    if plot_path is not None:
        from caravan.inspect.preferences import plot_stats_files

        plot_stats_files(pairs, figures.get("side_table"), plot_path)
        click.echo(f"plot: {plot_path}", err=True)
    if as_json:
        click.echo(json.dumps(figures, indent=2, sort_keys=True))
    else:
        render(figures)
