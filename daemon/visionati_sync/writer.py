"""Writing sidecars for every job whose result is stored, then marking it done.

Before writing, the file is compared with what was uploaded: a file that changed while its
request was in flight is queued again instead of getting a stale description.
"""

from __future__ import annotations

from structlog.contextvars import bound_contextvars

from .config import SidecarSettings
from .jobs import JobStore, WriteTask
from .log import get_logger
from .payload import FileProblem, check_file, stat_signature
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
                if not self._still_current(task):
                    continue
                try:
                    written = write_sidecars(task, self.settings)
                except SidecarError as exc:
                    log.error("sidecar not written", error=str(exc))
                    self.store.mark_write_failed(task.job_id, str(exc))
                    continue
                self.store.mark_done(task.job_id)
                log.info("tagged", sidecars=[p.name for p in written])
        return bool(tasks)

    def _still_current(self, task: WriteTask) -> bool:
        """Whether the file still holds the bytes the result describes (hashing only when
        its size or mtime moved); if not, queue it again."""
        signature = stat_signature(task.path)
        if signature is None or signature == (task.size, task.mtime_ns):
            return True  # unchanged, or gone (write_sidecars says so)
        try:
            checked = check_file(task.path)
        except FileProblem:
            return True
        if checked.sha256 == task.sha256:
            self.store.note_unchanged(task.job_id, checked.size, checked.mtime_ns)
            return True
        log.warning("file changed after upload; tagging it again")
        self.store.requeue_changed(task.job_id, checked.size, checked.mtime_ns)
        return False
