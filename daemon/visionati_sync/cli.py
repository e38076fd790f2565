"""The command line: parses arguments, loads config, sets up logging, hands over to the
service or the emulator. No decisions live here. Each command imports what it needs when it
runs: `--version`, `--help`, `status` and `jobs` load neither the daemon nor the logging."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from . import __version__
from .records import VISIBLE_STATES, State

if TYPE_CHECKING:  # imported where used: `status` need not load the whole daemon
    from datetime import datetime

    from .config import Config, FolderSettings
    from .estimate import Estimate
    from .jobtable import JobTable
    from .records import Scope
    from .selection import Selector
    from .service import Service

EXIT_CONFIG = 2


def _load(
    ctx: click.Context, config_path: Path | None, *, need_key: bool = False, logs: bool = True
) -> Config:
    """The config, checked; with ``logs``, logging set up (a command that only reads the
    job table says the config's warnings plainly instead)."""
    from .config import ConfigError, default_config_path, load_config

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
    from . import log

    log.register_secret(config.api_key)
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
    from .jobtable.engine import trouble

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


def _cannot_open(ctx: click.Context, config: Config, exc: Exception) -> NoReturn:
    from .jobtable.engine import trouble

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


def _service(ctx: click.Context, config: Config, *, wait: bool = False) -> Service:
    """The daemon's parts over a job table opened to write (and migrated if behind). With
    ``wait`` (the daemon), a table that cannot be used now (its server away or read-only, a
    lock, a full disk) is waited for."""
    from sqlalchemy.exc import SQLAlchemyError

    from .service import Stopped, open_service

    try:
        return open_service(config, wait=wait)
    except Stopped:  # a signal while it waited for the job table
        ctx.exit(0)
    except (SQLAlchemyError, ImportError, OSError) as exc:  # no database there, or no driver
        _cannot_open(ctx, config, exc)


def _table(ctx: click.Context, config: Config, *, readonly: bool = True) -> JobTable:
    """The job table alone; to read, it is neither migrated nor write-locked."""
    from sqlalchemy.exc import SQLAlchemyError

    from .jobtable import JobTable
    from .jobtable.engine import SchemaMismatch

    try:
        busy_timeout = config.settings.database.busy_timeout
        return JobTable.open(
            config.database_url(), readonly=readonly, busy_timeout=busy_timeout,
            folders=config.folder_names(),
        )  # fmt: skip
    except (SQLAlchemyError, ImportError, OSError, SchemaMismatch) as exc:
        _cannot_open(ctx, config, exc)


@main.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config_path: Path | None) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    config = _load(ctx, config_path, need_key=True)
    ctx.exit(_service(ctx, config, wait=True).run())


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
    from .estimate import estimate

    return estimate(
        table, folders, scopes, selector, config.options_for, config.settings.renditions(),
        hash_files=not quick, refresh=refresh, retag=retag,
        retag_on_change=config.settings.watch.retag_on_change,
    )  # fmt: skip


def _where(
    ctx: click.Context, config: Config, paths: Sequence[Path], verb: str
) -> tuple[list[FolderSettings], list[Scope]]:
    """The folders to walk and the scopes a command acts on: PATHS, or else the config's
    folders. With neither, nothing: said, and the command ends (never the whole table)."""
    from .intake import scopes_for

    if not paths and not config.settings.folders:
        click.echo(
            f"error: {config.source}: folders: no folder is configured and no PATH was "
            f"given: nothing to {verb}",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)
    return scopes_for(config.settings.folders, list(paths))


def _missing(paths: Sequence[Path]) -> list[str]:
    """Given the PATHS of a command, an error for each that does not exist."""
    return [f"{path}: no such file or directory" for path in paths if not path.exists()]


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
    config = _load(ctx, config_path)
    folders, scopes = _where(ctx, config, paths, "estimate")
    selector = config.settings.watch.selector()
    result = _estimate(_table(ctx, config), selector, config, folders, scopes, quick, refresh)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _print_estimate(result)
    for problem in _missing(paths):  # as `scan` says it
        click.echo(f"error: {problem}", err=True)
    ctx.exit(1 if _missing(paths) else 0)


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

    config = _load(ctx, config_path, need_key=not dry_run)
    folders, scopes = _where(ctx, config, paths, "scan")
    service = _service(ctx, config)
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
    if retag:
        count = service.ask_again(folders, scopes, refresh=False)
        click.echo(f"{count} file(s) tagged under other options or untagged queued again",
                   err=True)  # fmt: skip
    if refresh:
        count = service.ask_again(folders, scopes, refresh=True)
        click.echo(f"{count} tagged file(s) queued to be asked of the API again", err=True)
    from .config import missing_folders

    problems = [p for p in missing_folders(config) if not paths]
    problems += _missing(paths)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    code = service.drain(folders, scopes, reporter_for(sys.stderr))
    ctx.exit(max(code, 1 if problems else 0))


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, config_path: Path | None, as_json: bool) -> None:
    """Show counts by state, spend, whether submissions are paused, recent errors."""
    from . import display
    from .budget import Budget

    config = _load(ctx, config_path, logs=False)
    reports = _table(ctx, config).reports
    report = reports.status()
    if report["paused"] is None:  # no process is paused now; a cap stops the next one
        api = config.settings.api
        budget = Budget(reports, api.max_credits_per_day, api.max_credits_total)
        if reason := budget.stops_uploads(api.request_options().credits_per_image()):
            report["paused"] = {"kind": "budget", "reason": reason}
    caps = config.settings.api
    report["caps"] = {"per_day": caps.max_credits_per_day, "total": caps.max_credits_total}
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
    from . import display, ledger

    config = _load(ctx, config_path, logs=False)
    charges = _table(ctx, config).reports.charges(since.astimezone() if since else None)
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

    config = _load(ctx, config_path, logs=False)
    rows = _table(ctx, config).reports.jobs(None if state is None else State(state))
    if as_json:
        click.echo(json.dumps(display.jobs_json(rows), indent=2))
        return
    for line in display.jobs_lines(rows):
        click.echo(line)


