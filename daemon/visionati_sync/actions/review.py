"""Results that wait for the user (``sidecars.apply: review``): what applying each would
change in its sidecar (`preview`), and applying them (`apply`). Both work from the stored
results: no API call, nothing paid again. `preview` decides exactly as the writer will (the
same merge, from the sidecar as it is now) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, SidecarSettings
from ..jobtable import JobTable
from ..notices.dispatch import Notices
from ..pipeline.writer import Writer
from ..records import Scope, State, WriteTask, shown
from ..rules.keywording import KeywordRules
from ..sidecars import SidecarError, xmp, xmp_paths, xmp_result


@dataclass(frozen=True)
class Change:
    """What applying one result would do to its photo's XMP sidecar."""

    path: str
    sidecar: str
    keywords_added: list[str]  # as dc:subject holds them
    keywords_removed: list[str]  # ours from before, replaced
    hierarchical_added: list[str]  # as lr:hierarchicalSubject holds them: the full paths
    hierarchical_removed: list[str]
    description_added: str | None
    description_removed: str | None
    error: str | None = None  # the sidecar cannot take it (applying will say the same)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def changes(table: JobTable, config: Config, scopes: Sequence[Scope]) -> list[Change]:
    """Given where to look (none: everywhere), what applying each waiting result would do."""
    settings = config.settings.sidecars
    return [
        change_of(task, settings, config.keyword_rules) for task in table.writes.waiting(scopes)
    ]


def change_of(
    task: WriteTask, settings: SidecarSettings, rules: Callable[[str], KeywordRules]
) -> Change:
    """Given a stored result, the change its XMP sidecar would get: the writer's own plan
    (read, merged), compared with what the sidecar holds."""
    image = Path(task.path)
    path, note = (xmp_paths(image, settings) or [xmp.choose_path(image, settings.xmp_naming)])[0]
    try:
        planned = xmp.plan_at(
            path, note, xmp_result(task, settings, rules(task.folder)),
            xmp.XmpSettings(settings.overwrite_description),
        )  # fmt: skip
    except SidecarError as exc:
        sidecar = shown(str(path))
        return Change(shown(task.path), sidecar, [], [], [], [], None, None, str(exc))
    before = planned.expected.content if planned.expected is not None else None
    old, new = xmp.summary(before), xmp.summary(planned.content)
    return Change(
        path=shown(task.path),
        sidecar=shown(str(planned.path)),
        keywords_added=_missing(new.keywords, old.keywords),
        keywords_removed=_missing(old.keywords, new.keywords),
        hierarchical_added=_missing(new.hierarchical, old.hierarchical),
        hierarchical_removed=_missing(old.hierarchical, new.hierarchical),
        description_added=new.description if new.description != old.description else None,
        description_removed=old.description
        if old.description and new.description != old.description
        else None,
    )


def _missing(values: list[str], other: list[str]) -> list[str]:
    present = set(other)
    return [value for value in values if value not in present]


@dataclass
class Applied:
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)  # path: why (the writer logged it)


def apply(table: JobTable, config: Config, scopes: Sequence[Scope]) -> Applied:
    """Given where to apply (none: nothing), write every waiting result's sidecars now, and
    tell the photo managers configured."""
    return write_approved(table, config, table.writes.approve(scopes))


def write_approved(table: JobTable, config: Config, ids: Sequence[int]) -> Applied:
    """Given jobs this process took to write as approved (`apply`, the review page), write
    their sidecars now, as the daemon's writer does, and tell the photo managers."""
    notices = Notices.of(config)
    writer = Writer(
        table.writes, config.settings.sidecars, config.settings.api.backoff(),
        rules=config.keyword_rules, reviewed=config.reviewed, sidecars=config.sidecars_for,
        renditions=config.settings.renditions(), on_written=notices.put,
    )  # fmt: skip
    tasks = table.writes.mine(list(ids))
    try:
        writer.write(tasks)
    finally:
        writer.close()
    notices.send_now()  # what is not taken now, a running daemon sends
    states = table.reports.states(list(ids))
    report = Applied()
    for task in tasks:
        if states.get(task.job_id) == State.DONE:
            report.done.append(shown(task.path))
        else:
            report.not_done.append(shown(task.path))
    return report
