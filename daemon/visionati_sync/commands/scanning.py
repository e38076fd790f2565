"""`estimate` and `scan`: what a scan of the folders (or PATHS) would cost, and the scan."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .group import EXIT_CONFIG, config_option, load, main, missing, service_for, table_for, where

if TYPE_CHECKING:
    from ..actions.estimate import Estimate
    from ..config import Config, FolderSettings
    from ..jobtable import JobTable
    from ..records import Scope
    from ..rules.selection import Selector


def _estimate(
    table: JobTable,
    selector: Selector,
    config: Config,
    folders: Sequence[FolderSettings],
    scopes: Sequence[Scope],
    quick: bool,
    refresh: bool = False,
    retag: bool = False,
) -> Estimate:
    from ..actions.estimate import estimate

    return estimate(
        table, folders, scopes, selector, config.options_for, config.settings.renditions(),
        hash_files=not quick, refresh=refresh, retag=retag,
        retag_on_change=config.settings.watch.retag_on_change,
    )  # fmt: skip


def _print_estimate(result: Estimate) -> None:
    from . import display

    for line in display.estimate_lines(result.as_dict()):
        click.echo(line)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quick", is_flag=True, help="Do not hash new files to find cached results.")
@click.option("--refresh", is_flag=True, help="Price `scan --refresh`: tagged files asked again.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def estimate(
    ctx: click.Context,
    config_path: Path | None,
    as_json: bool,
    quick: bool,
    refresh: bool,
    paths: tuple[Path, ...],
) -> None:
    """Count what a scan of the folders (or PATHS) would upload, and what it would cost."""
    config = load(ctx, config_path)
    folders, scopes = where(ctx, config, paths, "estimate")
    selector = config.settings.watch.selector()
    result = _estimate(table_for(ctx, config), selector, config, folders, scopes, quick, refresh)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _print_estimate(result)
    for problem in missing(paths):  # as `scan` says it
        click.echo(f"error: {problem}", err=True)
    ctx.exit(1 if missing(paths) else 0)


@main.command()
@config_option
@click.option(
    "--retag", is_flag=True, help="Also tag again files tagged under other api options, and "
    "files you untagged (from the results cache where it can)."
)  # fmt: skip
@click.option(
    "--refresh", is_flag=True, help="Ask the API again for files tagged before (they are "
    "paid again); only what this program wrote is replaced."
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only estimate: upload nothing.")
@click.option(
    "--confirm-above", default=1000, show_default=True, help="Ask before spending more credits."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask, whatever the estimate.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def scan(
    ctx: click.Context,
    config_path: Path | None,
    retag: bool,
    refresh: bool,
    dry_run: bool,
    confirm_above: int,
    yes: bool,
    paths: tuple[Path, ...],
) -> None:
    """Tag what is in the folders (or PATHS) now, then exit: 0 if no file failed, else 1.

    Exit 2 when uploads cannot go on: the key was rejected, the credits or the budget ran out,
    or the estimate was over --confirm-above and not confirmed.
    """
    from .progress import reporter_for

    config = load(ctx, config_path, need_key=not dry_run)
    folders, scopes = where(ctx, config, paths, "scan")
    service = service_for(ctx, config)
    table, selector = service.table, service.selector
    if dry_run:
        _print_estimate(_estimate(table, selector, config, folders, scopes, False, refresh, retag))
        return
    if not yes:
        planned = _estimate(table, selector, config, folders, scopes, True, refresh, retag).credits
        if planned > confirm_above:
            if not sys.stdin.isatty():
                click.echo(
                    f"error: the estimate ({planned:,} credits) is over --confirm-above "
                    f"{confirm_above:,}; run `estimate` to see it, then pass --yes",
                    err=True,
                )
                ctx.exit(EXIT_CONFIG)
            question = (
                f"This scan may spend up to {planned:,} credits (${planned / 100:,.2f}). Go on?"
            )
            if not click.confirm(question, err=True):
                ctx.exit(EXIT_CONFIG)
    from ..service.scan import Scan

    scan = Scan(service)
    if retag:
        count = scan.ask_again(folders, scopes, refresh=False)
        click.echo(f"{count} file(s) tagged under other options or untagged queued again",
                   err=True)  # fmt: skip
    if refresh:
        count = scan.ask_again(folders, scopes, refresh=True)
        click.echo(f"{count} tagged file(s) queued to be asked of the API again", err=True)
    from ..config import missing_folders

    problems = [p for p in missing_folders(config) if not paths]
    problems += missing(paths)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    code = scan.drain(folders, scopes, reporter_for(sys.stderr))
    ctx.exit(max(code, 1 if problems else 0))
