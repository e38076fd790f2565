"""`preview`, `apply` and `untag`: results waiting for review, writing them, and taking
back what this program wrote."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .group import chosen, config_option, load, main, table_for, where


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def preview(
    ctx: click.Context, config_path: Path | None, as_json: bool, paths: tuple[Path, ...]
) -> None:
    """Show what `apply` would write for results waiting for review (in PATHS, or all)."""
    from ..actions.review import changes
    from . import display

    config = load(ctx, config_path, logs=False)
    scopes = where(ctx, config, paths, "preview")[1]
    found = changes(table_for(ctx, config), config, scopes)
    if as_json:
        click.echo(json.dumps([change.as_dict() for change in found], indent=2))
        return
    for line in display.preview_lines(found):
        click.echo(line)


@main.command("apply")
@config_option
@click.option("--all", "every", is_flag=True, help="Every result waiting for review.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def apply_command(
    ctx: click.Context, config_path: Path | None, every: bool, paths: tuple[Path, ...]
) -> None:
    """Write the sidecars of results waiting for review (in PATHS, or --all): no API call."""
    from ..actions.review import apply

    config = load(ctx, config_path)
    scopes = chosen(ctx, config, paths, every, "apply")
    report = apply(table_for(ctx, config, readonly=False), config, scopes)
    click.echo(f"{len(report.done)} file(s) written")
    for path in report.not_done:
        click.echo(f"{path}: not written now (see the log; the daemon tries again)", err=True)
    ctx.exit(1 if report.not_done else 0)


@main.command()
@config_option
@click.option("--all", "every", is_flag=True, help="Every file in every folder.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def untag(
    ctx: click.Context, config_path: Path | None, every: bool, paths: tuple[Path, ...]
) -> None:
    """Take back what this program wrote into the sidecars of PATHS (or --all); a rescan
    leaves those files alone until `scan --retag` or `--refresh`."""
    from ..actions.untag import untag as take_back
    from ..notices.dispatch import Notices

    config = load(ctx, config_path)
    scopes = chosen(ctx, config, paths, every, "untag")
    notices = Notices.of(config)
    table = table_for(ctx, config, readonly=False)
    report = take_back(table, config.settings.sidecars, scopes, tell=notices.put)
    notices.send_now()  # the photo managers re-read: our tags are gone
    click.echo(
        f"{report.files} file(s) untagged: {len(report.rewritten)} XMP sidecar(s) restored, "
        f"{len(report.removed)} sidecar(s) of ours removed"
    )
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    ctx.exit(1 if report.errors else 0)
