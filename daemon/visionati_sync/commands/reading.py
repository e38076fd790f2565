"""`status`, `costs` and `jobs`: what the job table says, read without a lock, never
migrated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ..records import VISIBLE_STATES, State
from .group import config_option, load, main, table_for

if TYPE_CHECKING:
    from datetime import datetime


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, config_path: Path | None, as_json: bool) -> None:
    """Show counts by state, spend, whether submissions are paused, recent errors."""
    from ..actions.status import report as status_report
    from . import display

    config = load(ctx, config_path, logs=False)
    report = status_report(table_for(ctx, config).reports, config)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for line in display.status_lines(report):
        click.echo(line)


@main.command()
@config_option
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only requests sent on or after this day (YYYY-MM-DD, local time).",
)  # fmt: skip
@click.option(
    "--by", type=click.Choice(["day", "folder", "options"]), default="day", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def costs(
    ctx: click.Context, config_path: Path | None, since: datetime | None, by: str, as_json: bool
) -> None:
    """Where the credits went: per day, folder or option set; files and credits per file."""
    from ..actions import ledger
    from . import display

    config = load(ctx, config_path, logs=False)
    charges = table_for(ctx, config).reports.charges(since.astimezone() if since else None)
    lines = ledger.group(charges, cast("ledger.Grouping", by))
    whole = ledger.total(charges)
    if as_json:
        click.echo(json.dumps(display.costs_json(by, lines, whole), indent=2))
        return
    for line in display.costs_lines(by, lines, whole):
        click.echo(line)


@main.command()
@config_option
@click.option("--state", type=click.Choice([str(state) for state in VISIBLE_STATES]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs(ctx: click.Context, config_path: Path | None, state: str | None, as_json: bool) -> None:
    """List files and their state."""
    from . import display

    config = load(ctx, config_path, logs=False)
    rows = table_for(ctx, config).reports.jobs(None if state is None else State(state))
    if as_json:
        click.echo(json.dumps(display.jobs_json(rows), indent=2))
        return
    for line in display.jobs_lines(rows):
        click.echo(line)
