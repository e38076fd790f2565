"""A running daemon's lifetime (`run`): start (waiting for the job table if it must), watch
the folders, run the stages, reload on SIGHUP, stop on SIGTERM. The parts are built once,
here; the stages are put together in ``pipeline/assemble``; ``heartbeat`` keeps this worker's
place in the fleet; a scan (``scan``) runs the same parts to the end of its folders. What
the daemon tells systemd, the journal's progress line and /metrics are ``announce``'s.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..api.client import ApiClient
from ..config import Config, ConfigError, load_config, state_directory
from ..jobtable import JobTable
from ..jobtable.engine import trouble
from ..log import configure as configure_logging
from ..log import get_logger, register_secret
from ..notices.dispatch import Notices
from ..pipeline.assemble import Stages, assemble
from ..pipeline.gate import Closed
from ..pipeline.intake import Intake
from ..pipeline.journal import Journal
from ..pipeline.watcher import Settler, Watcher
from ..records import Scope, utcnow
from ..rules.outage import Outage
from ..workers import Presence, Worker
from .announce import Announcer
from .heartbeat import Heartbeat
from .notify import Notifier
from .rescans import Rescans
from .runner import AFTER_ERROR, Runner
from .starting import Stopped, install_signals, wait_out

log = get_logger("service")

# Seconds the stages get to finish what they are doing (a sidecar write) after SIGTERM;
# the systemd unit's TimeoutStopSec=20 leaves room for the rest of the shutdown.
SHUTDOWN_GRACE = 8.0
RELOAD_GRACE = 600.0  # a reload waits for the stages' steps (an upload) to finish
TEST_HANG = "VISIONATI_SYNC_TEST_HANG"  # names a stage made to hang, for the watchdog's test
EXIT_TROUBLE = 2  # the job table cannot be used (damaged, read-only): as for a config error

__all__ = ["EXIT_TROUBLE", "Service", "Stopped", "open_service"]


class Service:
    def __init__(
        self, config: Config, *, notifier: Notifier | None = None, outage: Outage | None = None
    ) -> None:
        settings = config.settings
        worker = Worker()  # this process start, as its claims name it
        self.table = JobTable.open(
            config.database_url(), worker=worker, busy_timeout=settings.database.busy_timeout,
            lease_seconds=settings.database.lease_seconds, folders=config.folder_names(),
        )  # fmt: skip
        self.outage = outage or Outage()  # the job table away, as the stages find it
        state = state_directory()
        self.journal = Journal(state / "journal", worker.id)  # answers not yet recorded
        self.stop = threading.Event()  # the daemon (or scan) is to end
        self.reload = threading.Event()  # SIGHUP: read the config again
        self.runner = Runner(on_error=self.trouble)
        self.settler = Settler(
            settings.watch.settle_seconds, max_wait=settings.watch.max_settle_seconds
        )
        self.failure: str | None = None  # why the daemon had to stop, if it had to
        self._api_key = config.api_key or ""
        self._stages: Stages | None = None
        self.heartbeat = Heartbeat(
            worker, self.table, Presence(state / "workers"), self.journal, self.outage,
            config=lambda: self.config, on_back=self._back,
            on_taken_back=lambda: self.runner.wake("submitter"), since=utcnow(),
        )  # fmt: skip
        self.announce = Announcer(  # systemd, the progress line, /metrics
            self.table, hung=lambda after: self.runner.hung(after), paused=self.paused,
            own=lambda: self.own, waiting=lambda: self.outage.reason, notifier=notifier,
        )  # fmt: skip
        self._take(config)

    def halt(self) -> None:
        """Stop: the stages end after their current step, the main loop at its next turn."""
        self.stop.set()
        self.runner.stop.set()

    def use_key(self) -> None:
        """The API key the config names (or the environment): checked now, used from now."""
        self._api_key = self.config.require_api_key()

    def paused(self) -> Closed | None:
        """Why uploads are paused now (None: they are not, or no stage runs yet)."""
        return self._stages.gate.paused if self._stages is not None else None

    def _take(self, config: Config) -> None:
        """Given a config (at start, or a reload's), set up what follows from it; the job
        table and the files settling stay as they are."""
        self.config = config
        settings = config.settings
        self.table.daemon.lease_seconds = settings.database.lease_seconds
        self.table.daemon.folders = config.folder_names()
        # a daemon takes work only in the folders it has: a fleet's daemons each mount theirs
        self.own = [Scope(str(folder.path)) for folder in settings.folders]
        self.selector = settings.watch.selector()
        self.settler.settle_seconds = settings.watch.settle_seconds
        self.settler.max_wait = settings.watch.max_settle_seconds
        self.notices = Notices.of(config, wake=lambda name: self.runner.wake(f"notify-{name}"))
        self.intake = Intake(
            self.table.queue, self.selector, self.settler,
            retag_on_change=settings.watch.retag_on_change,
            wake=lambda stage: self.runner.wake(stage),
        )  # fmt: skip

    def _client(self) -> ApiClient:
        api = self.config.settings.api
        return ApiClient(
            api.base_url, lambda: self._api_key,
            connect_timeout=api.connect_timeout, read_timeout=api.timeout,
        )  # fmt: skip

    def start_pipeline(
        self,
        scopes: Sequence[Scope] = (),
        *,
        progress: bool = True,
        uploading: Callable[[], bool] = lambda: True,
    ) -> None:
        """Assemble the stages and start each in its thread (``scopes``: where the
        submitter takes files, the daemon's folders by default; ``progress``: the daemon's
        progress line, a scan shows its own; ``uploading``: whether the submitter may still
        upload, for a scan that stops early)."""
        previous = self._stages.gate if self._stages is not None else None
        stages = assemble(
            self.table, self.config, self._client, self.journal, self.own,
            wake=lambda stage: self.runner.wake(stage), previous_gate=previous,
            on_written=self.notices.put,
        )  # fmt: skip
        self._stages = stages
        settings = self.config.settings
        hang = os.environ.get(TEST_HANG)  # a test hook: the watchdog must notice

        def start(name: str, step: Callable[[], bool | float], idle: float) -> None:
            self.runner.start(name, threading.Event().wait if name == hang else step, idle)

        start("leases", self.heartbeat.step, settings.database.lease_seconds / 3)
        notifier = self.announce.notifier
        if notifier.enabled:
            start("notify", self.announce.notify_step, notifier.watchdog_interval or 5.0)
        settle = min(0.5, max(0.05, self.settler.settle_seconds / 4))
        start("settler", self.intake.settle_step, settle)
        start("poller", stages.poller.step, settings.api.poll_interval)  # it says how long it rests
        if self.own:  # with no folders, only what is in flight is collected
            where = list(scopes) or self.own
            start("submitter", lambda: uploading() and stages.submitter.step(where), 1.0)
            start("writer", stages.writer.step, 1.0)
        for dispatcher in self.notices.dispatchers:  # telling photo managers, each on its own
            start(f"notify-{dispatcher.name}", dispatcher.step, 60.0)
        if progress and settings.log_progress_interval:
            start("progress", self.announce.progress_step, settings.log_progress_interval)

    def _back(self) -> None:
        """The job table is back after an outage: say so, and let every stage try now."""
        self.announce.waiting(None)
        if self._stages is not None:
            self._stages.pacer.disturbed()
        self.runner.wake_all()

    def trouble(self, stage: str, exc: Exception) -> float:
        """Something a stage (or the main loop) did raised; returns how long it rests. The
        job table's bad days are said plainly, once: one that waiting helps (the server
        away, starting, failing over or read-only; a lock; a full disk) is waited out, with
        a rest that grows as it goes on; a damaged or read-only SQLite table stops the
        daemon, since going on cannot help. Anything else is a bug: logged, and the stage
        goes on."""
        known = trouble(exc, self.config.database_url())
        if known is None:
            log.error("unexpected error; carrying on", stage=stage, exc_info=exc)
            return AFTER_ERROR
        if not known.passing:
            log.error(known.message + "; stopping", stage=stage)
            self.failure = known.message
            self.halt()
            return AFTER_ERROR
        rest = self.outage.rest(self.config.settings.database.lease_seconds)
        if self.outage.trouble(known.message, known.state):
            log.warning("waiting for the job table: " + known.message, stage=stage)
            self.announce.waiting(known.message)
        log.debug("the job table refused; trying again", stage=stage, retry_in=round(rest, 1))
        return rest

    def shutdown(self) -> None:
        """The stages finish their steps; what this worker holds is let go; the table closes."""
        self.runner.shutdown(SHUTDOWN_GRACE)
        with contextlib.suppress(Exception):  # a table in trouble: status shows it stale
            self.heartbeat.stop()
        self.heartbeat.presence.release(self.heartbeat.worker)
        self.table.close()

    # -- the daemon ----------------------------------------------------------------------

    def run(self) -> int:
        """Watch the folders and tag what arrives until SIGTERM or SIGINT; SIGHUP reloads."""
        install_signals(self.halt, self.reload)
        self.use_key()
        started = wait_out(
            lambda: self.heartbeat.start("run"), self.config, self.outage, self.announce.notifier,
            self.stop,
        )  # fmt: skip
        if started is None:  # stopped while waiting for the job table
            self.shutdown()
            return 0
        watcher = self._watcher()
        self.start_pipeline()
        exporter = self.announce.serve_metrics(self.config.settings.metrics.listen)
        log.info("daemon started", folders=len(self.config.settings.folders),
                 database=self.table.engine.url.render_as_string(hide_password=True))  # fmt: skip
        next_ensure, rescans = 0.0, Rescans(self.config.settings.watch, time.monotonic())
        ready = False
        while not self.stop.is_set():
            now = time.monotonic()
            watch = self.config.settings.watch
            try:
                if self.reload.is_set():
                    self.reload.clear()
                    self.announce.notifier.reloading()
                    watcher, next_ensure = self._reload_config(watcher), 0.0
                    self.announce.notifier.ready()
                if now >= next_ensure:
                    next_ensure = now + watch.folder_retry_interval
                    watcher.ensure()
                    if not ready and self.announce.notifier.enabled:
                        ready = True  # the table open, the watches set
                        self.announce.notifier.ready(self.announce.status_line())
                if folders := rescans.due(watch, watcher, now):
                    log.info("periodic rescan", folders=len(folders))  # events get lost
                    self.intake.scan(folders)
            except Exception as exc:  # a scan the job table refused: scan again soon
                self.trouble("main", exc)
                rescans.refused(now)
            self.stop.wait(0.5)
        log.info("stopping: finishing sidecar writes; requests in flight resume at next start")
        self.announce.notifier.stopping(extend_seconds=SHUTDOWN_GRACE + 5)
        watcher.stop()
        self.shutdown()
        if exporter is not None:
            exporter.shutdown()
        self.announce.notifier.close()
        log.info("stopped")
        return EXIT_TROUBLE if self.failure else 0

    def _watcher(self) -> Watcher:
        """Watch the configured folders; each is scanned once its watch is set."""
        settings = self.config.settings
        if not settings.folders:  # requests were in flight: collected, then nothing to do
            log.warning(f"{self.config.source}: folders: none; collecting what is in flight")
        return Watcher(
            settings.folders, self.selector, self.settler, polling=settings.watch.polling,
            mode=settings.watch.mode, source=self.config.source,
            on_started=lambda folder: self.intake.scan([folder]), events=self.intake,
        )  # fmt: skip

    def _reload_config(self, watcher: Watcher) -> Watcher:
        """SIGHUP: read the config again and apply all of it but the database: the stages
        finish their steps (no request in flight is dropped: they are in the job table), then
        start again with the new folders (watched and scanned), options (for files not yet
        uploaded), sidecar settings, caps and log level. A config that does not load is
        refused, and the running one stays. Returns the watcher now in use."""
        try:
            fresh = load_config(Path(self.config.source))
            key = fresh.require_api_key()
        except ConfigError as exc:
            log.error("reload refused; the running configuration stays", error=str(exc))
            return watcher
        for secret in [key, *fresh.secrets()]:
            register_secret(secret)
        old, new = self.config.settings, fresh.settings
        changed = [
            name for name in type(new).model_fields if getattr(old, name) != getattr(new, name)
        ]
        restart = ["database"] if old.database.url != new.database.url else []
        if restart:  # the job table stays the one open; the rest applies
            new = new.model_copy(update={"database": old.database})
            secrets = {name: fresh.secret(name) for name in new.notify.named()}
            fresh = Config(new, fresh.source, key, fresh.warnings, secrets)
        log.info("reloading: the stages finish what they are doing", changed=changed)
        watcher.stop()
        self.runner.shutdown(RELOAD_GRACE)
        self.runner = Runner(on_error=self.trouble)
        self._api_key = key
        self._take(fresh)
        configure_logging(new.log_level)
        self.start_pipeline()
        log.info("configuration reloaded", changed=changed, restart_to_apply=restart,
                 folders=len(new.folders))  # fmt: skip
        return self._watcher()


def open_service(config: Config, *, wait: bool = False) -> Service:
    """Given a config, the daemon's parts over its job table. With ``wait`` (the daemon), a
    table that cannot be used now (the server away, starting or read-only, a lock, a full
    disk) is waited for, saying so, however long (a power cut brings the daemon up before
    its database); a signal meanwhile raises ``Stopped``. Any other trouble is raised."""
    if not wait:
        return Service(config)
    notifier, outage, stop = Notifier(), Outage(), threading.Event()
    install_signals(stop.set)
    service = wait_out(
        lambda: Service(config, notifier=notifier, outage=outage), config, outage, notifier, stop
    )
    if service is None:
        notifier.close()
        raise Stopped
    return service
