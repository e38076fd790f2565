"""Wiring the parts into a running daemon (``run``) or a one-off pass (``drain``, for `scan`).

The pipeline is assembled in one place, ``_start_pipeline``: intake's settle ticker turns
quiet files into jobs, the submitter uploads, the poller follows requests, the writer writes
sidecars, each a stage of the ``Runner``. Everything else here is start-up, signals, reload
and knowing when a scan is finished; what the daemon tells systemd, the journal's progress
line and /metrics are ``announce``'s.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ..api.client import ApiClient
from ..api.pacing import PollPacer
from ..config import Config, ConfigError, FolderSettings, load_config, state_directory
from ..jobtable import JobTable
from ..jobtable.engine import server_uptime, trouble
from ..log import configure as configure_logging
from ..log import get_logger, register_secret
from ..pipeline.gate import Gate
from ..pipeline.intake import Intake
from ..pipeline.journal import Journal
from ..pipeline.poller import Poller
from ..pipeline.submitter import Submitter, replay
from ..pipeline.watcher import Settler, Watcher
from ..pipeline.writer import Writer
from ..records import Reporter, Scope, utcnow
from ..rules.outage import Outage
from ..rules.policy import STOPS_A_SCAN, PauseKind
from ..workers import Presence, Worker
from .announce import Announcer, waiting_status
from .notify import Notifier
from .runner import AFTER_ERROR, Runner

log = get_logger("service")
T = TypeVar("T")

# Seconds the stages get to finish what they are doing (a sidecar write) after SIGTERM;
# the systemd unit's TimeoutStopSec=20 leaves room for the rest of the shutdown.
SHUTDOWN_GRACE = 8.0
RELOAD_GRACE = 600.0  # a reload waits for the stages' steps (an upload) to finish
TEST_HANG = "VISIONATI_SYNC_TEST_HANG"  # names a stage made to hang, for the watchdog's test
RESCAN_AFTER_TROUBLE = 30.0  # seconds: files a refused scan missed are looked for again
EXIT_TROUBLE = 2  # the job table cannot be used (damaged, read-only): as for a config error


class Service:
    def __init__(
        self, config: Config, *, notifier: Notifier | None = None, outage: Outage | None = None
    ) -> None:
        settings = config.settings
        self.worker = Worker()  # this process start, as its claims name it
        self.table = JobTable.open(
            config.database_url(),
            worker=self.worker,
            busy_timeout=settings.database.busy_timeout,
            lease_seconds=settings.database.lease_seconds,
            folders=config.folder_names(),
        )
        self.outage = outage or Outage()  # the job table away, as the stages find it
        state = state_directory()
        self.presence = Presence(state / "workers")  # this machine's workers, alive or not
        self.journal = Journal(state / "journal", self.worker.id)  # answers not recorded
        self.kind = "run"  # or "scan": what `status` calls this process
        self.stop = threading.Event()  # the daemon (or scan) is to end
        self.collecting = threading.Event()  # a scan stopping: no uploads, collect what went
        self.reload = threading.Event()  # SIGHUP: read the config again
        self.runner = Runner(on_error=self._trouble)
        self.settler = Settler(
            settings.watch.settle_seconds, max_wait=settings.watch.max_settle_seconds
        )
        self.failure: str | None = None  # why the daemon had to stop, if it had to
        self._since = utcnow()  # when this process started
        self._api_key = config.api_key or ""
        self._gate: Gate | None = None
        self._pacer: PollPacer | None = None
        self.announce = Announcer(  # systemd, the progress line, /metrics
            self.table,
            hung=lambda after: self.runner.hung(after),
            paused=lambda: self._gate.paused if self._gate is not None else None,
            own=lambda: self.own,
            waiting=lambda: self.outage.reason,
            notifier=notifier,
        )
        self._take(config)

    def halt(self) -> None:
        """Stop: the stages end after their current step, the main loop at its next turn."""
        self.stop.set()
        self.runner.stop.set()

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
        self.intake = Intake(
            self.table.queue,
            self.selector,
            self.settler,
            retag_on_change=settings.watch.retag_on_change,
            wake=lambda stage: self.runner.wake(stage),
        )

    def _client(self) -> ApiClient:
        api = self.config.settings.api
        return ApiClient(
            api.base_url,
            lambda: self._api_key,
            connect_timeout=api.connect_timeout,
            read_timeout=api.timeout,
        )

    def _start_pipeline(
        self,
        scopes: Sequence[Scope] = (),
        previous_gate: Gate | None = None,
        *,
        progress: bool = True,
    ) -> None:
        """Assemble the stages and start each in its thread (``progress``: the daemon's
        progress line; a scan shows its own)."""
        api = self.config.settings.api
        gate = Gate(
            self.table.reports,
            worker=self.table.worker,
            auth_retry_interval=api.auth_retry_interval,
            credit_check_interval=api.credit_check_interval,
            backoff=api.backoff(),
        )

        if previous_gate is not None:
            gate.carry_over(previous_gate)

        def results_arrived() -> None:
            self.runner.wake("writer")
            self.runner.wake("submitter")  # a request answered frees a place in flight

        pacer = PollPacer(api.poll_interval)  # the API's pace, learnt by polls, used by sends
        self._pacer = pacer
        submitter = Submitter(
            self.table, self._client, api, gate, pacer=pacer,
            on_sent=lambda: self.runner.wake("poller"),
            options_for=self.config.options_for,
            settle_seconds=self.config.settings.watch.settle_seconds,
            backoff=api.backoff(), on_results=results_arrived,
            sidecars=self.config.settings.sidecars,
            renditions=self.config.settings.renditions(),
            send_file_names=self.config.settings.upload.send_file_names,
            journal=self.journal,
        )  # fmt: skip
        poller = Poller(
            self.table.requests, self._client, api, api.backoff(), on_results=results_arrived,
            pacer=pacer,
        )  # fmt: skip
        writer = Writer(
            self.table.writes, self.config.settings.sidecars, api.backoff(), scopes=self.own,
            rules=self.config.keyword_rules, reviewed=self.config.reviewed,
        )  # fmt: skip
        tick = min(0.5, max(0.05, self.settler.settle_seconds / 4))
        lease = self.config.settings.database.lease_seconds
        hang = os.environ.get(TEST_HANG)  # a test hook: the watchdog must notice

        def start(name: str, step: Callable[[], bool | float], idle: float) -> None:
            self.runner.start(name, threading.Event().wait if name == hang else step, idle)

        start("leases", self._leases_step, lease / 3)
        if self.announce.notifier.enabled:
            start(
                "notify", self.announce.notify_step, self.announce.notifier.watchdog_interval or 5.0
            )
        start("settler", self.intake.settle_step, tick)
        start("poller", poller.step, api.poll_interval)  # it says how long it may rest
        if self.own:  # with no folders, only what is in flight is collected
            start(
                "submitter",
                lambda: not self.collecting.is_set() and submitter.step(scopes or self.own),
                1.0,
            )
            start("writer", writer.step, 1.0)
        every = self.config.settings.log_progress_interval
        if progress and every:
            start("progress", self.announce.progress_step, every)
        self._gate = gate

    def recover(self, kind: str) -> int:
        """Start: say this worker runs (``kind``: run or scan), then take over what this
        machine's ended workers left (``_after_the_gone``). Returns how many of their files
        went back to the queue."""
        self.kind = kind
        if not self.presence.holding:
            try:
                self.presence.hold(self.worker)
            except OSError as exc:  # a state directory this user may not write
                log.warning(
                    "cannot keep this daemon's lock file; a killed daemon's work comes back "
                    "when its lease lapses, not at the next start",
                    folder=str(self.presence.folder), error=exc.strerror or str(exc),
                )  # fmt: skip
        self.table.workers.beat(self.worker, self.kind, self._since)
        freed = self.table.claims.free_stranded()
        return freed + self._after_the_gone()

    def _after_the_gone(self) -> int:
        """This machine's workers that ended (killed, crashed, or stopped): record the
        uploads their journals hold (the API took them: nothing is paid again), give back at
        once what they held rather than when their leases lapse, count their requests in
        flight in this daemon's cap, and forget them. Each step may be done again."""
        try:
            gone = self.presence.gone()
        except OSError:  # said at start (recover): nothing of this machine's to take over
            return 0
        self._replay(lambda worker: not self.presence.running(worker))
        released = self.table.claims.give_back_of(gone)
        if released:
            log.warning("re-queued files claimed by a worker that is gone", files=released)
        if gone:
            self.table.requests.adopt(gone)
            self.table.workers.forget(gone)
            self.presence.forget(gone)
        return released

    def _replay(self, ended: Callable[[str], bool] | None = None) -> int:
        """Record this worker's journal (or, given ``ended``, the journals of this machine's
        workers it says have ended): what the API answered and the job table lacks."""
        api = self.config.settings.api
        return replay(
            self.journal, self.table.requests, ended,
            retry_delay=api.backoff().delay(1), max_attempts=api.max_attempts,
        )  # fmt: skip

    def _leases_step(self) -> bool:
        """Renew what this daemon's stages hold and its heartbeat; once the job table has
        been back for a lease, take back what others let lapse (they died, stalled, or were
        cut off from the table for longer than a lease) and forget workers long silent."""
        lease = self.config.settings.database.lease_seconds
        jobs, requests = self.table.daemon.held.now()
        self.table.claims.renew(jobs, requests)
        # what failed steps could not give back goes back now, once what was paid for is
        # recorded (a claim whose upload the API answered is that request's, not anyone's)
        self._replay()
        self.table.claims.give_back_abandoned()
        self.table.workers.beat(self.worker, self.kind, self._since)
        lasted = self.outage.cleared()
        if lasted is not None:
            log.warning("the job table is back; going on", waited_seconds=round(lasted, 1))
            self.announce.waiting(None)
            if self._pacer is not None:
                self._pacer.disturbed()
            self.runner.wake_all()
        self._after_the_gone()
        if not self.outage.settled(lease, server_uptime(self.table.engine)):
            return False
        taken = self.table.claims.take_back_lapsed()
        if taken:
            log.warning("re-queued files whose daemon's claim lapsed", files=taken)
            self.runner.wake("submitter")
        silent = self.table.workers.lapsed()
        if silent:
            self.table.requests.adopt(silent)
            self.table.workers.forget(silent)
        return False

    def _trouble(self, stage: str, exc: Exception) -> float:
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

    def _shutdown(self) -> None:
        self.runner.shutdown(SHUTDOWN_GRACE)
        with contextlib.suppress(Exception):  # a table in trouble: status shows it stale
            self.table.claims.let_go()  # the next daemon need not wait for leases to lapse
            self.table.workers.forget([self.worker.id])
        self.presence.release(self.worker)
        self.table.close()

    # -- modes ---------------------------------------------------------------------------

    def run(self) -> int:
        """Watch the folders and tag what arrives until SIGTERM or SIGINT; SIGHUP reloads."""
        _install_signals(self.halt, self.reload)
        self._api_key = self.config.require_api_key()
        started = wait_out(
            lambda: self.recover("run"), self.config, self.outage, self.announce.notifier,
            self.stop,
        )  # fmt: skip
        if started is None:  # stopped while waiting for the job table
            self._shutdown()
            return 0
        watcher = self._watcher()
        self._start_pipeline()
        exporter = self.announce.serve_metrics(self.config.settings.metrics.listen)
        log.info("daemon started", folders=len(self.config.settings.folders),
                 database=self._database())  # fmt: skip
        rescan_every = self.config.settings.watch.rescan_interval
        next_ensure, next_rescan = 0.0, time.monotonic() + rescan_every
        rescan_soon = False  # a scan the job table refused is done again, rescans or not
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
                if (watch.rescan_interval or rescan_soon) and now >= next_rescan:
                    next_rescan = now + (watch.rescan_interval or RESCAN_AFTER_TROUBLE)
                    rescan_soon = False
                    log.info("periodic rescan")  # events get lost
                    self.intake.scan(self.config.settings.folders)
            except Exception as exc:  # a scan the job table refused: scan again soon
                self._trouble("main", exc)
                rescan_soon = True
                next_rescan = min(next_rescan, now + RESCAN_AFTER_TROUBLE)
            self.stop.wait(0.5)
        log.info("stopping: finishing sidecar writes; requests in flight resume at next start")
        self.announce.notifier.stopping(extend_seconds=SHUTDOWN_GRACE + 5)
        watcher.stop()
        self._shutdown()
        if exporter is not None:
            exporter.shutdown()
        self.announce.notifier.close()
        log.info("stopped")
        return EXIT_TROUBLE if self.failure else 0

    def ask_again(
        self, folders: Sequence[FolderSettings], scopes: Sequence[Scope], *, refresh: bool
    ) -> int:
        """`scan --refresh` (every tagged file, past the results cache) or `--retag` (files
        tagged under other options than their folder's now, and untagged ones): queue
        again the files of the scan's walk that qualify. Returns how many."""
        queue = self.table.queue

        def again(folder: FolderSettings, relpaths: list[str]) -> int:
            root = str(folder.path)
            if refresh:
                return queue.refresh(root, relpaths)
            return queue.retag(root, relpaths, self.config.options_for(root).fingerprint())

        return self.intake.ask_again(folders, scopes, again)

    def drain(
        self,
        folders: Sequence[FolderSettings],
        scopes: Sequence[Scope],
        reporter: Reporter | None = None,
    ) -> int:
        """Process what is in the folders now; return 0 if no file failed, 1 if one did (or
        the scan was interrupted), 2 if uploads cannot go on (key, credits, budget). A scan
        that stops early collects what it paid for first (see ``_wait_drained``)."""
        _install_signals(self._scan_signal)
        self._api_key = self.config.require_api_key()
        self.recover("scan")
        started = utcnow()
        self.intake.scan(folders, scopes)
        self.own += [s for s in (Scope(str(f.path)) for f in folders) if s not in self.own]
        self._start_pipeline(scopes, progress=False)
        try:
            code = self._wait_drained(scopes, started, reporter)
        finally:
            if reporter is not None:
                reporter.close()
        return code

    def _scan_signal(self) -> None:
        """A scan's Ctrl-C or SIGTERM: the first stops uploads and collects what was paid
        for; a second leaves that to the next run. (A signal handler: it only says so.)"""
        if self.collecting.is_set():
            self.halt()
        else:
            self.collecting.set()

    def _wait_drained(
        self, scopes: Sequence[Scope], started: datetime, reporter: Reporter | None
    ) -> int:
        """Wait until the scan's files are done; or, once it stops early (a signal, or a
        pause that stops a scan), until what was already sent is collected and written, up
        to ``scan.collect_timeout``. Returns the exit status."""
        reports = self.table.reports

        def finished(counts: dict[str, int]) -> int:
            ended = ("done", "failed", "skipped", "review", "untagged")
            return sum(counts[state] for state in ended)

        before = finished(reports.counts(scopes))  # progress counts this scan's work
        next_count = 0.0
        stopped: int | None = None  # the status a pause that stops a scan decided
        collect_until: float | None = None  # collecting what was sent, until then
        while not self.stop.wait(0.2):
            pause = self._gate.paused if self._gate is not None else None
            if pause is not None and pause.kind in STOPS_A_SCAN and stopped is None:
                log.error("scan stopped: " + pause.reason)
                stopped = 2
                if pause.kind is PauseKind.AUTH:  # a poll needs the key as much as an upload
                    self._left_in_flight("until the key is accepted")
                    break
                self.collecting.set()
            if self.collecting.is_set() and collect_until is None:
                collect_until = time.monotonic() + self.config.settings.scan.collect_timeout
                self._start_collecting()
                next_count = 0.0
            if collect_until is not None and time.monotonic() > collect_until:
                self._left_in_flight("after scan.collect_timeout")
                break
            if time.monotonic() < next_count:
                continue
            counted = time.monotonic()
            try:
                counts = reports.counts(scopes)  # a million rows take a tenth of a second:
                next_count = counted + 10 * (time.monotonic() - counted)  # a tenth of a core
                spent = reports.credits_spent(since=started) if reporter is not None else 0
                left = counts["pending"] == 0 and len(self.settler) == 0
                ask = (left or collect_until is not None) and counts["submitted"]
                waiting = reports.waiting_to_write(scopes) if ask else 0
            except SQLAlchemyError as exc:  # the job table away: the stages wait for it too
                next_count = counted + self._trouble("scan", exc)
                continue
            if reporter is not None:
                total = sum(counts.values()) + len(self.settler) - before
                reporter.update(finished(counts) - before, total, spent)
            if (collect_until is not None or left) and counts["submitted"] == waiting:
                break  # all that is left waits for the disk
        if self.stop.is_set() and collect_until is not None:
            self._left_in_flight("at a second signal")
        interrupted = self.stop.is_set() or (self.collecting.is_set() and stopped is None)
        self._shutdown()
        if self.failure:
            return EXIT_TROUBLE
        counts = reports.counts(scopes)
        waiting = reports.waiting_to_write(scopes)
        if waiting:
            log.error(
                "sidecars not written yet: the disk or the folder refused them; their results "
                "are kept and written by the daemon or the next scan, with no upload",
                files=waiting,
            )
        if counts["review"]:
            log.info(
                "results wait for review: `preview` shows them, `apply` writes them",
                files=counts["review"],
            )
        log.info("scan finished", interrupted=interrupted, **counts)
        if stopped is not None:
            return stopped
        return 1 if counts["failed"] or waiting or interrupted else 0

    def _start_collecting(self) -> None:
        """No more uploads (one under way goes, so that it is collected too); say what is
        collected, and how to leave it instead."""
        while not self.runner.end("submitter", 0.2) and not self.stop.is_set():
            pass
        log.warning(
            "no more uploads; collecting the results already paid for "
            "(Ctrl-C again leaves them to the next run)",
            requests=len(self.table.requests.outstanding_ids()),
        )

    def _left_in_flight(self, when: str) -> None:
        """Name the requests left with the API: the next scan, or the daemon, collects them
        (the job table has them), with no upload and nothing paid twice."""
        left = self.table.requests.outstanding_ids()
        if left:
            log.warning(
                f"requests left with the API {when}; the next scan or the daemon collects "
                "them, with no upload",
                requests=left,
            )

    def _watcher(self) -> Watcher:
        """Watch the configured folders; each is scanned once its watch is set."""
        settings = self.config.settings
        if not settings.folders:
            log.warning(f"{self.config.source}: folders: no folders configured; nothing to watch")
        return Watcher(
            settings.folders, self.selector, self.settler, polling=settings.watch.polling,
            source=self.config.source, on_started=lambda folder: self.intake.scan([folder]),
            events=self.intake,
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
        register_secret(key)
        old, new = self.config.settings, fresh.settings
        changed = [
            name for name in type(new).model_fields if getattr(old, name) != getattr(new, name)
        ]
        restart = ["database"] if old.database.url != new.database.url else []
        if restart:  # the job table stays the one open; the rest applies
            new = new.model_copy(update={"database": old.database})
            fresh = Config(new, fresh.source, key, fresh.warnings)
        log.info("reloading: the stages finish what they are doing", changed=changed)
        watcher.stop()
        previous_gate = self._gate
        self.runner.shutdown(RELOAD_GRACE)
        self.runner = Runner(on_error=self._trouble)
        self._api_key = key
        self._take(fresh)
        configure_logging(new.log_level)
        self._start_pipeline(previous_gate=previous_gate)
        log.info("configuration reloaded", changed=changed, restart_to_apply=restart,
                 folders=len(new.folders))  # fmt: skip
        return self._watcher()

    def _database(self) -> str:
        return self.table.engine.url.render_as_string(hide_password=True)


class Stopped(Exception):
    """Stopped (SIGTERM, Ctrl-C) while waiting for the job table, before starting."""


def open_service(config: Config, *, wait: bool = False) -> Service:
    """Given a config, the daemon's parts over its job table. With ``wait`` (the daemon), a
    table that cannot be used now (the server away, starting or read-only, a lock, a full
    disk) is waited for, saying so, however long (a power cut brings the daemon up before
    its database); a signal meanwhile raises ``Stopped``. Any other trouble is raised."""
    if not wait:
        return Service(config)
    notifier, outage, stop = Notifier(), Outage(), threading.Event()
    _install_signals(stop.set)
    service = wait_out(
        lambda: Service(config, notifier=notifier, outage=outage), config, outage, notifier, stop
    )
    if service is None:
        notifier.close()
        raise Stopped
    return service


def wait_out(
    action: Callable[[], T],
    config: Config,
    outage: Outage,
    notifier: Notifier,
    stop: threading.Event,
) -> T | None:
    """Given what starting the daemon does with the job table, do it, waiting out trouble
    that waiting helps: said once per change, in the journal and in systemd's status (the
    daemon is up: ``READY=1``, so that systemd's start timeout does not kill it), with the
    watchdog fed, since waiting is not hanging. None if ``stop`` was set meanwhile."""
    lease = config.settings.database.lease_seconds
    while not stop.is_set():
        try:
            return action()
        except SQLAlchemyError as exc:
            known = trouble(exc, config.database_url())
            if known is None or not known.passing:
                raise
            if outage.trouble(known.message, known.state):
                log.warning("waiting for the job table: " + known.message)
                notifier.ready(waiting_status(known.message))
        deadline = time.monotonic() + outage.rest(lease)
        while not stop.is_set() and time.monotonic() < deadline:
            if notifier.watchdog_interval is not None:
                notifier.watchdog()
            stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
    return None


def _install_signals(stop: Callable[[], None], reload: threading.Event | None = None) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received", signal=signal.Signals(signum).name)
        if signum == signal.SIGHUP and reload is not None:
            reload.set()
        else:
            stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if reload is not None:
            signal.signal(signal.SIGHUP, handler)
        # `kill -USR1`: every thread's stack to stderr (the journal), for a daemon that hangs
        faulthandler.register(signal.SIGUSR1, all_threads=True)