@main.command()
@config_option
@click.option("--all", "every", is_flag=True, help="Every failed file.")
@click.argument("job_ids", nargs=-1, type=int)
@click.pass_context
def retry(
    ctx: click.Context, config_path: Path | None, every: bool, job_ids: tuple[int, ...]
) -> None:
    """Put failed files (JOB ids from `jobs`, or --all) back in the queue."""
    if not every and not job_ids:
        raise click.UsageError("name the JOB ids to retry, or give --all")
    config = _load(ctx, config_path)
    table = _table(ctx, config, readonly=False)
    states = table.reports.states(job_ids)
    count = table.queue.retry(job_ids, every=every)
    click.echo(f"{count} failed file(s) queued again")
    left = [job for job in job_ids if states.get(job) != State.FAILED]
    for job in left:
        state = states.get(job)
        click.echo(
            f"job {job}: " + ("no such job" if state is None else f"{state.visible}, not failed"),
            err=True,
        )
    if left:
        ctx.exit(1)


def _chosen(
    ctx: click.Context, config: Config, paths: tuple[Path, ...], every: bool, verb: str
) -> list[Scope]:
    """The scopes a command that changes sidecars acts on: PATHS, or every folder of the
    config with --all (none configured: nothing, said)."""
    if not paths and not every:
        raise click.UsageError("name the PATHS to act on, or give --all")
    if _missing(paths):
        for problem in _missing(paths):
            click.echo(f"error: {problem}", err=True)
        ctx.exit(1)
    return _where(ctx, config, paths, verb)[1]


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def preview(
    ctx: click.Context, config_path: Path | None, as_json: bool, paths: tuple[Path, ...]
) -> None:
    """Show what `apply` would write for results waiting for review (in PATHS, or all)."""
    from . import display
    from .review import changes

    config = _load(ctx, config_path, logs=False)
    scopes = _where(ctx, config, paths, "preview")[1]
    found = changes(_table(ctx, config), config, scopes)
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
    from .review import apply

    config = _load(ctx, config_path)
    scopes = _chosen(ctx, config, paths, every, "apply")
    report = apply(_table(ctx, config, readonly=False), config, scopes)
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
    from .untag import untag as take_back

    config = _load(ctx, config_path)
    scopes = _chosen(ctx, config, paths, every, "untag")
    report = take_back(_table(ctx, config, readonly=False), config.settings.sidecars, scopes)
    click.echo(
        f"{report.files} file(s) untagged: {len(report.rewritten)} XMP sidecar(s) restored, "
        f"{len(report.removed)} sidecar(s) of ours removed"
    )
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    ctx.exit(1 if report.errors else 0)


