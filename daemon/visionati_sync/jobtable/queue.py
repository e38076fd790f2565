"""The file queue: files enter it (found, changed, moved, deleted, re-tagged, retried by the
user). Intake and the commands use this part; workers take files from it through
``claims``."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from ..records import FileSeen, Scope, State
from . import transitions as t
from .base import TablePart, insert_missing
from .schema import Job, Result

CHUNK = 500  # files looked up per statement when queueing


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


class FileQueue(TablePart):
    # -- files arriving, changing, moving, going -------------------------------------------

    def changed(self, folder: str, directory: str, files: Sequence[FileSeen]) -> list[FileSeen]:
        """Given the files found in one directory of a folder, return those the table does not
        know with this size and mtime: a rescan of an unchanged library reads no file, and
        this one query per directory is all it costs."""
        if not files:
            return []
        # one contiguous range of the (folder, relpath) index per directory, in plain SQL: a
        # rescan runs this for every directory of the library, and random lookups or the
        # expression layer would cost more than the walk itself. Paths are stored as bytes.
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"SELECT relpath, size, mtime_ns FROM jobs WHERE folder = {mark}"  # noqa: S608
        params: tuple[bytes, ...] = (os.fsencode(self.name(folder)),)
        if directory:
            sql += f" AND relpath >= {mark} AND relpath < {mark}"
            params += (os.fsencode(f"{directory}/"), os.fsencode(f"{directory}0"))
        depth = directory.count("/") + 1 if directory else 0
        raw = self.engine.raw_connection()  # one SELECT is atomic: no transaction to open
        try:
            cursor = raw.cursor()
            cursor.execute(sql, params)
            rows = cursor.fetchall()  # plain tuples: no row objects for 50,000 files
            cursor.close()
        finally:
            raw.close()
        known = set()  # FileSeen is a tuple: a known file is a known (relpath, size, mtime)
        for stored, size, mtime_ns in rows:
            relpath = bytes(stored).decode(_FS_ENCODING, _FS_ERRORS)  # os.fsdecode, inlined
            if relpath.count("/") == depth:  # not a sub-folder's file
                known.add((relpath, size, mtime_ns))
        return [f for f in files if f not in known]

    def enqueue(
        self, folder: str, files: Iterable[FileSeen], *, retag_on_change: bool = True
    ) -> Counter[str]:
        """Given complete files found in a folder, queue the new and the changed ones.

        A file already known with the same size and mtime is left alone. One that changed is
        queued again unless it is in flight (the writer re-checks it before writing); a
        re-tag of unchanged bytes is served from the results cache, so it costs nothing.
        Returns counts of ``new``, ``requeued``, ``updated``, ``inflight`` and ``unchanged``.
        """
        counts: Counter[str] = Counter()
        batch = list(files)
        if not batch:
            return counts
        now, folder = self.clock(), self.name(folder)
        with self.engine.begin() as conn:
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                known = {
                    r.relpath: r
                    for r in conn.execute(
                        select(Job.id, Job.relpath, Job.size, Job.mtime_ns, Job.state).where(
                            Job.folder == folder, Job.relpath.in_([f.relpath for f in chunk])
                        )
                    )
                }
                new_rows = []
                for seen in chunk:
                    row = known.get(seen.relpath)
                    stat = {"size": seen.size, "mtime_ns": seen.mtime_ns}
                    if row is None:
                        new_rows.append(t.new_job(folder, seen, now))
                        counts["new"] += 1
                    elif (row.size, row.mtime_ns) == (seen.size, seen.mtime_ns):
                        counts["unchanged"] += 1
                    elif row.state in t.IN_FLIGHT:
                        counts["inflight"] += 1  # the writer compares before it writes
                    elif row.state in (State.FAILED, State.SKIPPED, State.REVIEW) or (
                        row.state == State.DONE and retag_on_change
                    ):
                        t.apply(
                            conn, t.REQUEUE, t.pending(now, fresh=True) | stat, Job.id == row.id
                        )
                        counts["requeued"] += 1
                    else:  # pending already, untagged, or done and not to be re-tagged:
                        # new stat only
                        conn.execute(
                            update(Job).where(Job.id == row.id).values(**stat, updated_at=now)
                        )
                        counts["updated"] += 1
                if new_rows:
                    insert_missing(conn, Job, [Job.folder, Job.relpath], new_rows)
        return counts

    def move(
        self, folder: str, relpath: str, new_folder: str, new_relpath: str
    ) -> tuple[int, State] | None:
        """Given a file moved or renamed inside the watched folders, move its job with it: no
        new upload. A tagged file gets its sidecars written at the new place from the stored
        result. Returns the job's id and state, or None when there was no job to move."""
        now = self.clock()
        folder, new_folder = self.name(folder), self.name(new_folder)
        place = {"folder": new_folder, "relpath": new_relpath}
        with self.engine.begin() as conn:
            row = conn.execute(
                select(Job.id, Job.state, Job.result_id).where(
                    Job.folder == folder, Job.relpath == relpath
                )
            ).one_or_none()
            taken = conn.execute(
                select(Job.id).where(Job.folder == new_folder, Job.relpath == new_relpath)
            ).scalar_one_or_none()
            if row is None or taken is not None:
                return None
            if row.state == State.DONE and row.result_id is not None:
                values = t.writing(now, row.result_id, approved=True) | place
                t.apply(conn, t.MOVED, values, Job.id == row.id)
                return row.id, State.WRITING
            conn.execute(update(Job).where(Job.id == row.id).values(**place, updated_at=now))
            return row.id, State(row.state)

    def forget(self, folder: str, relpath: str) -> tuple[int, State] | None:
        """Given a file that was deleted, drop its job unless a request or a write holds it;
        return its id and the state it had. Its result stays in the cache: a file put back
        costs nothing."""
        with self.engine.begin() as conn:
            row = conn.execute(
                delete(Job)
                .where(
                    Job.folder == self.name(folder),
                    Job.relpath == relpath,
                    Job.state.in_(t.FORGETTABLE),
                )
                .returning(Job.id, Job.state)
            ).one_or_none()
            return None if row is None else (row.id, State(row.state))

    # -- what the user asks for ------------------------------------------------------------

    def retry(self, job_ids: Sequence[int] = (), *, every: bool = False) -> int:
        """Put failed jobs (these, or all) back in the queue with a fresh count of attempts."""
        if not job_ids and not every:
            return 0
        chosen = [] if every else [Job.id.in_(job_ids)]
        with self.engine.begin() as conn:
            return t.apply(conn, t.RETRY, t.pending(self.clock(), fresh=True), *chosen)

    def retag(self, folder: str, relpaths: Sequence[str], fingerprint: str) -> int:
        """Given files a scan found in a folder and the folder's options now, queue again
        those tagged under other options, and those the user untagged (from the results
        cache where it can be). Only these files: a scan asks again of what it walked, as
        its estimate counted, never of the rest of the table."""
        other_options = (
            select(Result.id).where(Result.id == Job.result_id, Result.options_fp != fingerprint)
        ).exists()
        stale = or_(and_(Job.state == State.DONE, other_options), Job.state == State.UNTAGGED)
        return self._again(t.RETAG, t.pending(self.clock(), fresh=True), folder, relpaths, stale)

    def refresh(self, folder: str, relpaths: Sequence[str]) -> int:
        """Given files a scan found in a folder, queue those tagged before (done, untagged
        or waiting for review) to be asked of the API again: their next upload goes past
        the results cache, and the new result replaces the stored one."""
        values = t.pending(self.clock(), fresh=True) | {"refresh": True}
        return self._again(t.REFRESH, values, folder, relpaths)

    def _again(
        self,
        transition: t.Transition,
        values: t.Values,
        folder: str,
        relpaths: Sequence[str],
        *where: ColumnElement[bool],
    ) -> int:
        name, count = self.name(folder), 0
        with self.engine.begin() as conn:
            for start in range(0, len(relpaths), CHUNK):
                chunk = list(relpaths[start : start + CHUNK])
                chosen = (Job.folder == name, Job.relpath.in_(chunk), *where)
                count += t.apply(conn, transition, values, *chosen)
        return count

    def untag(self, scopes: Sequence[Scope]) -> tuple[int, list[tuple[int, str]]]:
        """Set aside every file in ``scopes`` (none: nothing) whose sidecars are to be taken
        back, before they are: no worker writes or sends them from now on. Returns how many were set
        aside now, and every untagged file in ``scopes`` (id, path): a sidecar that could
        not be untagged before is tried again."""
        now = self.clock()
        with self.engine.begin() as conn:
            count = t.apply(conn, t.UNTAG, t.untagged(now), self.in_scopes(scopes))
            rows = conn.execute(
                select(Job.id, Job.folder, Job.relpath)
                .where(Job.state == State.UNTAGGED, self.in_scopes(scopes))
                .order_by(Job.id)
            ).all()
        return count, [(r.id, os.path.join(self.path(r.folder), r.relpath)) for r in rows]
