"""Shared CLI behaviour: one clear error line, tracebacks only with --debug."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from caravan.errors import CaravanError


def _debug_requested(args: list[str]) -> bool:
    return "--debug" in args or os.environ.get("CARAVAN_DEBUG", "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if isinstance(exc, CaravanError):
        return text
    return f"{exc.__class__.__name__}: {text} (run with --debug for the traceback)"


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    # Read again in main(); stored so subcommands can ask ctx.find_root().meta.
    ctx.meta["caravan.debug"] = value
    return value


class CaravanGroup(click.Group):
    """A click group whose errors become one line on stderr and a non-zero exit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--debug"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_set_debug,
                help="Show the full traceback when something fails.",
            )
        )

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", CaravanGroup)
        return super().group(*args, **kwargs)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,  # ignored: always ends in sys.exit with a clean last line
        **extra: Any,
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        debug = _debug_requested(argv)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the whole point is a clean last line
            if debug:
                raise
            click.echo(f"error: {_one_line(exc)}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def group(**kwargs: Any) -> Any:
    """Decorator for a top-level command group with Caravan's error handling."""
    kwargs.setdefault("cls", CaravanGroup)
    return click.group(**kwargs)
