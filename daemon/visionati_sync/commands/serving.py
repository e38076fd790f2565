"""`ui`: the review page and the dashboard, served alone over the job table (beside a scan,
on a laptop, or on a second machine of a fleet). The daemon serves the same pages itself
when ``ui.listen`` is set (`run` wires it)."""

from __future__ import annotations

from pathlib import Path

import click

from .group import EXIT_CONFIG, config_option, load, main, table_for

DEFAULT_LISTEN = "127.0.0.1:8750"


@main.command()
@config_option
@click.option(
    "--listen", metavar="HOST:PORT",
    help=f"where to serve [default: ui.listen, else {DEFAULT_LISTEN}; port 0: a free one]",
)  # fmt: skip
@click.pass_context
def ui(ctx: click.Context, config_path: Path | None, listen: str | None) -> None:
    """Serve the review page and the dashboard until Ctrl-C; prints the address to open."""
    from ..config import state_directory
    from ..web.server import WebServer

    config = load(ctx, config_path)
    table = table_for(ctx, config, readonly=False)
    try:
        server = WebServer(
            table, config, listen or config.settings.ui.listen or DEFAULT_LISTEN,
            state_directory(),
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)
    click.echo(server.address)  # on a line of its own: the one to open
    server.serve()
