"""The results cache: what the API said about each content under each set of options, paid
for once, so the same bytes under the same options cost nothing a second time. The submitter
asks it before uploading (``cached``, ``reuse``); ``polls`` stores what a request brought
(``store``). ``SENT`` and ``sent_of`` say what a file was when it went out (or was served):
the job keeps them beside its result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update

from ..api.options import RequestOptions
from ..records import Upload
from . import transitions as t
from .base import TablePart, insert_missing
from .schema import Job, Result

# what a file was when it went out (or joined a request), bound per file
SENT: dict[str, Any] = {
    "sha256": bindparam("sha"),
    "file_sha256": bindparam("file_sha"),
    "sent_json": bindparam("sent"),
    "size": bindparam("file_size"),
    "mtime_ns": bindparam("mtime"),
}


class Results(TablePart):
    def any(self) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(select(Result.id).limit(1)).first() is not None

    def cached(self, hashes: Sequence[str], options: RequestOptions) -> dict[str, int]:
        """Given files' hashes and the options, return hash → stored result for those known."""
        if not hashes:
            return {}
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Result.sha256, Result.id).where(
                    Result.options_fp == options.fingerprint(), Result.sha256.in_(set(hashes))
                )
            )
            return {sha: result_id for sha, result_id in rows}

    def reuse(self, hits: Sequence[tuple[Upload, int]]) -> None:
        """Given claimed jobs whose bytes were tagged before, each with its stored result,
        reuse those results (no upload), all in one transaction: a backfill of copies is
        mostly this."""
        if not hits:
            return
        with self.engine.begin() as conn:
            t.apply(
                conn, t.CACHED, t.writing(self.clock(), bindparam("rid")) | SENT,
                Job.id == bindparam("job_id"), Job.locked_by == self.worker,
                many=[sent_of(upload) | {"rid": result_id} for upload, result_id in hits],
            )  # fmt: skip


def store(
    conn: Any, fp: str, assets: dict[str, dict[str, Any]], columns: dict[str, Any]
) -> dict[str, int]:
    """Given assets by the sha256 of the bytes they describe, store each under these
    options; return sha256 → result id for all of them. A result stored before is replaced
    where it stands (the same id): bytes go to the API again only when the user asked for a
    fresh answer (``scan --refresh``), and then the fresh one is what counts."""

    def known() -> dict[str, int]:
        return dict(
            conn.execute(
                select(Result.sha256, Result.id).where(
                    Result.options_fp == fp, Result.sha256.in_(list(assets))
                )
            ).all()
        )

    if not assets:
        return {}
    stored = known()
    new = [
        {"sha256": sha, "options_fp": fp, "asset_json": json.dumps(asset), **columns}
        for sha, asset in assets.items()
        if sha not in stored
    ]
    for sha, result_id in stored.items():
        conn.execute(
            update(Result)
            .where(Result.id == result_id)
            .values(asset_json=json.dumps(assets[sha]), **columns)
        )
    if new:
        insert_missing(conn, Result, [Result.sha256, Result.options_fp], new)
        stored = known()
    return stored


def sent_of(upload: Upload) -> dict[str, Any]:
    return {
        "job_id": upload.job_id, "sha": upload.sha256, "file_size": upload.size,
        "mtime": upload.mtime_ns, "file_sha": upload.file_sha256,
        "sent": None if upload.sent is None else json.dumps(upload.sent, sort_keys=True),
    }  # fmt: skip
