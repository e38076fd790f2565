"""Writing sidecars for every job whose result is stored, then marking it done.

A batch of jobs is written together: every sidecar staged, one flush, every rename, one
fsync per folder, then the jobs are marked done, so a job is never done before its sidecars
are on disk. Before writing, each file is compared with what was uploaded: a file that
changed while its request was in flight is queued again instead of getting a stale result.
In a folder whose results are reviewed first (``sidecars.apply: review``), a result the user
has not applied is set aside for `apply` instead (``Writes.hold``), its sidecars untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import SidecarSettings
from ..files import stat_signature
from ..jobtable import Writes
from ..log import bound_contextvars, get_logger
from ..notices.outbox import Written
from ..records import Scope, WriteTask
from ..renditions import FileProblem, RenditionSettings, content_key, hash_file, plan_file
from ..renditions import rendering as rendering_of
from ..rules.keywording import KeywordRules
from ..rules.retry import Backoff
from ..sidecars import (
    Planned,
    SidecarError,
    WriteBatch,
    placement,
    plan_sidecars,
    write_sidecars,
    xmp_result,
)
from ..sidecars.embedding import Embedder, Staged

log = get_logger("writer")


class Writer:
    def __init__(
        self,
        writes: Writes,
        settings: SidecarSettings,
        backoff: Backoff | None = None,
        scopes: Sequence[Scope] | None = None,
        rules: Callable[[str], KeywordRules] | None = None,
        reviewed: Callable[[str], bool] = lambda folder: False,
        sidecars: Callable[[str], SidecarSettings] | None = None,
        renditions: RenditionSettings | None = None,
        on_written: Callable[[list[Written]], None] = lambda written: None,
    ) -> None:
        self.writes = writes
        self.on_written = on_written  # the photo managers to tell (``notices``)
        self.settings = settings
        self.sidecars = sidecars or (lambda folder: settings)  # a folder's own targets
        self.renditions = renditions or RenditionSettings()  # the cache key of a file we wrote
        self._embedder: Embedder | None = None  # started at the first file that embeds
        self.backoff = backoff or Backoff(base=5.0, cap=600.0)
        self.scopes = scopes  # the folders this daemon has (None, in tests: anywhere)
        default = KeywordRules(root=settings.hierarchy_root)
        self.rules = rules or (lambda folder: default)  # each folder's keyword rules
        self.reviewed = reviewed  # whether a folder's results wait for `apply`

    def close(self) -> None:
        """End the exiftool this writer started, if it did (a one-shot `apply`, a review
        page's accept: the daemon's writer lives as long as the daemon)."""
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    def step(self) -> bool:
        """Write the sidecars of a batch of jobs; return whether there was anything to write."""
        with self.writes.holding() as holding:  # a step that fails gives back what is left
            tasks = self.writes.tasks(scopes=self.scopes)
            holding.take(jobs=[task.job_id for task in tasks])
            waiting = [t for t in tasks if not t.approved and self.reviewed(t.folder)]
            if waiting:
                self.writes.hold([t.job_id for t in waiting])
                log.debug("results wait for review", files=len(waiting))
            self.write([t for t in tasks if t not in waiting])
        return bool(tasks)

    def write(self, tasks: Sequence[WriteTask]) -> None:
        """Write the sidecars of jobs this process holds to write, and mark them done."""
        batch = WriteBatch()
        planned: list[tuple[WriteTask, list[Planned]]] = []
        for task in tasks:
            with bound_contextvars(job_id=task.job_id, path=task.path):
                if not self._still_current(task):
                    continue
                try:
                    plans = plan_sidecars(task, self.sidecars(task.folder), self.rules(task.folder))
                    batch.stage_all(plans)
                except SidecarError as exc:
                    self._failed(task, exc)
                    continue
                planned.append((task, plans))
        ours: set[int] = set()

        def still() -> set[Path]:
            """Just before renaming: the writes still this process's to make (a job
            untagged, or taken by another daemon after a stall, is not)."""
            ours.update(task.job_id for task in self.writes.mine([t.job_id for t, _ in planned]))
            return {plan.path for task, plans in planned if task.job_id in ours for plan in plans}

        outcomes = batch.commit(still)
        done = []
        written: list[Written] = []
        for task, plans in planned:
            with bound_contextvars(job_id=task.job_id, path=task.path):
                if task.job_id not in ours:
                    log.info("not written: the job is no longer this daemon's to write")
                    continue
                errors = [outcomes.get(p.path) for p in plans if outcomes.get(p.path)]
                if errors:  # someone wrote a sidecar meanwhile: once more, on its own
                    try:
                        plans = write_sidecars(
                            task, self.sidecars(task.folder), self.rules(task.folder)
                        )
                    except SidecarError as exc:
                        self._failed(task, exc)
                        continue
                embedded = self._embed(task)
                if embedded is None:
                    continue
                done.append(task.job_id)
                written.append(_written(task.path, plans, embedded))
                for note in {p.note for p in plans if p.note}:
                    log.warning("XMP sidecar name fell back to appended", reason=note)
                log.debug("tagged", sidecars=[p.path.name for p in plans])
        self.on_written(written)  # written: told even if the table cannot take `done` now
        self.writes.done(done)

    def _embed(self, task: WriteTask) -> bool | None:
        """Where the file itself is to carry its tags, write them in; the job table takes the
        new bytes as the result's before they appear (our own write is no change). Returns
        whether the file was written (None: the job may not be marked done)."""
        settings = self.sidecars(task.folder)
        image = Path(task.path)
        where = placement(image, settings)
        if where.unseen:
            log.info("these targets see nothing of this file's tags", targets=list(where.unseen))
        if not where.embed:
            return False
        if self._embedder is None:
            self._embedder = Embedder(settings.embed_backup)
        result = xmp_result(task, settings, self.rules(task.folder))
        staged: Staged | None = None
        try:
            staged = self._embedder.stage(
                image, result.keywords, result.description, task.request_id
            )
            if staged is None:
                return False
            rendering = rendering_of(plan_file(str(staged.copy), self.renditions), self.renditions)
            key = content_key(staged.sha256, rendering)
            if not self.writes.embedded(
                task.job_id, staged.size, staged.mtime_ns, staged.sha256, key
            ):
                log.info("not written into the file: the job is no longer this daemon's")
                return None
            self._embedder.commit(staged)
        except (SidecarError, FileProblem) as exc:
            reason = (
                exc if isinstance(exc, SidecarError) else SidecarError(f"{image}: {exc.reason}")
            )
            self._failed(task, reason)
            return None
        finally:
            if staged is not None:  # not committed (committed: gone already)
                self._embedder.discard(staged)
        log.debug("tags written into the file", bytes=staged.size)
        return True

    def _failed(self, task: WriteTask, exc: SidecarError) -> None:
        """A sidecar the disk or the folder refused waits and is tried again (the result is
        paid for); one that is itself the problem fails the job, with the reason."""
        if exc.transient:
            delay = self.backoff.delay(task.write_attempts + 1)
            log.warning("sidecar not written yet; will retry", error=str(exc), retry_in=delay)
            self.writes.later(task.job_id, f"waiting to write: {exc}", delay)
        else:
            log.error("sidecar not written", error=str(exc))
            self.writes.failed(task.job_id, str(exc))

    def _still_current(self, task: WriteTask) -> bool:
        """Whether the file still holds the bytes the result describes (hashing only when
        its size or mtime moved); if not, queue it again."""
        signature = stat_signature(task.path)
        if signature is None or signature == (task.size, task.mtime_ns):
            return True  # unchanged, or gone (planning says so)
        try:
            checked = hash_file(task.path)
        except FileProblem:
            return True
        if checked.sha256 == task.sha256:
            self.writes.unchanged(task.job_id, checked.size, checked.mtime_ns)
            return True
        log.warning("file changed after upload; tagging it again")
        self.writes.changed(task.job_id, checked.size, checked.mtime_ns)
        return False


def _written(path: str, plans: Sequence[Planned], embedded: bool) -> Written:
    """What a photo manager is told of one file: every path written, and which XMP sidecars
    did not exist before (Immich must discover those)."""
    created = [p.path for p in plans if p.expected is not None and p.expected.content is None]
    return Written(
        path,
        tuple(str(p.path) for p in plans) + ((path,) if embedded else ()),
        tuple(str(p) for p in created),
    )
