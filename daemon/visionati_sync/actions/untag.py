"""Taking back what this daemon wrote (`untag`): its keywords, description and provenance
out of each XMP sidecar (``sidecars.xmp.unmerge`` decides), the sidecar itself where it was
ours alone, the JSON sidecar, and what went inside the file (``sidecars.embedded``). The
jobs are set aside first (``untagged``), so that no
worker writes them again meanwhile, and a rescan leaves them alone until `scan --retag` or
`--refresh`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import SidecarSettings
from ..jobtable import JobTable
from ..log import bound_contextvars, get_logger
from ..notices.outbox import Written
from ..records import Scope, shown
from ..rules.targets import EMBEDDABLE
from ..sidecars import SidecarError, json, xmp
from ..sidecars.atomic import ChangedUnderneath, Snapshot, WriteBatch, remove
from ..sidecars.embedding import Embedder

log = get_logger("untag")


@dataclass
class Untagged:
    files: int = 0  # files set aside now
    rewritten: list[str] = field(default_factory=list)  # XMP sidecars we took ours out of
    removed: list[str] = field(default_factory=list)  # sidecars that were ours alone
    errors: list[str] = field(default_factory=list)  # one line each: sidecar and reason


def untag(
    table: JobTable,
    settings: SidecarSettings,
    scopes: Sequence[Scope],
    tell: Callable[[list[Written]], None] = lambda written: None,
) -> Untagged:
    """Given the folders or files to untag (none: nothing), take our sidecars back
    (again for files untagged before: what failed then is tried now; the rest is as it was),
    and ``tell`` the photo managers which files changed."""
    count, files = table.queue.untag(scopes)
    report = Untagged(files=count)
    inside = _Inside()
    changed: list[Written] = []
    try:
        for job_id, path in files:
            before = len(report.rewritten), len(report.removed)
            with bound_contextvars(job_id=job_id, path=path):
                for take_back in (_xmp, _json, inside):  # each on its own
                    try:
                        take_back(Path(path), settings, report)
                    except SidecarError as exc:
                        log.error("sidecar not untagged", error=str(exc))
                        report.errors.append(str(exc))
            written = report.rewritten[before[0] :] + report.removed[before[1] :]
            if written:
                changed.append(Written(path, tuple(written)))
    finally:
        inside.close()
    tell(changed)
    return report


class _Inside:
    """What we wrote inside a file (``sidecars.embed``), taken out the same guarded way it
    went in; looked for in every file exiftool could have written, while it is installed."""

    def __init__(self) -> None:
        self.embedder: Embedder | None = None

    def __call__(self, image: Path, settings: SidecarSettings, report: Untagged) -> None:
        if image.suffix.lower() not in EMBEDDABLE or shutil.which("exiftool") is None:
            return
        if self.embedder is None:
            self.embedder = Embedder()
        staged = self.embedder.stage_untag(image)
        if staged is not None:
            self.embedder.commit(staged)
            report.rewritten.append(shown(str(image)))

    def close(self) -> None:
        if self.embedder is not None:
            self.embedder.close()


def _xmp(image: Path, settings: SidecarSettings, report: Untagged) -> None:
    """Every sidecar of either name we wrote for this photo (targets may have changed
    since), each taken back on its own."""
    problems = []
    for sidecar in xmp.written_for(image):
        try:
            _one_xmp(sidecar, report)
        except SidecarError as exc:
            problems.append(str(exc))
    if problems:
        raise SidecarError("; ".join(problems))


def _one_xmp(sidecar: Path, report: Untagged) -> None:
    for _ in range(5):  # a photo manager writing meanwhile: read and decide again
        snapshot = Snapshot.read(sidecar, limit=xmp.MAX_BYTES)
        if snapshot.content is None:
            break
        content = xmp.unmerge(snapshot.content, str(sidecar))
        try:
            if content is None:
                remove(sidecar, snapshot)
                report.removed.append(shown(str(sidecar)))
            elif content != snapshot.content:
                batch = WriteBatch()
                batch.stage(sidecar, content, snapshot)
                problem = batch.commit().get(sidecar)
                if problem is not None:
                    raise problem
                report.rewritten.append(shown(str(sidecar)))
            break
        except ChangedUnderneath:
            continue
    else:
        raise SidecarError(f"{sidecar}: keeps changing while we untag it; left as it is")


def _json(image: Path, settings: SidecarSettings, report: Untagged) -> None:
    ours = json.sidecar_path(image, settings.json_suffix)
    snapshot = Snapshot.read(ours)
    if snapshot.content is not None:
        remove(ours, snapshot)
        report.removed.append(shown(str(ours)))
