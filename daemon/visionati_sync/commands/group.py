"""The command group and what its commands share: loading the config (and logging), the job
table or the daemon's parts over it, where a command acts, and the one line a command says
when the job table is in trouble. The verbs are in the modules beside this one."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import __version__
from ..cli import QUICK, helping, loaded

if TYPE_CHECKING:  # imported where used: `status` need not load the whole daemon
    from ..config import Config, FolderSettings
    from ..jobtable import JobTable
    from ..records import Scope
    from ..service.daemon import Service

EXIT_CONFIG = 2


def load(
    ctx: click.Context, config_path: Path | None, *, need_key: bool = False, logs: bool = True
) -> Config:
    """The config, checked; with ``logs``, logging set up (a command that only reads the
    job table says the config's warnings plainly instead)."""
    from ..config import ConfigError, default_config_path, load_config

    try:
        path = config_path or ctx.obj.get("config") or default_config_path()
        config = load_config(path)
        if need_key:
            config.require_api_key()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)
    ctx.obj["loaded"] = config  # for what the job table's trouble says (``Commands``)
    if not logs:
        for warning in config.warnings:
            click.echo(f"warning: {warning}", err=True)
        return config
    from .. import log

    for secret in config.secrets():
        log.register_secret(secret)
    log.configure(config.settings.log_level)
    for warning in config.warnings:
        log.get_logger("config").warning(warning)
    return config


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $VISIONATI_SYNC_CONFIG, ~/.config/visionati-sync/config.yaml, "
    "/etc/visionati-sync/config.yaml).",
)


class Commands(click.Group):
    """The command group. Trouble with the job table met anywhere in a command (a damaged
    page found by a query, not only at open; the server gone) is one line naming the table
    and what to do, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            said = _database_trouble(ctx, exc)
            if said is None:
                raise
            click.echo(f"error: {said}", err=True)
            ctx.exit(EXIT_CONFIG)


def _database_trouble(ctx: click.Context, exc: Exception) -> str | None:
    """What an error from the job table means, in one line (None: not one of those)."""
    config = (ctx.obj or {}).get("loaded")
    if "sqlalchemy" not in sys.modules or config is None:
        return None
    from ..jobtable.engine import trouble

    known = trouble(exc, config.database_url())
    return None if known is None else known.message


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="visionati-sync")
@config_option
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Watch folders of photos, tag them with the Visionati API, write sidecars."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path
    if ctx.invoked_subcommand in QUICK and helping():  # the next quick command: warm
        from . import helper

        ctx.call_on_close(helper.start)


def cannot_open(ctx: click.Context, config: Config, exc: Exception) -> NoReturn:
    from ..jobtable.engine import trouble

    known = trouble(exc, config.database_url())
    if known is not None:
        click.echo(f"error: {known.message}", err=True)
        ctx.exit(EXIT_CONFIG)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
    reason = reason or str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if isinstance(exc, ImportError) and "psycopg" in str(exc):
        reason = "PostgreSQL's driver is not installed: pip install 'visionati-sync[postgres]'"
    click.echo(f"error: {config.source}: database.url: cannot open: {reason}", err=True)
    ctx.exit(EXIT_CONFIG)


def service_for(ctx: click.Context, config: Config, *, wait: bool = False) -> Service:
    """The daemon's parts over a job table opened to write (and migrated if behind). With
    ``wait`` (the daemon), a table that cannot be used now (its server away or read-only, a
    lock, a full disk) is waited for."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..log import capture_native_output
    from ..service.daemon import Stopped, open_service

    capture_native_output()  # LibRaw's complaints as log events, not bare lines
    loaded()  # before opening: waiting out a job table that is away may take hours
    try:
        return open_service(config, wait=wait)
    except Stopped:  # a signal while it waited for the job table
        ctx.exit(0)
    except (SQLAlchemyError, ImportError, OSError) as exc:  # no database there, or no driver
        cannot_open(ctx, config, exc)


def table_for(ctx: click.Context, config: Config, *, readonly: bool = True) -> JobTable:
    """The job table alone; to read, it is neither migrated nor write-locked."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..jobtable import JobTable
    from ..jobtable.engine import SchemaMismatch

    loaded()
    try:
        busy_timeout = config.settings.database.busy_timeout
        return JobTable.open(
            config.database_url(), readonly=readonly, busy_timeout=busy_timeout,
            folders=config.folder_names(),
        )  # fmt: skip
    except (SQLAlchemyError, ImportError, OSError, SchemaMismatch) as exc:
        cannot_open(ctx, config, exc)


def where(
    ctx: click.Context, config: Config, paths: Sequence[Path], verb: str
) -> tuple[list[FolderSettings], list[Scope]]:
    """The folders to walk and the scopes a command acts on: PATHS, or else the config's
    folders. With neither, nothing: said, and the command ends (never the whole table)."""
    from ..pipeline.intake import scopes_for

    if not paths and not config.settings.folders:
        click.echo(
            f"error: {config.source}: folders: no folder is configured and no PATH was "
            f"given: nothing to {verb}",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)
    return scopes_for(config.settings.folders, list(paths))


def missing(paths: Sequence[Path]) -> list[str]:
    """Given the PATHS of a command, an error for each that does not exist."""
    return [f"{path}: no such file or directory" for path in paths if not path.exists()]


def chosen(
    ctx: click.Context, config: Config, paths: tuple[Path, ...], every: bool, verb: str
) -> list[Scope]:
    """The scopes a command that changes sidecars acts on: PATHS, or every folder of the
    config with --all (none configured: nothing, said)."""
    if not paths and not every:
        raise click.UsageError("name the PATHS to act on, or give --all")
    if missing(paths):
        for problem in missing(paths):
            click.echo(f"error: {problem}", err=True)
        ctx.exit(1)
    return where(ctx, config, paths, verb)[1]
