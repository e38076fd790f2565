"""Running and keeping the daemon: `run`, `retry`, `install-service`, `db upgrade|copy|check`
and the API's `emulator`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..cli import loaded
from ..records import State
from .group import EXIT_CONFIG, config_option, load, main, service_for, table_for


@main.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config_path: Path | None) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    config = load(ctx, config_path, need_key=True)
    service = service_for(ctx, config, wait=True)
    if not config.settings.folders and not service.table.requests.outstanding_ids():
        click.echo(f"error: {config.source}: folders: none configured, so there is nothing "
                   "to watch; add `folders:` (config.example.yaml has them)", err=True)  # fmt: skip
        service.shutdown()
        ctx.exit(EXIT_CONFIG)
    if config.settings.ui.listen:  # the review page and dashboard, beside the stages
        from ..config import state_directory
        from ..web.server import WebServer

        try:
            WebServer(service.table, config, config.settings.ui.listen, state_directory()).start()
        except (OSError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            service.shutdown()
            ctx.exit(EXIT_CONFIG)
    ctx.exit(service.run())


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
    config = load(ctx, config_path)
    table = table_for(ctx, config, readonly=False)
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


@main.command("install-service")
@config_option
@click.option(
    "--user",
    "user_unit",
    is_flag=True,
    help="a unit for your own service manager (systemctl --user)",
)
@click.option("--dry-run", is_flag=True, help="show what would be written and done")
@click.option("--force", is_flag=True, help="write the unit even if it cannot see everything")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="write under this folder (for packaging)",
)
@click.pass_context
def install_service(
    ctx: click.Context,
    config_path: Path | None,
    user_unit: bool,
    dry_run: bool,
    force: bool,
    root: Path,
) -> None:
    """Write the systemd unit for this installation: this program and config, the
    configured folders writable (ReadWritePaths=), and, for the system unit, the service
    user. A unit whose sandbox would hide its program, config or folders is refused."""
    import pwd

    from ..actions import install
    from ..actions.doctor import sandbox_problems
    from ..renditions import tools
    from ..rules.sandbox import Sandbox

    config = load(ctx, config_path)
    program = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "visionati-sync" else None
    installed = program or Path(sys.executable).with_name("visionati-sync")
    plan = install.plan(
        user=user_unit, program=str(installed), config=Path(config.source).resolve(),
        folders=[f.path for f in config.settings.folders], root=root, home=Path.home(),
    )  # fmt: skip
    problems = list(sandbox_problems(Sandbox.parse(plan.unit), config))
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems and not force:
        click.echo(
            "the unit would not start or not tag these folders. Install the program and the "
            "config where the service sees them (e.g. `pipx install` or a venv under /opt, "
            "the config in /etc/visionati-sync/), move the folders, or pass --force",
            err=True,
        )
    if dry_run:
        click.echo(f"would write {plan.unit_path}:\n")
        click.echo(plan.unit)
    elif problems and not force:
        ctx.exit(1)
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
    if problems and not force:  # a dry run's answer: it would be refused
        ctx.exit(1)


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command()
@config_option
@click.pass_context
def upgrade(ctx: click.Context, config_path: Path | None) -> None:
    """Create or upgrade the job table's schema to the newest version."""
    from ..jobtable import engine as engines

    config = load(ctx, config_path)
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
    from ..jobtable import engine as engines
    from ..jobtable.copying import CopyRefused, copy_table

    config = load(ctx, config_path)
    names = dict(_pair(item) for item in folder_names)
    for folder in config.settings.folders:  # names the config gives already
        names.setdefault(str(folder.path), folder.table_name)
    source = engines.open_readonly(config.database_url())
    destination = engines.make_engine(target)
    loaded()  # a million rows may follow
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
    from ..jobtable.engine import integrity

    config = load(ctx, config_path)
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
    from ..devtools.emulator import Emulator, EmulatorSettings

    settings = EmulatorSettings(
        keys=list(keys) or ["emulator-key"],
        credits=credits,
        queued_polls=queued_polls,
        processing_polls=processing_polls,
        delay=delay,
        expire_seconds=expire_seconds,
    )
    server = Emulator(settings, host=host, port=port, verbose=verbose)
    loaded()
    click.echo(f"visionati-sync emulator listening on {server.url}", err=False)
    click.echo(f"  accepted key(s): {', '.join(settings.keys)}; credits: {credits}")
    click.echo(
        "  point the daemon at it, in the config:\n"
        f"    api: {{base_url: {server.url}}}\n"
        f"  and the key in the environment: VISIONATI_API_KEY={settings.keys[0]}"
    )
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
