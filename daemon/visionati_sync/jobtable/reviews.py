"""Reviewing results in the browser: the waiting results a page shows (filtered, paged), a
reviewer's decision on each (recorded with who and when, and the job moved on in the same
transaction), and how often each keyword was accepted."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select

from ..records import Scope, State, WriteTask
from . import transitions as t
from .base import TablePart
from .schema import Job, Result, Review
from .writes import read_tasks


@dataclass(frozen=True)
class Filters:
    folder: str | None = None  # a watched folder's path
    since: datetime | None = None  # files modified since
    word: str | None = None  # a keyword the result proposes


@dataclass(frozen=True)
class Acceptance:
    keyword: str  # its path, as written: ``Visionati|dog``
    shown: int  # on how many reviewed photos
    accepted: int  # of those, kept


class Reviews(TablePart):
    def page(
        self, scopes: Sequence[Scope], filters: Filters, offset: int, limit: int
    ) -> tuple[list[WriteTask], int]:
        """The results waiting for review in ``scopes`` that pass ``filters``, ``limit`` of
        them from ``offset`` in the order they arrived, and how many pass in all."""
        where = [Job.state == State.REVIEW, self.in_scopes(scopes), *self._filters(filters)]
        with self.engine.begin() as conn:
            total = conn.execute(
                select(func.count()).select_from(Job).join(Result, Result.id == Job.result_id)
                .where(*where)
            ).scalar_one()  # fmt: skip
            ids = conn.execute(
                select(Job.id).join(Result, Result.id == Job.result_id).where(*where)
                .order_by(Job.id).offset(offset).limit(limit)
            ).scalars()  # fmt: skip
            return read_tasks(conn, list(ids), self.path), int(total)

    def _filters(self, filters: Filters) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if filters.folder:
            found.append(self.in_scopes([Scope(filters.folder)]))
        if filters.since is not None:
            found.append(Job.mtime_ns >= int(filters.since.timestamp() * 1e9))
        if filters.word:  # a tag's name is a key of the asset's tags: "word": […]
            found.append(Result.asset_json.like(f'%"{_escaped(filters.word)}":%', escape="\\"))
        return found

    def task(self, job_id: int, scopes: Sequence[Scope]) -> WriteTask | None:
        """One result waiting for review in ``scopes`` (None: no such job there)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                select(Job.id).where(
                    Job.id == job_id, Job.state == State.REVIEW, self.in_scopes(scopes)
                )
            ).scalar_one_or_none()
            return read_tasks(conn, [found], self.path)[0] if found is not None else None

    def located(self, job_id: int, scopes: Sequence[Scope]) -> tuple[str, str] | None:
        """A job of ``scopes`` (any state): its file and the file's hash, for its picture;
        None for a job elsewhere, or none."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(Job.folder, Job.relpath, func.coalesce(Job.file_sha256, Job.sha256))
                .where(Job.id == job_id, self.in_scopes(scopes))
            ).first()  # fmt: skip
        if row is None or row[2] is None:
            return None
        return os.path.join(self.path(row[0]), row[1]), str(row[2])

    def accept(
        self, job_id: int, proposed: Sequence[str], kept: Sequence[str],
        description: str | None, who: str,
    ) -> bool:  # fmt: skip
        """Record that ``who`` approved these keywords (paths, ``a|b``) and this description
        of a waiting result, and take it to write now, like `apply`. Returns whether it was
        still waiting (a second click, or another reviewer, finds it gone)."""
        now = self.clock()
        values = t.applied(now, self.worker, self.lease_end(now))
        with self.engine.begin() as conn:
            moved = t.apply(conn, t.APPLY, values, Job.id == job_id)
            if moved:
                self._record(conn, job_id, "accept", proposed, kept, description, who, now)
            return bool(moved)

    def reject(self, job_id: int, proposed: Sequence[str], who: str) -> bool:
        """Record that ``who`` rejected a waiting result: nothing is written, and the job
        says so. Returns whether it was still waiting."""
        now = self.clock()
        with self.engine.begin() as conn:
            moved = t.apply(conn, t.REJECT, t.rejected(now), Job.id == job_id)
            if moved:
                self._record(conn, job_id, "reject", proposed, [], None, who, now)
            return bool(moved)

    def _record(
        self, conn: Connection, job_id: int, decision: str, proposed: Sequence[str],
        kept: Sequence[str], description: str | None, who: str, now: datetime,
    ) -> None:  # fmt: skip
        conn.execute(delete(Review).where(Review.job_id == job_id))
        conn.execute(
            insert(Review).values(
                job_id=job_id,
                decision=decision,
                proposed_json=json.dumps(list(proposed)),
                kept_json=json.dumps(list(kept)),
                description=description,
                decided_by=who,
                decided_at=now,
            )
        )

    def acceptance(self) -> list[Acceptance]:
        """Each keyword reviewers were shown, how often, and how often they kept it; the
        least accepted first (the words worth excluding)."""
        shown: Counter[str] = Counter()
        kept: Counter[str] = Counter()
        with self.engine.begin() as conn:
            for row in conn.execute(select(Review.proposed_json, Review.kept_json)):
                shown.update(json.loads(row.proposed_json))
                kept.update(json.loads(row.kept_json))
        return sorted(
            (Acceptance(word, count, kept[word]) for word, count in shown.items()),
            key=lambda a: (a.accepted / a.shown, -a.shown, a.keyword),
        )


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', "")
