"""The one place the stages are put together: the gate and the poll pacer they share, the
submitter, the poller and the writer, and who wakes whom. The service runs each in a thread
of its own (with intake's settle ticker, which it builds with the watcher)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..api.client import ApiClient
from ..api.pacing import PollPacer
from ..config import Config
from ..jobtable import JobTable
from ..notices.outbox import Written
from ..records import Scope
from .gate import Gate
from .journal import Journal
from .poller import Poller
from .submitter import Submitter
from .writer import Writer


@dataclass(frozen=True)
class Stages:
    gate: Gate  # whether uploads may go now (carried over a reload)
    pacer: PollPacer  # the API's pace, learnt by the poller, used by the submitter
    submitter: Submitter
    poller: Poller
    writer: Writer


def assemble(
    table: JobTable,
    config: Config,
    client: Callable[[], ApiClient],
    journal: Journal,
    own: Sequence[Scope],
    wake: Callable[[str], None],
    previous_gate: Gate | None = None,
    on_written: Callable[[list[Written]], None] = lambda written: None,
) -> Stages:
    """Given the job table, the config, how to make an API client, the journal, the folders
    this daemon has (``own``) and how to wake a stage, the stages, wired: a request sent
    wakes the poller; results arriving wake the writer, and the submitter (a place in
    flight is free); what the writer wrote goes to ``on_written`` (the photo managers to
    tell). A reload's new gate takes over the old one's pause."""
    settings = config.settings
    api = settings.api
    gate = Gate(
        table.reports,
        worker=table.worker,
        auth_retry_interval=api.auth_retry_interval,
        credit_check_interval=api.credit_check_interval,
        backoff=api.backoff(),
    )
    if previous_gate is not None:
        gate.carry_over(previous_gate)

    def results_arrived() -> None:
        wake("writer")
        wake("submitter")

    pacer = PollPacer(api.poll_interval)
    submitter = Submitter(
        table, client, api, gate, pacer=pacer, on_sent=lambda: wake("poller"),
        options_for=config.options_for, settle_seconds=settings.watch.settle_seconds,
        backoff=api.backoff(), on_results=results_arrived, sidecars=config.sidecars_for,
        renditions=settings.renditions(), send_file_names=settings.upload.send_file_names,
        journal=journal,
    )  # fmt: skip
    poller = Poller(
        table.polls, client, api, api.backoff(), on_results=results_arrived, pacer=pacer
    )
    writer = Writer(
        table.writes, settings.sidecars, api.backoff(), scopes=own,
        rules=config.keyword_rules, reviewed=config.reviewed, sidecars=config.sidecars_for,
        renditions=settings.renditions(), on_written=on_written,
    )  # fmt: skip
    return Stages(gate, pacer, submitter, poller, writer)