@main.command("install-service")
@config_option
@click.option(
    "--user",
    "user_unit",
    is_flag=True,
    help="a unit for your own service manager (systemctl --user)",
)
@click.option("--dry-run", is_flag=True, help="show what would be written and done")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="write under this folder (for packaging)",
)
@click.pass_context
def install_service(
    ctx: click.Context, config_path: Path | None, user_unit: bool, dry_run: bool, root: Path
) -> None:
    """Write the systemd unit for this installation: this program and config, the
    configured folders writable (ReadWritePaths=), and, for the system unit, the service
    user."""
    import pwd

    from . import install, tools

    config = _load(ctx, config_path)
    program = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "visionati-sync" else None
    installed = program or Path(sys.executable).with_name("visionati-sync")
    plan = install.plan(
        user=user_unit, program=str(installed), config=Path(config.source).resolve(),
        folders=[f.path for f in config.settings.folders], root=root, home=Path.home(),
    )  # fmt: skip
    if dry_run:
        click.echo(f"would write {plan.unit_path}:\n")
        click.echo(plan.unit)
    else:
        plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
        plan.unit_path.write_text(plan.unit)
        click.echo(f"wrote {plan.unit_path}")
    if plan.service_user is not None:
        try:
            pwd.getpwnam(plan.service_user)
            click.echo(f"the service user {plan.service_user} exists")
        except KeyError:
            if dry_run or root != Path("/"):
                click.echo(f"would create the system user {plan.service_user}")
            else:
                try:
                    tools.create_system_user(plan.service_user, "/var/lib/visionati-sync")
                except tools.ToolError as exc:
                    raise click.ClickException(f"cannot create the service user: {exc}") from None
                click.echo(f"created the system user {plan.service_user}")
        click.echo(f"the folders must be readable and writable by {plan.service_user}")
    click.echo("then:" if not dry_run else "then you would run:")
    for step in plan.next_steps:
        click.echo(f"  {step}")


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command()
@config_option
@click.pass_context
def upgrade(ctx: click.Context, config_path: Path | None) -> None:
    """Create or upgrade the job table's schema to the newest version."""
    from .jobtable import engine as engines

    config = _load(ctx, config_path)
    engine = engines.make_engine(
        config.database_url(), busy_timeout=config.settings.database.busy_timeout
    )
    engines.upgrade(engine)
    click.echo(f"database at revision {engines.current_revision(engine)}")


@db_group.command()
@config_option
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="an empty database, e.g. postgresql+psycopg://user@host/visionati",
)
@click.option(
    "--folder-name",
    "folder_names",
    multiple=True,
    metavar="PATH=NAME",
    help="give a folder its fleet-wide name (as folders[].name will say)",
)
@click.pass_context
def copy(
    ctx: click.Context, config_path: Path | None, target: str, folder_names: tuple[str, ...]
) -> None:
    """Copy the job table into another database (SQLite to PostgreSQL, for a fleet): every
    file, request and result, so nothing is tagged or paid for again. Stop the daemon
    first."""
    from .jobtable import engine as engines
    from .jobtable.copying import CopyRefused, copy_table

    config = _load(ctx, config_path)
    names = dict(_pair(item) for item in folder_names)
    for folder in config.settings.folders:  # names the config gives already
        names.setdefault(str(folder.path), folder.table_name)
    source = engines.open_readonly(config.database_url())
    destination = engines.make_engine(target)
    try:
        engines.upgrade(destination)
        copied = copy_table(source, destination, names)
    except CopyRefused as exc:
        raise click.ClickException(f"--to: {exc}") from None
    finally:
        source.dispose()
        destination.dispose()
    shown = destination.url.render_as_string(hide_password=True)
    click.echo(
        f"copied {copied['jobs']} files, {copied['results']} results and "
        f"{copied['api_requests']} requests to {shown}"
    )


def _pair(item: str) -> tuple[str, str]:
    path, sep, name = item.partition("=")
    if not sep or not path or not name:
        raise click.BadParameter(f"{item!r}: give PATH=NAME", param_hint="--folder-name")
    return str(Path(path).expanduser().resolve()), name


@db_group.command()
@config_option
@click.pass_context
def check(ctx: click.Context, config_path: Path | None) -> None:
    """Check the job table's integrity (SQLite's integrity_check); exit 1 if it is damaged."""
    from .jobtable.engine import integrity

    config = _load(ctx, config_path)
    problems = integrity(config.database_url())
    for problem in problems:
        click.echo(problem)
    if problems:
        ctx.exit(1)
    click.echo("the job table is sound")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, help="0 picks a free port.")
@click.option("--key", "keys", multiple=True, help="Accepted API key(s) [default: emulator-key].")
@click.option("--credits", default=100_000, show_default=True)
@click.option("--queued-polls", default=1, show_default=True)
@click.option("--processing-polls", default=1, show_default=True)
@click.option("--delay", default=0.0, show_default=True, help="Seconds before a result is ready.")
@click.option("--expire-seconds", default=86_400.0, show_default=True)
@click.option("--verbose", is_flag=True, help="Log every request.")
def emulator(
    host: str,
    port: int,
    keys: tuple[str, ...],
    credits: int,
    queued_polls: int,
    processing_polls: int,
    delay: float,
    expire_seconds: float,
    verbose: bool,
) -> None:
    """Serve a local stand-in for the Visionati API (synthetic results, no account needed)."""
    from .devtools.emulator import Emulator, EmulatorSettings

    settings = EmulatorSettings(
        keys=list(keys) or ["emulator-key"],
        credits=credits,
        queued_polls=queued_polls,
        processing_polls=processing_polls,
        delay=delay,
        expire_seconds=expire_seconds,
    )
    server = Emulator(settings, host=host, port=port, verbose=verbose)
    click.echo(f"visionati-sync emulator listening on {server.url}", err=False)
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
