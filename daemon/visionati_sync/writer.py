"""Writing sidecars for every job whose result is stored, then marking it done."""

from __future__ import annotations

from structlog.contextvars import bound_contextvars

from .config import SidecarSettings
from .jobs import JobStore
from .log import get_logger
from .sidecars import SidecarError, write_sidecars

log = get_logger("writer")


class Writer:
    def __init__(self, store: JobStore, settings: SidecarSettings) -> None:
        self.store = store
        self.settings = settings

    def step(self) -> bool:
        """Write the sidecars of a batch of jobs; return whether there were any."""
        tasks = self.store.write_tasks()
        for task in tasks:
            with bound_contextvars(job_id=task.job_id, path=task.path):
                try:
                    written = write_sidecars(task, self.settings)
                except SidecarError as exc:
                    log.error("sidecar not written", error=str(exc))
                    self.store.mark_write_failed(task.job_id, str(exc))
                    continue
                self.store.mark_done(task.job_id)
                log.info("tagged", sidecars=[p.name for p in written])
        return bool(tasks)
