"""What every part of the job table shares: the engine, the clock, and the filter that
narrows a query to the folders (or sub-paths) of a scan."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Engine, and_, or_, true

from ..records import Clock, Scope, utcnow
from .schema import Job


class TablePart:
    """One idea of the job table (the queue, the requests, …) over a shared engine. Each
    public method is one transaction."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock


def in_scopes(scopes: Sequence[Scope]) -> ColumnElement[bool]:
    """Given the scopes of a scan (none: everything), the jobs inside them."""
    if not scopes:
        return true()
    return or_(*(_in_scope(scope) for scope in scopes))


def _in_scope(scope: Scope) -> ColumnElement[bool]:
    if not scope.prefix:
        return Job.folder == scope.folder
    prefix = scope.prefix.rstrip("/")
    below = and_(Job.relpath >= f"{prefix}/", Job.relpath < f"{prefix}0")  # "0" follows "/"
    return and_(Job.folder == scope.folder, or_(Job.relpath == prefix, below))
