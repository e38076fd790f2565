"""`doctor`: what a new user runs first, and anyone whose daemon does not do what they
expect. Loading the config is itself the first check: a config that does not load is one
error line, like every other finding."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from .group import config_option, main


@main.command()
@config_option
@click.option(
    "--unit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the systemd unit to check [default: the installed one, if any]",
)
@click.option("--json", "as_json", is_flag=True, help="the findings as JSON")
@click.pass_context
def doctor(ctx: click.Context, config_path: Path | None, unit: Path | None, as_json: bool) -> None:
    """Check the config, the key, the tools, each folder, the database, the notifiers and
    the service's unit; one line each, with the fix. Exits 0 when all is well, 1 with a
    warning, 2 with an error."""
    from ..actions import doctor as checks
    from ..config import ConfigError, default_config_path, load_config

    try:
        config = load_config(config_path or ctx.obj.get("config") or default_config_path())
    except ConfigError as exc:
        findings = [checks.Finding("error", "config", str(exc), "fix the config file")]
    else:
        findings = checks.check(config, unit=unit)
    if as_json:
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(f"{finding.level:<7} {finding.topic}: {finding.message}")
            if finding.fix and finding.level != "ok":
                click.echo(f"{'':<7} fix: {finding.fix}")
    ctx.exit(checks.worst(findings))
