"""How the commands' reports read on a terminal: pure functions from a report to its lines
(the ``--json`` forms are the reports themselves). Kept apart from the command line so that
what a user reads is tested without running a command."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..api import catalog
from ..records import JobRow

if TYPE_CHECKING:
    from ..actions.ledger import CostLine
    from ..actions.review import Change


def estimate_lines(data: dict[str, Any]) -> Iterator[str]:
    """Given ``Estimate.as_dict()``, what it will cost, per folder, in words."""
    yield (
        f"{data['files']:,} eligible file(s): {data['done']:,} already done, "
        f"{data['cached']:,} served from the results cache, {data['to_upload']:,} to upload"
    )
    extras = [f"{data['paired']:,} RAW(s) sharing their JPEG's result"] if data["paired"] else []
    if data["copies"]:
        extras.append(f"{data['copies']:,} copies of files uploaded once, at no charge")
    if data["skipped"]:
        extras.append(f"{data['skipped']:,} that will be skipped (unreadable or unknown)")
    if data["refreshed"]:
        extras.append(f"{data['refreshed']:,} tagged before, asked of the API again (--refresh)")
    if data["untagged"]:
        extras.append(f"{data['untagged']:,} untagged by you, left alone (scan --retag)")
    if data["other_options"]:
        extras.append(
            f"{data['other_options']:,} tagged under other options, left as they are (scan --retag)"
        )
    if data["failed"]:
        extras.append(f"{data['failed']:,} that failed before (`retry` sends them again)")
    if extras:
        yield "  and " + "; ".join(extras)
    for folder in data["folders"]:
        backends = (
            "the account's default backends*" if folder["default_backends"] else "its backends"
        )
        frames = f" ({folder['images']:,} images, with videos' frames)" if (
            folder["images"] != folder["to_upload"]) else ""  # fmt: skip
        yield (
            f"  {folder['folder']}: {folder['images']:,}{frames} × "
            f"{folder['credits_per_image']} credits ({backends}) = {folder['credits']:,} credits"
        )
    yield f"cost: {data['credits']:,} credits (${data['dollars']:,.2f})"
    if data["assumes_default_backends"]:
        yield (
            "* assumes the documented defaults: " + ", ".join(catalog.DEFAULT_BACKENDS)
            + "; set api.backends to be sure of the price"
        )  # fmt: skip


def status_lines(report: dict[str, Any]) -> Iterator[str]:
    """Given ``Reports.status()``, the state of the library and of its daemons."""
    yield "  ".join(f"{state}: {n}" for state, n in report["counts"].items())
    if report["oldest_pending_seconds"] is not None:
        yield f"oldest pending: {report['oldest_pending_seconds']:.0f} s"
    spent, caps = report["credits_spent"], report.get("caps") or {}
    today = f"{spent['today']:,} today" + (
        f" (of {caps['per_day']:,} a day)" if caps.get("per_day") is not None else ""
    )
    total = f"{spent['total']:,} in all" + (
        f" (of {caps['total']:,})" if caps.get("total") is not None else ""
    )
    yield f"credits spent: {today}, {total}; {spent['last_24h']:,} in the last 24 h"
    if spent.get("open"):
        yield (
            f"  of which {spent['open']:,} for requests the API still has (the price table's "
            "estimate until charged)"
        )
    if report["last_balance"] is not None:
        yield f"last known balance: {report['last_balance']}"
    if report["paused"]:
        yield f"submissions PAUSED: {report['paused']['reason']}"
    for daemon in report["daemons"]:
        heard = daemon["last_heard_seconds"]
        alive = "running" if daemon["alive"] else "not heard from for a lease: stopped, or cut off"
        holds = (
            f"; {daemon.get('requests_in_flight', 0)} requests in flight, "
            f"{daemon.get('files_claimed', 0)} files being sent"
        )
        yield (
            f"{daemon['kind']} {daemon['host']}:{daemon['pid']} ({daemon['worker'][:6]}): "
            f"{alive} (since {daemon['since']}, last heard {heard:.0f} s ago{holds})"
        )
    if not report["daemons"]:
        yield "no daemon running"
    for error in report["recent_errors"]:
        yield f"  {error['state']}: {error['path']}: {error['error']}"
    for failure in report["backend_errors"]:
        yield f"  backend errors in request {failure['request_id']}: {failure['errors']}"
    for drift in report.get("price_drift", ()):
        said = catalog.drift(drift["options"], drift["charged"], drift["estimated"])
        yield f"price: {said} (request {drift['request_id']})"


def costs_lines(by: str, lines: Sequence[CostLine], whole: CostLine) -> Iterator[str]:
    """Given the ledger's lines and their total, a table."""
    if not lines:
        yield "no credits spent yet"
        return
    width = max(len(by), *(len(line.label) for line in lines))
    heads = f"{'requests':>8} {'files':>8} {'credits':>9} {'dollars':>10} {'per file':>8}"
    yield f"{by:{width}} {heads}"
    for line in [*lines, whole]:
        yield (
            f"{line.label:{width}} {line.requests:8,} {line.files:8,} {line.credits:9,} "
            f"{'$' + format(line.dollars, ',.2f'):>10} {line.credits_per_file:8.2f}"
        )
    if by == "folder" and any(line.requests for line in lines) and len(lines) > 1:
        yield "(a request of files from two folders is shared between them by their files)"


def costs_json(by: str, lines: Sequence[CostLine], whole: CostLine) -> dict[str, Any]:
    return {"by": by, "lines": [line.as_dict() for line in lines], "total": whole.as_dict()}


def jobs_lines(rows: Sequence[JobRow]) -> Iterator[str]:
    """Given jobs, a table with a header; names as ``records.shown`` writes them, so a
    newline in a name cannot break a row."""
    if rows:
        yield f"{'job':>6} {'state':9} {'tries':>5}  path"
    for row in rows:
        detail = f"  ({row.error})" if row.error else ""
        yield f"{row.id:6} {row.state:9} {row.attempts:5}  {row.path}{detail}"


def jobs_json(rows: Sequence[JobRow]) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "path": r.path, "state": r.state, "attempts": r.attempts,
         "error": r.error, "request_id": r.request_id}
        for r in rows
    ]  # fmt: skip


def preview_lines(changes: Sequence[Change]) -> Iterator[str]:
    """Given what applying results would change, per file, in words."""
    if not changes:
        yield "no results wait for review"
        return
    for change in changes:
        yield f"{change.path} → {change.sidecar}"
        if change.error:
            yield f"  cannot be written: {change.error}"
            continue
        added = change.hierarchical_added or change.keywords_added
        removed = change.hierarchical_removed or change.keywords_removed
        yield "  + keywords: " + (", ".join(added) if added else "(none)")
        if removed:
            yield "  - keywords: " + ", ".join(removed)
        if change.description_removed:
            yield f"  - description: {change.description_removed}"
        if change.description_added:
            yield f"  + description: {change.description_added}"
    yield f"{len(changes)} file(s) wait for review: `apply PATH…` or `apply --all` writes them"
